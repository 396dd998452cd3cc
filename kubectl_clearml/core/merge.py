"""Strategic merge patch (Kubernetes semantics) and JSON merge patch (RFC 7386), as pure functions.

The strategic merge follows the Go implementation (k8s.io/apimachinery strategicpatch, server options
``MergeParallelList`` and ``IgnoreUnmatchedNulls``) for the object kinds this project patches: pods, pod
specs, pod templates, deployments, plus the plain maps of configmaps, secrets, services, nodes and leases.
Which lists merge, and by which key, is decided by the field's name (and, for ``ports`` and ``finalizers``,
its parent), which is exact for those kinds. Results were checked against ``kubectl patch --local``
(tests/core/test_merge.py keeps checking them).

Deliberate difference from Go: unknown ``$``-keys (anything but the directives below) are never stored.
Directives: ``$patch: delete|replace`` (maps and list items), ``$setElementOrder/<list>``,
``$deleteFromPrimitiveList/<list>`` and ``$retainKeys``.
"""

from __future__ import annotations

import copy
from typing import Any

PATCH_DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER_PREFIX = "$setElementOrder/"
DELETE_PRIMITIVE_PREFIX = "$deleteFromPrimitiveList/"

_CONTAINER_LISTS = frozenset({"containers", "initContainers", "ephemeralContainers"})

# List fields merged by a key (from the patchStrategy/patchMergeKey tags of the k8s.io/api types).
_MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "schedulingGates": "name",
    "resourceClaims": "name",
    "resourceClaimStatuses": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "hostAliases": "ip",
    "podIPs": "ip",
    "hostIPs": "ip",
    "topologySpreadConstraints": "topologyKey",
    "conditions": "type",
    "addresses": "type",
    "ownerReferences": "uid",
}


class StrategicMergeError(ValueError):
    """The patch is malformed for a strategic merge (missing merge key, unknown directive...)."""


def list_merge_key(path: tuple[str, ...]) -> str | None:
    """The merge key of the list at ``path`` (field names from the root, list positions omitted).

    ``""`` means a list of scalars merged as a set (``metadata.finalizers``); ``None`` means the list is
    replaced as a whole.
    """
    field = path[-1]
    parent = path[-2] if len(path) > 1 else ""
    if field == "ports":
        # Container ports merge by containerPort; Service ports by port.
        return "containerPort" if parent in _CONTAINER_LISTS or not parent else "port"
    if field == "finalizers":
        return "" if parent == "metadata" else None
    return _MERGE_KEYS.get(field)


