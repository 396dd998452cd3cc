"""Round-trip YAML editing: merge a Helm overlay into YAML text and keep how the text looks.

Maps merge and lists replace, as Helm does, but through ruamel.yaml's round-trip nodes, so comments, key
order, quoting and indentation survive; inside lists only the entries that change are touched (drops,
in-place updates and appends: what shm-fix does), and comments that follow a list stay after it.
Anything else (a reordered list) is written fresh: correct first, pretty second.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.tokens import CommentToken

from kubectl_clearml.errors import UsageError


def yaml_error(exc: Exception, path: str) -> UsageError:
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else path
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return UsageError(f"malformed YAML: {problem}", where)


def plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


def commented(value: Any) -> Any:
    """Plain data as ruamel nodes, block style, so new entries look like the rest of a block file."""
    if isinstance(value, Mapping):
        node = CommentedMap()
        for k, v in value.items():
            node[k] = commented(v)
        # an empty block collection has no text at all: ruamel would emit `{}` on the next line
        node.fa.set_block_style() if node else node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        seq = CommentedSeq(commented(v) for v in value)
        seq.fa.set_block_style() if seq else seq.fa.set_flow_style()
        return seq
    return value


def _identity(item: Any) -> Any:
    if isinstance(item, Mapping):
        return ("map", item.get("name"), item.get("mountPath"))
    return ("scalar", repr(item))


def _sync(old: Any, new: Any) -> Any:
    """``new``'s content, reusing ``old``'s nodes (and so their comments and style) wherever they agree."""
    if isinstance(old, CommentedMap) and isinstance(new, Mapping):
        for key in [k for k in old if k not in new]:
            del old[key]
        for key, value in new.items():
            old[key] = _sync(old[key], value) if key in old else commented(value)
            _settle_key_comments(old, key)
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, list):
        return _sync_seq(old, new)
    if _same_scalar(old, new):
        return old  # keeps quoting and number style
    return commented(new)


def _same_scalar(old: Any, new: Any) -> bool:
    if isinstance(new, (Mapping, list)) or isinstance(old, (Mapping, list)):
        return False
    if isinstance(old, bool) or isinstance(new, bool):  # True == 1 in Python, not in YAML
        return isinstance(old, bool) and isinstance(new, bool) and old == new
    return bool(old == new) and isinstance(old, str) == isinstance(new, str)


def _sync_seq(old: CommentedSeq, new: list[Any]) -> Any:
    """Edit ``old`` into ``new`` when that is drops, in-place updates and appends (what shm-fix does);
    otherwise (a reordering) return a fresh list: correct first, pretty second."""
    if not new:
        return commented(new)  # `[]`: nothing of the old block can be kept
    used: set[int] = set()
    matched: list[int | None] = []
    for item in new:
        index = next((i for i, o in enumerate(old) if i not in used and _identity(o) == _identity(item)), None)
        if index is not None:
            used.add(index)
        matched.append(index)
    kept = [i for i in matched if i is not None]
    first_new = next((n for n, i in enumerate(matched) if i is None), len(matched))
    if kept != sorted(kept) or any(i is not None for i in matched[first_new:]):
        return commented(new)
    for index in sorted(set(range(len(old))) - used, reverse=True):
        _pop_keeping_trailing_comment(old, index)
    for position, index in enumerate(kept):  # after the drops, kept entries sit at 0..len(kept)-1
        old[position] = _sync(old[position], new[position])
        del index
    if not old and new:
        old.fa.set_block_style()
    for item in new[len(kept):]:
        _append_keeping_trailing_comment(old, commented(item))
    return old


def _pop_keeping_trailing_comment(seq: CommentedSeq, index: int) -> None:
    last = index == len(seq) - 1
    comment = seq.ca.items.pop(index, None)
    moved = _last_map_comment(seq[index]) if last and isinstance(seq[index], CommentedMap) else None
    del seq[index]
    # ruamel does not shift comment positions on deletion: do it, and let the previous entry inherit the
    # trailing comment (often the blank line and comments before the next key).
    shifted = {(i - 1 if i > index else i): c for i, c in seq.ca.items.items()}
    seq.ca.items.clear()
    seq.ca.items.update(shifted)
    if last and seq:
        if comment is not None:
            seq.ca.items.setdefault(index - 1, comment)
        if moved is not None and isinstance(seq[-1], CommentedMap):
            _attach_trailing(seq[-1], moved)


def _append_keeping_trailing_comment(seq: CommentedSeq, item: Any) -> None:
    """Append so that comments after the list (attached to its last entry by ruamel) stay after it."""
    last = len(seq) - 1
    trailing = seq.ca.items.pop(last, None) if last >= 0 else None
    moved = _last_map_comment(seq[last]) if last >= 0 and isinstance(seq[last], CommentedMap) else None
    seq.append(item)
    if trailing is not None:
        seq.ca.items[len(seq) - 1] = trailing
    if moved is not None and isinstance(item, CommentedMap):
        _attach_trailing(item, moved)


def _attach_trailing(node: CommentedMap, entry: Any) -> None:
    """Put a comment after a map's last scalar, descending into trailing nested maps."""
    if not node:
        return
    last_key = list(node)[-1]
    value = node[last_key]
    if isinstance(value, CommentedMap) and value:
        _attach_trailing(value, entry)
    else:
        node.ca.items[last_key] = entry


