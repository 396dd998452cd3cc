"""YAML that other people wrote, read within bounds: the one loader for values files, stdin, the live
template ConfigMap and the Helm release.

Values files and template ConfigMaps come from a teammate, a chart, or whoever can edit the agent's
ConfigMap; reading one must not hang the plugin, eat the machine or crash it. So before anything is built:

- the input is at most ``MAX_INPUT_BYTES`` (checked by the reader before parsing: adapters read up to it);
- bytes are decoded as YAML does (UTF-8, UTF-16 or UTF-32, told by a byte order mark or by the zero bytes
  around the first ASCII character, YAML 1.2 section 5.2), else the error names the byte offset;
- one pass over the parser's events (libyaml, no nodes built, constant memory) counts the nodes the
  document stands for with every alias expanded, refuses more than ``MAX_NODES`` (a "billion laughs" of
  nested anchors is a few hundred bytes that expand to 10^9 nodes, and ``<<`` merge keys copy them), refuses
  an alias inside the node it names (``&a [*a]``: a cycle, which every recursive walk after loading would
  follow forever) and nesting deeper than ``MAX_DEPTH``;
- only then is the text loaded (PyYAML's libyaml loader when present).

``check_tree`` gives JSON the same bounds (the Helm release is JSON: no aliases, but depth and size), and
``check_template_work`` bounds what Helm's semantics multiply: every queue gets the whole base template.
Syntax errors stay ``yaml.YAMLError`` so each caller keeps its wording; the bounds raise ``InputLimitError``.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Mapping
from typing import Any

from kubectl_clearml.errors import UsageError

# A real values file with 200 queues is ~300 KB and ~10,000 nodes; these leave a 5x margin and keep the
# worst accepted document under a second and 50 MB (measured: 50,000 nodes, diff-template --all 0.8 s,
# 47 MB peak; at 200,000 the pure-Python YAML dumper made it 22 s).
MAX_INPUT_BYTES = 10 * 1024 * 1024
MAX_NODES = 50_000
MAX_DEPTH = 100
# 500 queues over a 100-node base (a big install) are 50,000 template nodes; at 150,000 diff-template --all
# takes ~2 s (~5 s with this 2-core machine at load 7).
MAX_TEMPLATE_NODES = 150_000


class InputLimitError(UsageError):
    """Input refused before it is built: too big, not decodable, an alias bomb, a cycle, too deep."""


def size_error(source: str, limit: int = MAX_INPUT_BYTES) -> InputLimitError:
    return InputLimitError(
        f"input larger than {limit // (1024 * 1024)} MiB", source, "values and templates are read up to that size"
    )


_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)


def detect_encoding(data: bytes) -> tuple[str, int]:
    """(codec, BOM length) the way YAML 1.2 section 5.2 tells them apart; UTF-8 when nothing says otherwise."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec, len(bom)
    head = data[:4]
    if len(head) == 4 and head[:3] == b"\0\0\0" and head[3]:
        return "utf-32-be", 0
    if len(head) == 4 and head[0] and head[1:] == b"\0\0\0":
        return "utf-32-le", 0
    if len(head) >= 2 and not head[0] and head[1]:
        return "utf-16-be", 0
    if len(head) >= 2 and head[0] and not head[1]:
        return "utf-16-le", 0
    return "utf-8", 0


def decode(data: bytes, source: str) -> str:
    """Text of a YAML input; an undecodable one names the byte offset (a binary or Latin-1 file)."""
    if len(data) > MAX_INPUT_BYTES:
        raise size_error(source)
    codec, skip = detect_encoding(data)
    try:
        return data[skip:].decode(codec)
    except UnicodeDecodeError as exc:
        name = codec.upper().replace("-BE", " BE").replace("-LE", " LE")
        told = "" if skip or codec == "utf-8" else " (as its zero bytes at the start suggest)"
        raise InputLimitError(
            f"not valid {name} text{told} at byte {exc.start + skip}",
            source,
            "values files are UTF-8 (or UTF-16/32 with a byte order mark): re-save it as UTF-8, or is it binary?",
        ) from None


