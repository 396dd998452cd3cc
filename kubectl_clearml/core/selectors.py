"""Kubernetes label and field selectors: parsing and matching, as pure functions.

Label selectors follow k8s.io/apimachinery ``labels.Parse``: comma-separated requirements ``k=v``,
``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists), ``!k`` (does not exist), ``k>1``
and ``k<1``. ``!=`` and ``notin`` also match objects without the label. Field selectors follow
``fields.ParseSelector``: ``path=v``, ``path==v``, ``path!=v`` joined by commas, with ``\\`` escapes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_KEY_RE = re.compile(rf"^({_PREFIX}/)?{_NAME}$")
_VALUE_RE = re.compile(rf"^({_NAME})?$")
_TOKEN_RE = re.compile(r"\s*(\(|\)|,|!=|==|=|!|>|<|[^\s(),!=<>]+)")


class SelectorError(ValueError):
    """A selector that does not parse, or names a field that cannot be selected on."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "in", "notin", "exists", "!", "gt", "lt" ("=" and "==" are "in"; "!=" is "notin")
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator == "notin":
            return not present or labels[self.key] not in self.values
        if not present:
            return False
        value = labels[self.key]
        if self.operator == "in":
            return value in self.values
        try:
            number = int(value)
        except ValueError:
            return False
        bound = int(self.values[0])
        return number > bound if self.operator == "gt" else number < bound


LabelSelector = tuple[Requirement, ...]


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a label selector; the empty selector (``""`` or None) matches everything."""
    tokens = _tokenize(text or "")
    requirements: list[Requirement] = []
    position = 0
    while position < len(tokens):
        requirement, position = _parse_requirement(tokens, position, text or "")
        requirements.append(requirement)
        if position < len(tokens):
            if tokens[position] != ",":
                raise SelectorError(f"unable to parse requirement: found '{tokens[position]}', expected: ','")
            position += 1
            if position == len(tokens):
                raise SelectorError("unable to parse requirement: found '', expected: identifier")
    return tuple(requirements)


def labels_match(selector: LabelSelector, labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(requirement.matches(labels) for requirement in selector)


def match_labels_selector(selector: Mapping[str, Any] | None) -> LabelSelector:
    """Convert an object's ``{matchLabels, matchExpressions}`` selector into requirements."""
    selector = selector or {}
    requirements = [Requirement(_check_key(k), "in", (_check_value(str(v)),))
                    for k, v in (selector.get("matchLabels") or {}).items()]
    operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expression in selector.get("matchExpressions") or []:
        operator = operators.get(expression.get("operator", ""))
        if operator is None:
            raise SelectorError(f"{expression.get('operator')!r} is not a valid label selector operator")
        values = tuple(str(v) for v in expression.get("values") or ())
        requirements.append(Requirement(_check_key(str(expression.get("key", ""))), operator, values))
    return tuple(requirements)


def format_label_selector(selector: LabelSelector) -> str:
    """The canonical text of a selector (what ``Scale.status.selector`` carries)."""
    parts = []
    for r in selector:
        if r.operator == "exists":
            parts.append(r.key)
        elif r.operator == "!":
            parts.append(f"!{r.key}")
        elif r.operator == "in" and len(r.values) == 1:
            parts.append(f"{r.key}={r.values[0]}")
        elif r.operator in ("gt", "lt"):
            parts.append(f"{r.key}{'>' if r.operator == 'gt' else '<'}{r.values[0]}")
        else:
            parts.append(f"{r.key} {r.operator} ({','.join(sorted(r.values))})")
    return ",".join(parts)


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        found = _TOKEN_RE.match(text, position)
        if not found:  # pragma: no cover - the pattern accepts every non-space character
            raise SelectorError(f"unable to parse requirement: {text[position:]!r}")
        tokens.append(found.group(1))
        position = found.end()
    return tokens