def _last_map_comment(node: CommentedMap) -> Any:
    """Detach the comment lines after a map's last scalar (the text that follows the whole block)."""
    if not node:
        return None
    last_key = list(node)[-1]
    value = node[last_key]
    if isinstance(value, CommentedMap) and value:
        return _last_map_comment(value)
    if isinstance(value, CommentedSeq) and value:
        return None
    return _detach_following(node, last_key)


def _detach_following(node: CommentedMap, key: Any) -> Any:
    """Split the comment after ``node[key]``: its end-of-line part stays, the lines after it are returned
    (as a comment entry starting on a new line), or None when there are none."""
    entry = node.ca.items.get(key)
    if not entry or len(entry) < 3 or entry[2] is None:
        return None
    token = entry[2]
    first, _, rest = str(getattr(token, "value", "")).partition("\n")
    if not rest:
        return None  # just an end-of-line comment: it belongs to that entry
    if first.strip():
        token.value = first + "\n"
    else:
        node.ca.items.pop(key)
    return [None, None, CommentToken("\n" + rest, token.start_mark, None), None]


def guess_indent(text: str) -> tuple[int, int]:
    """(mapping indent, dash offset) as the file uses them; (2, 0) when it has no nesting to learn from.

    ruamel's own guess reads the sequence indent as the mapping indent when lists are indented under
    their key (``- `` at +2), which would re-indent every map in such a file.
    """
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    mapping: int | None = None
    offset: int | None = None
    for prev, line in itertools.pairwise(lines):
        if not prev.rstrip().endswith(":"):
            continue
        parent = len(prev) - len(prev.lstrip(" "))
        parent += 2 if prev.lstrip().startswith("- ") else 0
        child = len(line) - len(line.lstrip(" "))
        if child <= parent:
            continue
        if line.lstrip().startswith("- "):
            offset = child - parent if offset is None else offset
        elif mapping is None:
            mapping = child - parent
    return mapping or 2, offset or 0


_NULL_WORD = re.compile(r"^[^#\n]*:[ \t]+null[ \t]*(#.*)?$", re.MULTILINE)


# Helm reads values with YAML 1.1 rules, where a bare yes/no/on/off/y/n is a boolean; ruamel writes YAML 1.2,
# where they are plain strings. Quote such strings so Helm (and PyYAML) read back the string we wrote.
_YAML11_AMBIGUOUS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", ""})


