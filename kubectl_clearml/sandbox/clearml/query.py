"""The ``get_all`` query language shared by tasks and queues: filters, ordering, paging, projection.

Mirrors the server's Mongo query building: list filters match any value and ``-x`` excludes; tag
filters also know ``__$all``/``__$any``/``__$not``; ``name`` is a case-sensitive regex matched anywhere.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

from kubectl_clearml.sandbox.clearml import errors

SHAPING_KEYS = frozenset(
    {
        "only_fields",
        "order_by",
        "page",
        "page_size",
        "search_text",
        "_all_",
        "_any_",
        "search_hidden",
        "scroll_id",
        "refresh_scroll",
        "size",
        "include_subprojects",
        "max_task_entries",
        "method",
        "allow_public",
    }
)
SCALAR_FILTERS = ("id", "user", "project", "type", "status", "parent", "company", "execution.queue", "last_worker")
TAG_FILTERS = ("tags", "system_tags")
DATE_FILTERS = ("status_changed", "created", "last_update", "last_change", "started", "completed")


def get_path(doc: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)
    return doc


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise errors.validation_error(f"invalid regular expression: {exc}") from None


def _scalar_matches(value: Any, spec: list[Any]) -> bool:
    includes = [s for s in spec if not (isinstance(s, str) and s.startswith("-"))]
    excludes = [s[1:] for s in spec if isinstance(s, str) and s.startswith("-")]
    if includes and value not in includes:
        return False
    return value not in excludes


def tags_match(values: Iterable[str], spec: list[Any]) -> bool:
    have = set(values or ())
    any_of: list[str] = []
    all_of: list[str] = []
    none_of: list[str] = []
    mode, negate = "any", False
    for term in spec:
        if term in ("__$all", "__$any"):
            mode = term[3:]
            continue
        if term == "__$not":
            negate = True
            continue
        term = str(term)
        if term.startswith("-"):
            negate, term = True, term[1:]
        (none_of if negate else all_of if mode == "all" else any_of).append(term)
        negate = False
    if any_of and not have.intersection(any_of):
        return False
    if not have.issuperset(all_of):
        return False
    return not have.intersection(none_of)


def _date_matches(value: Any, spec: list[Any]) -> bool:
    for cond in spec:
        text = str(cond)
        for op in (">=", "<=", ">", "<"):
            if text.startswith(op):
                bound = text[len(op) :]
                if value is None:
                    return False
                v = str(value)
                ok = {">=": v >= bound, "<=": v <= bound, ">": v > bound, "<": v < bound}[op]
                if not ok:
                    return False
                break
    return True


def _flatten_filters(payload: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in payload.items():
        if key in SHAPING_KEYS:
            continue
        if isinstance(value, dict) and key in ("execution", "script", "container"):
            for sub, subvalue in value.items():
                flat[f"{key}.{sub}"] = subvalue
        else:
            flat[key] = value
    return flat


def matches(doc: dict[str, Any], payload: dict[str, Any], filters: dict[str, Any] | None = None) -> bool:
    filters = _flatten_filters(payload) if filters is None else filters
    for key, spec in filters.items():
        if key == "name":
            if spec is not None and not _regex(str(spec)).search(str(doc.get("name", ""))):
                return False
        elif key in TAG_FILTERS:
            if spec is not None and not tags_match(doc.get(key) or [], as_list(spec)):
                return False
        elif key in DATE_FILTERS:
            if spec is not None and not _date_matches(doc.get(key), as_list(spec)):
                return False
        elif key in SCALAR_FILTERS and spec is not None and not _scalar_matches(get_path(doc, key), as_list(spec)):
            return False
    text = payload.get("search_text")
    if text:
        needle = str(text).lower()
        if not any(needle in str(doc.get(f, "")).lower() for f in ("id", "name", "comment")):
            return False
    for key, combine in (("_all_", all), ("_any_", any)):
        spec = payload.get(key)
        if isinstance(spec, dict) and spec.get("pattern") is not None:
            pattern = _regex(str(spec["pattern"]))
            fields = as_list(spec.get("fields")) or ["name", "id"]
            if not combine(pattern.search(str(get_path(doc, f) or "")) for f in fields):
                return False
    return True


def _sort_key(doc: dict[str, Any], field: str) -> tuple[int, Any]:
    value = get_path(doc, field)
    if value is None:
        return (0, "")
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value))


def order(docs: list[dict[str, Any]], order_by: Any) -> list[dict[str, Any]]:
    for field in reversed([str(f) for f in as_list(order_by) if f]):
        descending = field.startswith("-")
        name = field.lstrip("-+")
        docs = sorted(docs, key=lambda d, n=name: _sort_key(d, n), reverse=descending)  # type: ignore[misc]
    return docs


def page(docs: list[dict[str, Any]], payload: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """Apply page/page_size, or scroll_id/size; return the slice and the next scroll id (if scrolling)."""
    if payload.get("scroll_id") is not None or payload.get("size") is not None:
        start = _int(payload.get("scroll_id") or 0, "scroll_id")
        size = _int(payload.get("size") or 500, "size")
        return docs[start : start + size], str(start + size)
    if payload.get("page") is not None:
        if payload.get("page_size") is None:
            raise errors.validation_error("page_size is required when page is given")
        number, size = _int(payload["page"], "page"), _int(payload["page_size"], "page_size")
        return docs[number * size : (number + 1) * size], None
    if payload.get("page_size") is not None:
        return docs[: _int(payload["page_size"], "page_size")], None
    return docs, None


def _int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise errors.validation_error(f"{name} must be an integer") from None
    if number < 0:
        raise errors.validation_error(f"{name} must be non-negative")
    return number


def project(doc: dict[str, Any], only_fields: Any) -> dict[str, Any]:
    """Keep only the given (dotted) fields; ``id`` always comes along."""
    out: dict[str, Any] = {"id": doc.get("id")}
    for field in as_list(only_fields):
        value = get_path(doc, str(field))
        if value is None and not _has_path(doc, str(field)):
            continue
        target = out
        *parents, leaf = str(field).split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return out


def _has_path(doc: Any, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return False
        doc = doc[part]
    return True


def run_query(docs: Iterable[dict[str, Any]], payload: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """Filter, order and page ``docs``; the caller projects and hides what it must."""
    filters = _flatten_filters(payload)
    selected = [d for d in docs if matches(d, payload, filters)]
    selected = order(selected, payload.get("order_by"))
    return page(selected, payload)
