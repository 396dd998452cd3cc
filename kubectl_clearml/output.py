"""One renderer for every read command: table, wide, json, yaml and name from the same view model.

A command builds a :class:`View` (a list of plain dicts plus the columns to show) and calls
:func:`render`. JSON and YAML print the full items (or ``document`` when the command has a richer
structure than a list); tables print the chosen columns in kubectl's style (upper-case headers,
columns separated by three spaces, no borders).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from kubectl_clearml.core.terminal import escape_terminal

OUTPUT_FORMATS = ("table", "wide", "json", "yaml", "name")

Cell = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Column:
    header: str
    key: str | Cell
    wide_only: bool = False

    def cell(self, item: dict[str, Any]) -> str:
        value = self.key(item) if callable(self.key) else item.get(self.key)
        return format_cell(value)


@dataclass
class View:
    kind: str  # singular resource word, used by ``-o name`` (``queue/gpu-a100``)
    items: list[dict[str, Any]]
    columns: Sequence[Column]
    name_key: str = "name"
    document: Any = None  # what json/yaml print; defaults to {"kind": "<Kind>List", "items": [...]}
    empty_message: str = "No resources found."
    notes: list[str] = field(default_factory=list)  # printed on stderr, never mixed into data


def format_cell(value: Any) -> str:
    """One table cell: never more than one line, never a terminal control sequence (core.terminal)."""
    return escape_terminal(_cell_text(value))


def _cell_text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ",".join(_cell_text(v) for v in value) or "-"
    if isinstance(value, dict):
        return ",".join(f"{k}={_cell_text(v)}" for k, v in value.items()) or "-"
    return str(value)


def list_document(kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": kind[:1].upper() + kind[1:] + "List", "items": items}


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"


def to_yaml(data: Any) -> str:
    import yaml

    return str(
        yaml.dump(_plain(data), Dumper=_block_dumper(), sort_keys=False, default_flow_style=False, allow_unicode=True)
    )


_DUMPER: Any = None


def _block_dumper() -> Any:
    """libyaml's emitter when PyYAML has it (100,000-pod reports dump ~4x faster than with the Python one),
    with multi-line strings as literal blocks (`|`): a pod's start script reads as a script, not as one
    escaped line. PyYAML falls back to quoting where a block cannot hold the text (trailing spaces)."""
    global _DUMPER
    if _DUMPER is None:
        import yaml

        base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

        def represent_str(dumper: Any, text: str) -> Any:
            style = "|" if "\n" in text else None
            return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)

        _DUMPER = type("BlockDumper", (base,), {})
        _DUMPER.add_representer(str, represent_str)
    return _DUMPER


def _plain(data: Any) -> Any:
    # Round-trip through JSON so YAML never sees tuples, datetimes or other non-plain types.
    return json.loads(json.dumps(data, default=str))


def sort_items(items: list[dict[str, Any]], field: str | None) -> list[dict[str, Any]]:
    """Rows in the order of one field, like kubectl's --sort-by (``.pending`` or ``pending``; a dotted path
    into the item): numbers numerically, text alphabetically, rows without the field last."""
    if not field:
        return items
    path = [p for p in field.lstrip(".").replace("{", "").replace("}", "").split(".") if p]

    def value(item: dict[str, Any]) -> Any:
        current: Any = item
        for part in path:
            current = current.get(part) if isinstance(current, dict) else None
        return current

    if items and all(value(i) is None for i in items):
        from kubectl_clearml.errors import UsageError

        raise UsageError(f"--sort-by {field}: no row has this field", hint="see the item keys of -o json")

    def key(item: dict[str, Any]) -> tuple[int, Any]:
        v = value(item)
        if v is None:
            return (2, "")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return (0, v)
        return (1, str(v))

    return sorted(items, key=key)


def render_table(rows: list[list[str]], headers: list[str] | None) -> str:
    """kubectl-style table: left-aligned columns, three spaces apart, no trailing blanks."""
    all_rows = ([headers] if headers else []) + rows
    if not all_rows:
        return ""
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(all_rows[0]))]
    lines = []
    for r in all_rows:
        cells = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


TEMPLATE_FORMATS = ("custom-columns=", "jsonpath=")  # kubectl's, for views with a list of items


def _path_values(data: Any, path: str) -> list[Any]:
    """A JSONPath subset (``.items[*].name``, ``.a.b[0]``): every value the path reaches."""
    import re

    values = [data]
    for name, index in re.findall(r"\.?([^.\[\]]+)|\[(\*|-?\d+)\]", path.strip().strip("{}").lstrip("$")):
        step: list[Any] = []
        for v in values:
            if name:
                if isinstance(v, dict) and name in v:
                    step.append(v[name])
            elif isinstance(v, list):
                step.extend(v if index == "*" else v[int(index):int(index) + 1 or None])
        values = step
    return values


def render_template(view: View, fmt: str, no_headers: bool = False) -> str:
    """-o custom-columns=HEADER:.path,... (a table of those columns) or -o jsonpath={.path} (values joined
    by spaces, literal text kept), over the same document -o json prints."""
    import re

    from kubectl_clearml.errors import UsageError

    document = view.document if view.document is not None else list_document(view.kind, view.items)
    kind, _, spec = fmt.partition("=")
    if kind == "custom-columns":
        columns = [c.split(":", 1) for c in spec.split(",") if c]
        if not columns or any(len(c) != 2 for c in columns):
            raise UsageError(f"-o {fmt}: expected HEADER:.path[,HEADER:.path...]", hint="e.g. -o custom-columns=NAME:.name")
        rows = [[",".join(format_cell(v) for v in _path_values(item, path)) or "<none>" for _, path in columns]
                for item in view.items]
        return render_table(rows, None if no_headers else [h for h, _ in columns])
    parts = re.split(r"(\{[^}]*\})", spec)
    out = []
    for part in parts:
        if part.startswith("{") and part.endswith("}"):
            out.append(" ".join(v if isinstance(v, str) else json.dumps(v) for v in _path_values(document, part)))
        else:
            out.append(part.encode().decode("unicode_escape") if "\\" in part else part)
    return "".join(out)


def render(view: View, fmt: str, *, no_headers: bool = False) -> str:
    if fmt.startswith(TEMPLATE_FORMATS):
        return render_template(view, fmt, no_headers)
    if fmt == "json":
        return to_json(view.document if view.document is not None else list_document(view.kind, view.items))
    if fmt == "yaml":
        return to_yaml(view.document if view.document is not None else list_document(view.kind, view.items))
    if fmt == "name":
        return "".join(f"{view.kind}/{format_cell(item.get(view.name_key))}\n" for item in view.items)
    if fmt not in ("table", "wide"):
        raise ValueError(f"unknown output format {fmt!r}")
    columns = [c for c in view.columns if fmt == "wide" or not c.wide_only]
    rows = [[c.cell(item) for c in columns] for item in view.items]
    return render_table(rows, None if no_headers else [c.header for c in columns])


def show(view: View, fmt: str, *, no_headers: bool = False) -> None:
    """Print a view on stdout; an empty table prints nothing there and says so on stderr, as kubectl does
    ("No resources found."), so `--no-headers | wc -l` and the header-only case cannot be confused."""
    if not view.items and fmt in ("table", "wide"):
        sys.stderr.write(f"{PREFIX}: {view.empty_message}\n")
        return
    echo(render(view, fmt, no_headers=no_headers))


def use_color(stream: TextIO, no_color_flag: bool) -> bool:
    """Colour only on a TTY, never with --no-color, NO_COLOR (set and non-empty) or TERM=dumb."""
    if no_color_flag or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


ANSI = {"red": "\x1b[31m", "green": "\x1b[32m", "yellow": "\x1b[33m", "cyan": "\x1b[36m", "bold": "\x1b[1m"}
RESET = "\x1b[0m"


def paint(text: str, color: str, enabled: bool) -> str:
    return f"{ANSI[color]}{text}{RESET}" if enabled and text else text


def echo(text: str, stream: TextIO | None = None) -> None:
    (stream or sys.stdout).write(text)


PREFIX = "kubectl clearml"


def say(text: str) -> None:
    """A progress or result line on stderr (``kubectl clearml: <text>``), redacted and terminal-safe."""
    diagnostic("", text)


def note(text: str) -> None:
    """Something the user should know that is not a problem (on stderr, never mixed into data)."""
    diagnostic("note", text)


def warn(text: str) -> None:
    """Something went wrong or is missing, but the command could still do its job (on stderr)."""
    diagnostic("warning", text)


def diagnostic(kind: str, text: str) -> None:
    # Every diagnostic line has the same shape as errors (`kubectl clearml: error: ...`) and is redacted,
    # so a server message that echoes a secret cannot leak through a note.
    from kubectl_clearml.logs import redact

    label = f"{kind}: " if kind else ""
    sys.stderr.write(f"{PREFIX}: {label}{escape_terminal(redact(text))}\n")