def check_text(text: str, source: str) -> None:
    """Size and encodability of text that came as a string (a ConfigMap's data, JSON from the API)."""
    if len(text) > MAX_INPUT_BYTES:
        raise size_error(source)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate from a JSON escape such as "\ud800"
        raise InputLimitError(f"not valid Unicode at character {exc.start}", source) from None


def check_events(text: str, source: str) -> None:
    """Refuse alias bombs, alias cycles and deep nesting from the event stream, building no nodes."""
    import yaml

    total = 0
    depth = 0
    open_anchors: list[tuple[str | None, int]] = []  # (anchor, total when the collection started)
    sizes: dict[str, int] = {}
    for event in _events(text, source):
        kind = type(event)
        if kind is yaml.ScalarEvent:
            total += 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif kind is yaml.AliasEvent:
            if any(anchor == event.anchor for anchor, _ in open_anchors):
                raise InputLimitError(
                    f"YAML alias *{event.anchor} refers to a node that contains it (a cycle)",
                    _where(source, event),
                    "replace the alias with a copy of what it should hold",
                )
            total += sizes.get(event.anchor, 1)  # an undefined alias: the loader reports it
        elif kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
            total += 1
            depth += 1
            if depth > MAX_DEPTH:
                raise InputLimitError(f"YAML nesting too deep (over {MAX_DEPTH} levels)", _where(source, event))
            open_anchors.append((event.anchor, total - 1))
        elif kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
            depth -= 1
            anchor, start = open_anchors.pop()
            if anchor is not None:
                sizes[anchor] = total - start
        elif kind is yaml.DocumentStartEvent:
            sizes.clear()  # anchors belong to one document
        if total > MAX_NODES:
            raise InputLimitError(
                f"YAML document too large: more than {MAX_NODES:,} nodes with its aliases expanded"
                " (an alias bomb?)",
                _where(source, event),
                "expand the anchors (&name / *name / <<:) by hand or split the file",
            )


def _events(text: str, source: str) -> Iterator[Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        while loader.check_event():
            yield loader.get_event()
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):  # libyaml's own bound (1,000 flow levels) met first
            raise InputLimitError(f"YAML nesting too deep (over {MAX_DEPTH} levels)", source) from None
        raise
    finally:
        loader.dispose()


def _where(source: str, event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return f"{source}:{mark.line + 1}" if mark is not None else source


def load(data: bytes | str, source: str) -> Any:
    """One YAML document from ``data`` within the bounds above (``None`` for an empty one)."""
    import yaml

    text = _checked(data, source)
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_all(data: bytes | str, source: str) -> list[Any]:
    """Every document of a stream (a Helm manifest), within the same bounds over the whole stream."""
    import yaml

    text = _checked(data, source)
    return list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


def _checked(data: bytes | str, source: str) -> str:
    if isinstance(data, bytes):
        text = decode(data, source)
    else:
        check_text(data, source)
        text = data
    check_events(text, source)
    return text


def check_tree(data: Any, source: str) -> None:
    """The node and depth bounds for data that did not come through ``load`` (JSON), without recursion."""
    tree_size(data, source)


def tree_size(data: Any, source: str = "document") -> int:
    """Nodes in plain data (a mapping entry counts once), refusing the bounds above on the way."""
    count = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise InputLimitError(f"document too large: more than {MAX_NODES:,} nodes", source)
        if isinstance(node, Mapping | list):
            if depth > MAX_DEPTH:
                raise InputLimitError(f"nesting too deep (over {MAX_DEPTH} levels)", source)
            children = node.values() if isinstance(node, Mapping) else node
            stack.extend((child, depth + 1) for child in children)
    return count


def check_template_work(base: Any, queues: int, source: str) -> None:
    """Every queue's effective template is the base with its overrides merged in, so ``queues`` x the base's
    size is what each command builds (and diff-template --all prints): 12,000 one-line queues over a
    25,000-node base are 3 * 10^8 nodes from a file inside every bound above."""
    work = queues * tree_size(base, source)
    if work > MAX_TEMPLATE_NODES:
        raise InputLimitError(
            f"{queues:,} queues x a {work // max(queues, 1):,}-node agentk8sglue.basePodTemplate make {work:,} template nodes, "
            f"over {MAX_TEMPLATE_NODES:,}",
            source,
            "split the queues over several releases, or move what only some queues need into their overrides",
        )