def strategic_merge(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Apply a strategic merge ``patch`` to ``original``; both inputs are left unmodified."""
    if not isinstance(original, dict) or not isinstance(patch, dict):
        raise StrategicMergeError("a strategic merge patch and its target must both be JSON objects")
    merged = _merge_map(copy.deepcopy(original), copy.deepcopy(patch), ())
    _strip_directives(merged)
    return merged


def json_merge_patch(original: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: maps merge, anything else (lists included) replaces, null deletes."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


# --- internals: each function mutates its (already copied) arguments -------------------------------


def _merge_map(original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    if PATCH_DIRECTIVE in patch:
        directive = patch.pop(PATCH_DIRECTIVE)
        if directive == "replace":
            return patch
        if directive == "delete":
            return {}
        raise StrategicMergeError(f"unknown patch type: {directive} in map: {patch}")
    _apply_retain_keys(original, patch)
    _apply_element_orders(original, patch, path)
    for key, value in patch.items():
        is_delete_list = key.startswith(DELETE_PRIMITIVE_PREFIX)
        if is_delete_list:
            key = key[len(DELETE_PRIMITIVE_PREFIX) :]
        elif key.startswith("$"):
            continue  # never stored (see module docstring)
        if value is None:
            original.pop(key, None)
            continue
        if key not in original or type(original[key]) is not type(value):
            if not is_delete_list and not _is_directive_map(value):
                original[key] = _clean_new_subtree(value)
            continue
        child = (*path, key)
        if isinstance(value, dict):
            original[key] = _merge_map(original[key], value, child)
        elif isinstance(value, list):
            original[key] = _merge_list(original[key], value, child, is_delete_list)
        else:
            original[key] = value
    return original


def _merge_list(original: list[Any], patch: list[Any], path: tuple[str, ...], is_delete_list: bool) -> list[Any]:
    merge_key = list_merge_key(path)
    if merge_key is None and not is_delete_list:
        return patch
    if not original and not patch:
        return original
    if not _all_maps(original + patch):
        if is_delete_list:
            return [item for item in original if item not in patch]
        merged = _dedupe([*original, *patch])
        patch_items = [item for item in merged if item in patch]
        server_only = [item for item in merged if item not in patch]
        return _normalize_order(patch_items, server_only, patch, original, "")
    if not merge_key:
        raise StrategicMergeError(f"cannot merge lists without merge key for {'.'.join(path)}")
    original, patch = _apply_list_directives(original, patch, merge_key)
    merged = _merge_items(list(original), patch, merge_key, path)
    patch_keys = [item[merge_key] for item in patch]
    patch_items = [item for item in merged if item.get(merge_key) in patch_keys]
    server_only = [item for item in merged if item.get(merge_key) not in patch_keys]
    return _normalize_order(patch_items, server_only, patch, original, merge_key)


def _apply_list_directives(
    original: list[Any], patch: list[Any], merge_key: str
) -> tuple[list[Any], list[Any]]:
    """Handle ``$patch`` items: delete matching server items, or replace the whole list."""
    plain: list[Any] = []
    replace = False
    for item in patch:
        if PATCH_DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[PATCH_DIRECTIVE]
        if directive == "delete":
            if merge_key not in item:
                raise StrategicMergeError(f"map: {item} does not contain declared merge key: {merge_key}")
            original = [o for o in original if o.get(merge_key) != item[merge_key]]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise StrategicMergeError("merging lists cannot yet be specified in the patch")
        else:
            raise StrategicMergeError(f"unknown patch type: {directive} in map: {item}")
    if replace:
        return plain, []
    return original, plain


def _merge_items(original: list[Any], patch: list[Any], merge_key: str, path: tuple[str, ...]) -> list[Any]:
    """Merge each patch item into the server item with the same key, or append it (raw, as Go does)."""
    for item in patch:
        if merge_key not in item:
            raise StrategicMergeError(f"map: {item} does not contain declared merge key: {merge_key}")
        for index, existing in enumerate(original):
            if isinstance(existing, dict) and existing.get(merge_key) == item[merge_key]:
                original[index] = _merge_map(existing, item, path)
                break
        else:
            original.append(item)
    return original


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if RETAIN_KEYS not in patch:
        return
    retain = patch.pop(RETAIN_KEYS)
    if not isinstance(retain, list):
        raise StrategicMergeError("$retainKeys must be a list")
    for key, value in patch.items():
        if value is not None and not key.startswith("$") and key not in retain:
            raise StrategicMergeError("doesn't satisfy the format for $retainKeys")
    for key in [k for k in original if k not in retain]:
        del original[key]


def _apply_element_orders(original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]) -> None:
    """Merge each list named by a ``$setElementOrder/<list>`` directive, then order it as told."""
    for directive in [k for k in patch if k.startswith(SET_ORDER_PREFIX)]:
        order = patch.pop(directive)
        key = directive[len(SET_ORDER_PREFIX) :]
        child = (*path, key)
        merge_key = list_merge_key(child) or ""
        server = original.get(key)
        server_list = server if isinstance(server, list) else []
        patch_list = patch.pop(key, None)
        if patch_list is None:
            patch_list = []
        if not isinstance(patch_list, list) or not isinstance(order, list):
            raise StrategicMergeError(f"invalid $setElementOrder for {key}")
        merged = _merge_list(copy.deepcopy(server_list), patch_list, child, False)
        if merge_key:
            wanted = [item.get(merge_key) for item in order if isinstance(item, dict)]
            patch_items = [item for item in merged if item.get(merge_key) in wanted]
            server_only = [item for item in merged if item.get(merge_key) not in wanted]
        else:
            patch_items = [item for item in merged if item in order]
            server_only = [item for item in merged if item not in order]
        original[key] = _normalize_order(patch_items, server_only, order, server_list, merge_key)


def _normalize_order(
    patch_items: list[Any], server_only: list[Any], patch_order: list[Any], server_order: list[Any], key: str
) -> list[Any]:
    """Go's normalizeElementOrder: sort each side by its own order, then interleave them (mergeSortedSlice)."""
    patch_items = _sort_by(patch_items, patch_order, key)
    server_only = _sort_by(server_only, server_order, key)
    result: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(patch_items):
        if j >= len(patch_items):
            result.append(server_only[i])
            i += 1
        elif i >= len(server_only):
            result.append(patch_items[j])
            j += 1
        else:
            left = _index(server_order, server_only[i], key)
            right = _index(server_order, patch_items[j], key)
            if left >= 0 and right >= 0 and left < right:
                result.append(server_only[i])
                i += 1
            else:
                result.append(patch_items[j])
                j += 1
    return result


def _sort_by(items: list[Any], order: list[Any], key: str) -> list[Any]:
    for item in items:
        if _index(order, item, key) < 0:
            raise StrategicMergeError(f"several items to be deleted don't exist in the order list: {item}")
    return sorted(items, key=lambda item: _index(order, item, key))


def _index(items: list[Any], wanted: Any, key: str) -> int:
    if key:
        target = wanted.get(key) if isinstance(wanted, dict) else None
        for position, item in enumerate(items):
            if isinstance(item, dict) and item.get(key) == target:
                return position
        return -1
    for position, item in enumerate(items):
        if item == wanted:
            return position
    return -1


def _all_maps(items: list[Any]) -> bool:
    return all(isinstance(item, dict) for item in items)


def _dedupe(items: list[Any]) -> list[Any]:
    unique: list[Any] = []
    for item in items:
        if item not in unique:
            unique.append(item)
    return unique


def _is_directive_map(value: Any) -> bool:
    return isinstance(value, dict) and PATCH_DIRECTIVE in value


def _clean_new_subtree(value: Any) -> Any:
    """A subtree the server does not have yet loses its nulls and every map carrying ``$patch``.

    Observed with kubectl v1.32 (Go's discardNullValuesFromPatch and friends): ``{"a": null}`` gives
    ``{}``, a list item ``{"name": "x", "$patch": "delete"}`` disappears, null list elements stay.
    """
    if isinstance(value, dict):
        for key in [k for k, v in value.items() if v is None or _is_directive_map(v)]:
            del value[key]
        for item in value.values():
            _clean_new_subtree(item)
    elif isinstance(value, list):
        value[:] = [item for item in value if not _is_directive_map(item)]
        for item in value:
            _clean_new_subtree(item)
    return value


def _strip_directives(value: Any) -> Any:
    """Remove every remaining ``$`` key, wherever the raw patch put one (appended items, replaced lists)."""
    if isinstance(value, dict):
        for key in [k for k in value if isinstance(k, str) and k.startswith("$")]:
            del value[key]
        for item in value.values():
            _strip_directives(item)
    elif isinstance(value, list):
        for item in value:
            _strip_directives(item)
    return value
