"""Helm values files on disk: read them, write overlays, and edit them in place keeping their look.

In-place edits go through ruamel.yaml's round-trip mode, so comments, key order, quoting and indentation
survive; only the keys an overlay sets are touched, and inside lists only the entries that change. The
original is kept next to the file as ``<file>.bak`` before it is overwritten.
"""

from __future__ import annotations

import difflib
import io
import itertools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.representer import RoundTripRepresenter

from kubectl_clearml.errors import NotFoundError, UsageError


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        raise NotFoundError("values file not found", path)
    except OSError as exc:
        raise UsageError(f"cannot read values file: {exc.strerror}", path)


def _yaml_error(exc: YAMLError, path: str) -> UsageError:
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else path
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return UsageError(f"malformed YAML: {problem}", where)


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def parse_values(text: str, path: str = "<values>") -> dict[str, Any]:
    """Plain dicts and lists from YAML text; an empty document is ``{}``."""
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise _yaml_error(exc, path)
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise UsageError("a values file must be a YAML mapping", path)
    return dict(_plain(data))


def load_values(path: str) -> dict[str, Any]:
    return parse_values(_read(path), path)


def dump_plain(data: Any) -> str:
    """Block-style YAML for overlays: keys in insertion order, no aliases, no tags."""
    yaml = YAML()
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(_commented(_plain(data)), out)
    return out.getvalue()


# ---- round-trip editing ------------------------------------------------------------------------------


def _commented(value: Any) -> Any:
    """Plain data as ruamel nodes, block style, so new entries look like the rest of a block file."""
    if isinstance(value, Mapping):
        node = CommentedMap()
        for k, v in value.items():
            node[k] = _commented(v)
        node.fa.set_block_style()
        return node
    if isinstance(value, list):
        seq = CommentedSeq(_commented(v) for v in value)
        seq.fa.set_block_style()
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
            old[key] = _sync(old[key], value) if key in old else _commented(value)
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, list):
        return _sync_seq(old, new)
    if _same_scalar(old, new):
        return old  # keeps quoting and number style
    return _commented(new)


def _same_scalar(old: Any, new: Any) -> bool:
    if isinstance(new, (Mapping, list)) or isinstance(old, (Mapping, list)):
        return False
    if isinstance(old, bool) or isinstance(new, bool):  # True == 1 in Python, not in YAML
        return isinstance(old, bool) and isinstance(new, bool) and old == new
    return bool(old == new) and isinstance(old, str) == isinstance(new, str)


def _sync_seq(old: CommentedSeq, new: list[Any]) -> Any:
    """Edit ``old`` into ``new`` when that is drops, in-place updates and appends (what shm-fix does);
    otherwise (a reordering) return a fresh list: correct first, pretty second."""
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
        return _commented(new)
    for index in sorted(set(range(len(old))) - used, reverse=True):
        _pop_keeping_trailing_comment(old, index)
    for position, index in enumerate(kept):  # after the drops, kept entries sit at 0..len(kept)-1
        old[position] = _sync(old[position], new[position])
        del index
    if not old and new:
        old.fa.set_block_style()
    for item in new[len(kept):]:
        _append_keeping_trailing_comment(old, _commented(item))
    return old


def _pop_keeping_trailing_comment(seq: CommentedSeq, index: int) -> None:
    comment = seq.ca.items.pop(index, None)
    del seq[index]
    # ruamel does not shift comment positions on deletion: do it, and let the previous entry inherit the
    # trailing comment (often the blank line and comments before the next key).
    shifted = {(i - 1 if i > index else i): c for i, c in seq.ca.items.items()}
    seq.ca.items.clear()
    seq.ca.items.update(shifted)
    if comment is not None and index == len(seq) and index > 0:
        seq.ca.items.setdefault(index - 1, comment)