class HelmSafeRepresenter(RoundTripRepresenter):
    def represent_str(self, data: Any) -> Any:
        if isinstance(data, str) and data.lower() in _YAML11_AMBIGUOUS:
            return self.represent_scalar("tag:yaml.org,2002:str", data, style='"')
        return super().represent_str(data)


HelmSafeRepresenter.add_representer(str, HelmSafeRepresenter.represent_str)


class _NullWordRepresenter(HelmSafeRepresenter):
    def represent_none(self, data: Any) -> Any:
        return self.represent_scalar("tag:yaml.org,2002:null", "null")


_NullWordRepresenter.add_representer(type(None), _NullWordRepresenter.represent_none)


def _round_trip_yaml(text: str, path: str) -> tuple[YAML, Any]:
    mapping_indent, offset = guess_indent(text)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=mapping_indent, sequence=offset + 2, offset=offset)
    yaml.Representer = HelmSafeRepresenter
    if _NULL_WORD.search(text):
        # ruamel writes null as nothing (`key:`); keep the file's spelling (Helm renders `null`).
        yaml.Representer = _NullWordRepresenter
    try:
        return yaml, yaml.load(text)
    except YAMLError as exc:
        raise yaml_error(exc, path)


def apply_overlay_text(text: str, overlay: Mapping[str, Any], path: str = "<values>") -> str:
    """``text`` with ``overlay`` merged in Helm's way (maps merge, lists replace), keeping its formatting."""
    yaml, data = _round_trip_yaml(text, path)
    if data is None:
        if not overlay:
            return text
        out = io.StringIO()
        yaml.dump(commented(dict(overlay)), out)
        return text + ("" if not text or text.endswith("\n") else "\n") + out.getvalue()
    if not isinstance(data, CommentedMap):
        raise UsageError("a values file must be a YAML mapping", path)
    before = _canonical(data)
    _merge_into(data, overlay)
    if _canonical(data) == before:
        return text  # nothing to change: keep the bytes, not ruamel's re-rendering of them
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _canonical(data: Any) -> str:
    # JSON tells true from 1 and 1.0 from 1, which Python's == does not.
    return json.dumps(plain(data), default=str)


def _settle_key_comments(node: CommentedMap, key: Any) -> None:
    """Comments between a key and its block value are only valid before a block: if the new value is a
    scalar or a flow collection (``[]``), move them after it, where they cannot break the document."""
    value = node.get(key)
    if isinstance(value, (CommentedMap, CommentedSeq)) and value and not value.fa.flow_style():
        return
    entry = node.ca.items.get(key)
    if not entry or len(entry) < 4 or not entry[3]:
        return
    tokens = [tok for tok in entry[3] if tok is not None]
    moved = "".join(str(getattr(tok, "value", "")) for tok in tokens)
    entry[3] = None
    if not moved:
        return
    if entry[2] is not None:
        entry[2].value = str(entry[2].value).rstrip("\n") + "\n" + moved
    else:
        entry[2] = CommentToken("\n" + moved, tokens[0].start_mark, None)


def _put_after_block(node: CommentedMap, key: Any, entry: Any) -> None:
    """Comments that followed a one-line value (``volumes: []``) go after the block that replaced it."""
    block = node[key]
    last = block[-1] if isinstance(block, CommentedSeq) and block else block
    if isinstance(last, CommentedMap) and last:
        _attach_trailing(last, entry)
    else:
        node.ca.items[key] = entry


def _merge_into(node: CommentedMap, overlay: Mapping[str, Any]) -> None:
    for key, value in overlay.items():
        current = node.get(key)
        if isinstance(value, Mapping) and isinstance(current, CommentedMap):
            _merge_into(current, value)
        elif key in node:
            grows = isinstance(value, (Mapping, list)) and bool(value) and not (
                isinstance(current, (CommentedMap, CommentedSeq)) and current
            )
            following = _detach_following(node, key) if grows else None
            node[key] = _sync(current, value)
            _settle_key_comments(node, key)
            if following is not None:
                _put_after_block(node, key, following)
        else:
            node[key] = commented(value)