def _parse_requirement(tokens: list[str], position: int, text: str) -> tuple[Requirement, int]:
    if tokens[position] == "!":
        if position + 1 >= len(tokens):
            raise SelectorError("unable to parse requirement: found '', expected: identifier")
        return Requirement(_check_key(tokens[position + 1]), "!"), position + 2
    key = _check_key(tokens[position])
    position += 1
    if position >= len(tokens) or tokens[position] == ",":
        return Requirement(key, "exists"), position
    operator = tokens[position]
    position += 1
    if operator in ("=", "==", "!="):
        value = ""
        if position < len(tokens) and tokens[position] not in (",", "(", ")"):
            value = tokens[position]
            position += 1
        return Requirement(key, "notin" if operator == "!=" else "in", (_check_value(value),)), position
    if operator in (">", "<"):
        if position >= len(tokens) or not re.fullmatch(r"-?\d+", tokens[position]):
            raise SelectorError(f"unable to parse requirement: for 'gt', 'lt' operators, the value must be an "
                                f"integer (in {text!r})")
        return Requirement(key, "gt" if operator == ">" else "lt", (tokens[position],)), position + 1
    if operator in ("in", "notin"):
        return _parse_set(tokens, position, key, operator)
    raise SelectorError(f"unable to parse requirement: found '{operator}', expected: "
                        "in, notin, =, ==, !=, gt, lt")


def _parse_set(tokens: list[str], position: int, key: str, operator: str) -> tuple[Requirement, int]:
    if position >= len(tokens) or tokens[position] != "(":
        raise SelectorError("unable to parse requirement: found '', expected: '('")
    position += 1
    values: list[str] = []
    expect_value = True
    while position < len(tokens) and tokens[position] != ")":
        token = tokens[position]
        if token == ",":
            if expect_value:
                values.append("")
            expect_value = True
        else:
            values.append(_check_value(token))
            expect_value = False
        position += 1
    if position >= len(tokens):
        raise SelectorError("unable to parse requirement: found '', expected: ')'")
    if not values:
        raise SelectorError(f"unable to parse requirement: values: Invalid value: for '{operator}', "
                            "'notin' operators, values set can't be empty")
    return Requirement(key, operator, tuple(values)), position + 1


def _check_key(key: str) -> str:
    if len(key) > 316 or not _KEY_RE.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise SelectorError(f"unable to parse requirement: key: Invalid value: {key!r}: name part must consist "
                            "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                            "alphanumeric character")
    return key


def _check_value(value: str) -> str:
    if not _VALUE_RE.match(value):
        raise SelectorError(f"unable to parse requirement: values[0]: Invalid value: {value!r}: a valid label "
                            "must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                            "and must start and end with an alphanumeric character")
    return value


# --- field selectors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    negate: bool
    value: str


FieldSelector = tuple[FieldRequirement, ...]


def parse_field_selector(text: str | None, allowed: Callable[[str], bool] | None = None) -> FieldSelector:
    """Parse a field selector; ``allowed(field)`` False gives ``field label not supported: <field>``."""
    requirements: list[FieldRequirement] = []
    for part in _split_unescaped(text or "", ","):
        if not part.strip():
            continue
        requirement = _parse_field_term(part.strip())
        if allowed is not None and not allowed(requirement.field):
            raise SelectorError(f"field label not supported: {requirement.field}")
        requirements.append(requirement)
    return tuple(requirements)


def fields_match(selector: FieldSelector, value_of: Callable[[str], str]) -> bool:
    return all((value_of(r.field) == r.value) != r.negate for r in selector)


def field_value(obj: Mapping[str, Any], path: str, defaults: Mapping[str, str] | None = None) -> str:
    """The string value of a dotted ``path`` in ``obj`` as the apiserver's field sets render it."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return (defaults or {}).get(path, "")
        current = current[part]
    if isinstance(current, bool):
        return "true" if current else "false"
    if current is None:
        return (defaults or {}).get(path, "")
    return str(current)


def _parse_field_term(term: str) -> FieldRequirement:
    for operator in ("!=", "==", "="):
        index = _find_unescaped(term, operator)
        if index >= 0:
            field = _unescape(term[:index]).strip()
            value = _unescape(term[index + len(operator) :])
            if not field:
                break
            return FieldRequirement(field, operator == "!=", value)
    raise SelectorError(f"invalid selector: '{term}'; can't understand '{term}'")


def _find_unescaped(text: str, needle: str) -> int:
    index = 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text.startswith(needle, index):
            return index
        index += 1
    return -1


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    while True:
        index = _find_unescaped(text, separator)
        if index < 0:
            parts.append(text)
            return parts
        parts.append(text[:index])
        text = text[index + 1 :]


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)