def _append_keeping_trailing_comment(seq: CommentedSeq, item: Any) -> None:
    """Append so that comments after the list (attached to its last entry by ruamel) stay after it."""
    last = len(seq) - 1
    trailing = seq.ca.items.pop(last, None) if last >= 0 else None
    moved = _last_map_comment(seq[last]) if last >= 0 and isinstance(seq[last], CommentedMap) else None
    seq.append(item)
    if trailing is not None:
        seq.ca.items[len(seq) - 1] = trailing
    if moved is not None and isinstance(item, CommentedMap):
        item.ca.items[list(item)[-1]] = moved


def _last_map_comment(node: CommentedMap) -> Any:
    """Detach the comment after a map's last value (the text that follows the whole list), if any."""
    if not node:
        return None
    last_key = list(node)[-1]
    value = node[last_key]
    if isinstance(value, CommentedMap):
        return _last_map_comment(value)
    if isinstance(value, CommentedSeq):
        return None
    entry = node.ca.items.get(last_key)
    if not entry or len(entry) < 3 or entry[2] is None:
        return None
    token = entry[2]
    text = getattr(token, "value", "")
    if "\n" not in text.rstrip("\n") and not text.startswith("\n") and text.count("\n") <= 1:
        return None  # just an end-of-line comment: it belongs to that entry
    node.ca.items.pop(last_key)
    # keep the end-of-line part on the old entry, move the rest
    first, _, rest = text.partition("\n")
    if first.strip():
        from ruamel.yaml.tokens import CommentToken

        node.ca.items[last_key] = [None, None, CommentToken(first + "\n", token.start_mark), None]
        token.value = rest
    return entry


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


class _NullWordRepresenter(RoundTripRepresenter):
    def represent_none(self, data: Any) -> Any:
        return self.represent_scalar("tag:yaml.org,2002:null", "null")


_NullWordRepresenter.add_representer(type(None), _NullWordRepresenter.represent_none)


def _round_trip_yaml(text: str, path: str) -> tuple[YAML, Any]:
    mapping_indent, offset = guess_indent(text)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=mapping_indent, sequence=offset + 2, offset=offset)
    if _NULL_WORD.search(text):
        # ruamel writes null as nothing (`key:`); keep the file's spelling (Helm renders `null`).
        yaml.Representer = _NullWordRepresenter
    try:
        return yaml, yaml.load(text)
    except YAMLError as exc:
        raise _yaml_error(exc, path)


def apply_overlay_text(text: str, overlay: Mapping[str, Any], path: str = "<values>") -> str:
    """``text`` with ``overlay`` merged in Helm's way (maps merge, lists replace), keeping its formatting."""
    yaml, data = _round_trip_yaml(text, path)
    if data is None:
        if not overlay:
            return text
        out = io.StringIO()
        yaml.dump(_commented(dict(overlay)), out)
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
    return json.dumps(_plain(data), default=str)


def _merge_into(node: CommentedMap, overlay: Mapping[str, Any]) -> None:
    for key, value in overlay.items():
        current = node.get(key)
        if isinstance(value, Mapping) and isinstance(current, CommentedMap):
            _merge_into(current, value)
        elif key in node:
            node[key] = _sync(current, value)
        else:
            node[key] = _commented(value)


@dataclass(frozen=True)
class FileEdit:
    path: str
    before: str
    after: str
    backup: str | None  # where the original was kept, when written

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"a/{self.path}",
                tofile=f"b/{self.path}",
            )
        )


def edit_in_place(path: str, overlay: Mapping[str, Any], *, write: bool = True) -> FileEdit:
    """Merge ``overlay`` into the file; keep ``<path>.bak``. Nothing is written when nothing changes."""
    before = _read(path)
    after = apply_overlay_text(before, overlay, path)
    if after == before or not write:
        return FileEdit(path, before, after, None)
    backup = path + ".bak"
    try:
        write_text(backup, before)
        write_text(path, after)
    except OSError as exc:
        raise UsageError(f"cannot write values file: {exc.strerror}", exc.filename or path)
    return FileEdit(path, before, after, backup)


def write_text(path: str, text: str) -> None:
    """Write through a temporary file and rename, so a crash never leaves half a file."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else None
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, path)
