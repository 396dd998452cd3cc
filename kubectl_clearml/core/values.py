"""Helm values merging, as `helm install/upgrade -f a.yaml -f b.yaml` computes `.Values`.

API (pure, inputs never modified):

- :func:`merge_user_values` ``(*layers) -> dict``: several ``-f`` files in command-line order, later files
  winning. Maps merge recursively, lists and scalars replace, and an explicit ``null`` is *kept* so that it
  can still delete a chart default afterwards (Helm merges the files first, then coalesces with the chart).
- :func:`coalesce` ``(defaults, user) -> dict``: Helm's ``CoalesceValues``: user values win, maps merge,
  lists and scalars replace the defaults wholesale (helm/helm#3486), ``null`` deletes the key.
- :func:`effective_values` ``(defaults, *layers) -> dict``: both steps; what ``helm get values --all`` shows.
- :func:`get_path` / :func:`has_path`: read dotted paths such as ``agentk8sglue.basePodTemplate``.

One deliberate simplification: a ``null`` for a key the chart does not have is dropped from the result
(Helm keeps some of those as ``nil``; templates treat both the same way).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def merge_user_values(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Merge user values files in order; ``null`` values are kept (they delete chart defaults later)."""
    result: dict[str, Any] = {}
    for layer in layers:
        result = _merge_keep_nulls(result, layer)
    return result


def _merge_keep_nulls(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = _merge_keep_nulls(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def coalesce(defaults: Mapping[str, Any], user: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's CoalesceValues(chart defaults, user values): the effective ``.Values``."""
    out: dict[str, Any] = {}
    for key, default in defaults.items():
        if key in user:
            continue
        out[key] = _drop_nulls(copy.deepcopy(default))
    for key, value in user.items():
        if value is None:
            continue  # an explicit null deletes the default
        default = defaults.get(key)
        if isinstance(value, Mapping) and isinstance(default, Mapping):
            out[key] = coalesce(default, value)
        else:
            out[key] = _drop_nulls(copy.deepcopy(value))
    # Keep the chart's key order first (what `helm get values --all` shows), then the user's new keys.
    order = [k for k in defaults if k in out] + [k for k in user if k in out and k not in defaults]
    return {k: out[k] for k in order}


def effective_values(defaults: Mapping[str, Any], *layers: Mapping[str, Any]) -> dict[str, Any]:
    return coalesce(defaults, merge_user_values(*layers))


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def get_path(values: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """``values['a']['b']`` for ``"a.b"``; ``default`` when any step is missing or not a mapping."""
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def has_path(values: Mapping[str, Any], path: str) -> bool:
    sentinel = object()
    return get_path(values, path, sentinel) is not sentinel


def is_empty(value: Any) -> bool:
    """Helm's notion of empty (``with``/``default``): None, false, 0, "" and empty collections."""
    if value is None or value is False:
        return True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == 0
    return value in ("", [], {})
