"""Comparing pod templates: normalisation, unified YAML diff, RFC 6902 JSON patch, a structured change list.

API (pure):

- :func:`normalise` ``(obj, secrets=()) -> obj``: drops server-side noise (``status``, ``managedFields``,
  ``resourceVersion``, ``uid``...) and masks secret values (core/secrets.py), so every output is safe.
- :func:`unified_yaml_diff` ``(a, b, from_label, to_label, context=3) -> str``: ``diff -u`` of the two objects
  dumped as YAML with sorted keys (as ``kubectl get -o yaml`` prints them); ``context < 0`` shows everything.
  Empty string when equal. :func:`colorize_diff` paints it with a caller-supplied painter.
- :func:`json_patch` ``(a, b) -> list``: the RFC 6902 operations turning ``a`` into ``b`` (jsonpatch).
- :func:`structured_changes` ``(a, b) -> list``: helm-diff's ``structured`` shape:
  ``[{path, field, change: added|removed|modified, oldValue, newValue}]``; lists of named entries
  (env, volumes, containers...) are addressed by name: ``spec.containers[0].env[name=MY_ENV]``.
- :class:`Comparison` (a named pair), :func:`structured_report` (helm-diff's structured JSON per pair) and
  :func:`summary_rows` (the ``--all`` table: what each queue changes).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kubectl_clearml.core.secrets import redact_mapping

_METADATA_NOISE = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink")
_WHOLE = 1_000_000  # "whole object" context


def normalise(obj: Any, secrets: Iterable[str] = ()) -> Any:
    data = copy.deepcopy(obj)
    if isinstance(data, dict):
        data.pop("status", None)
        meta = data.get("metadata")
        if isinstance(meta, dict):
            for key in _METADATA_NOISE:
                meta.pop(key, None)
    return redact_mapping(data, list(secrets))


def secret_strings(obj: Any) -> set[str]:
    """The strings :func:`normalise` would mask in ``obj`` (secret-looking keys, env entries named like a
    secret): what a *text* rendering of ``obj`` (a values file diff, a YAML string inside a JSON patch)
    must have masked, since masking the parsed data does not reach the text."""
    found: set[str] = set()
    _collect_masked(obj, redact_mapping(obj), found)
    return {s for s in found if len(s) >= 4}


def _collect_masked(original: Any, masked: Any, found: set[str]) -> None:
    if isinstance(original, dict) and isinstance(masked, dict):
        for key, value in original.items():
            _collect_masked(value, masked.get(key), found)
    elif isinstance(original, list) and isinstance(masked, list):
        for a, b in zip(original, masked, strict=True):
            _collect_masked(a, b, found)
    elif isinstance(original, str) and masked != original:
        found.add(original)


def to_yaml(obj: Any) -> str:
    if obj is None:
        return ""
    import yaml  # lazily: --help and completion must not pay for YAML

    # libyaml's emitter when PyYAML has it, as output.to_yaml does: diff-template --all dumps every queue's
    # template, and the Python emitter made 1,000 queues over a 220-node base take 54 s.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return str(
        yaml.dump(obj, Dumper=dumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=4096)
    )


def unified_yaml_diff(a: Any, b: Any, from_label: str, to_label: str, context: int = 3) -> str:
    return unified_text_diff(to_yaml(a), to_yaml(b), from_label, to_label, context)


def unified_text_diff(left_text: str, right_text: str, from_label: str, to_label: str, context: int = 3) -> str:
    """``unified_yaml_diff`` of texts already dumped (diff-template --all dumps the shared base once)."""
    left = left_text.splitlines(keepends=True)
    right = right_text.splitlines(keepends=True)
    lines = difflib.unified_diff(
        left, right, fromfile=from_label, tofile=to_label, n=_WHOLE if context < 0 else context
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def colorize_diff(text: str, paint: Callable[[str, str], str]) -> str:
    """Colour a unified diff: headers bold, hunks cyan, removals red, additions green."""
    out = []
    for line in text.splitlines(keepends=True):
        body, end = (line[:-1], "\n") if line.endswith("\n") else (line, "")
        if line.startswith(("---", "+++")):
            out.append(paint(body, "bold") + end)
        elif line.startswith("@@"):
            out.append(paint(body, "cyan") + end)
        elif line.startswith("-"):
            out.append(paint(body, "red") + end)
        elif line.startswith("+"):
            out.append(paint(body, "green") + end)
        else:
            out.append(line)
    return "".join(out)


def json_patch(a: Any, b: Any) -> list[dict[str, Any]]:
    import jsonpatch

    return list(jsonpatch.make_patch(a, b).patch)


def _named(items: list[Any]) -> str | None:
    """The key that names every entry of a list of maps (name, mountPath, containerPort), if any."""
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in ("name", "mountPath", "containerPort", "ip"):
        values = [i.get(key) for i in items]
        if all(v is not None for v in values) and len(set(map(str, values))) == len(values):
            return key
    return None


def _shared_key(a: list[Any], b: list[Any]) -> str | None:
    """The naming key both lists use (an empty side accepts the other's), or None."""
    ka, kb = _named(a), _named(b)
    if a and b:
        return ka if ka is not None and ka == kb else None
    return ka or kb


def structured_changes(a: Any, b: Any) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    _walk(a, b, "", changes)
    return changes


def _record(changes: list[dict[str, Any]], path: str, change: str, old: Any, new: Any) -> None:
    field = path.rsplit(".", 1)[-1] if path else ""
    changes.append({"path": path, "field": field, "change": change, "oldValue": old, "newValue": new})


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk(a: Any, b: Any, path: str, changes: list[dict[str, Any]]) -> None:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            child = _join(path, str(key))
            if key not in b:
                _record(changes, child, "removed", a[key], None)
            elif key not in a:
                _record(changes, child, "added", None, b[key])
            else:
                _walk(a[key], b[key], child, changes)
        return
    if isinstance(a, list) and isinstance(b, list):
        key = _shared_key(a, b)
        if key is not None:
            _walk_named(a, b, path, key, changes)
            return
        if len(a) == len(b):
            for index, (x, y) in enumerate(zip(a, b, strict=True)):
                _walk(x, y, f"{path}[{index}]", changes)
            return
    _record(changes, path, "modified", a, b)


def _walk_named(a: list[Any], b: list[Any], path: str, key: str, changes: list[dict[str, Any]]) -> None:
    left = {str(i[key]): i for i in a}
    right = {str(i[key]): i for i in b}
    for name in list(left) + [n for n in right if n not in left]:
        child = f"{path}[{key}={name}]"
        if name not in right:
            _record(changes, child, "removed", left[name], None)
        elif name not in left:
            _record(changes, child, "added", None, right[name])
        else:
            _walk(left[name], right[name], child, changes)


def changed_paths(a: Any, b: Any) -> list[str]:
    """Short paths of what differs, for summary tables (``metadata.labels.team``, ``...env[name=X]``)."""
    return [c["path"] for c in structured_changes(a, b)]


@dataclass(frozen=True)
class Comparison:
    """One pair of templates to compare; ``None`` on a side means the template does not exist there."""

    name: str
    left_label: str
    right_label: str
    left: Any
    right: Any

    @property
    def differs(self) -> bool:
        return bool(self.left != self.right)


def structured_report(comparisons: Iterable[Comparison]) -> list[dict[str, Any]]:
    """helm-diff's ``structured`` output, one entry per comparison."""
    report = []
    for c in comparisons:
        if c.left is None or c.right is None:
            change = "ADD" if c.left is None else "REMOVE"
        else:
            change = "MODIFY" if c.differs else "NONE"
        report.append(
            {
                "name": c.name,
                "from": c.left_label,
                "to": c.right_label,
                "changeType": change,
                "changes": structured_changes(c.left, c.right),
            }
        )
    return report


def summary_rows(comparisons: Iterable[Comparison]) -> list[list[str]]:
    """Rows for the ``--all`` table: name, number of changed paths, the paths (shortened)."""
    rows = []
    for c in comparisons:
        paths = changed_paths(c.left, c.right)
        shown = ", ".join(_short(p) for p in paths) or "-"
        rows.append([c.name, str(len(paths)), shown])
    return rows


def _short(path: str) -> str:
    for prefix, short in (("spec.containers[0].", "container."), ("metadata.", ""), ("spec.", "")):
        if path.startswith(prefix):
            return short + path[len(prefix) :]
    return path
