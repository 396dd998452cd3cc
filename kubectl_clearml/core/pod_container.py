"""The task container merged into a template's first container, the reference glue's way, minus its leak.

Maps merge recursively, ``env`` merges by name with our entries winning, other lists and scalars are
replaced (``name``, ``image``, ``command``; ``None`` deletes, e.g. the template's ``args``). Credentials
survive only as ``valueFrom`` references: a plain-text ``CLEARML_API_ACCESS_KEY``/``SECRET_KEY`` from the
template is removed with a note.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

ACCESS_KEY_ENV = "CLEARML_API_ACCESS_KEY"
SECRET_KEY_ENV = "CLEARML_API_SECRET_KEY"
CREDENTIAL_ENVS = (ACCESS_KEY_ENV, SECRET_KEY_ENV)


def merge_env(base: list[Any], ours: list[tuple[str, Any]], notes: list[str]) -> list[dict[str, Any]]:
    """Env by name: first position kept, last value wins; plain-text credentials never survive."""
    merged: dict[str, dict[str, Any]] = {}
    for item in base:
        if isinstance(item, dict) and item.get("name"):
            merged[str(item["name"])] = dict(item)
    for env_name, source in ours:
        merged[env_name] = {"name": env_name, **source}
    for cred in CREDENTIAL_ENVS:
        entry = merged.get(cred)
        if entry is not None and "valueFrom" not in entry:
            del merged[cred]
            notes.append(f"{cred} with a plain value removed from the template: credentials only by secretKeyRef")
    return list(merged.values())


def deep_merge(base: dict[str, Any], ours: Mapping[str, Any]) -> dict[str, Any]:
    """Maps merge recursively; lists and scalars from ``ours`` replace; None deletes."""
    for key, value in ours.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def merge_task_container(
    pod: dict[str, Any], container: dict[str, Any], env: list[tuple[str, Any]], notes: list[str]
) -> None:
    containers = pod["spec"]["containers"]
    if not containers:
        containers.append({})
    first = deep_merge(containers[0], container)
    first["env"] = merge_env(first.get("env") or [], env, notes)
    if not first["env"]:
        del first["env"]
    head: dict[str, Any] = {key: first[key] for key in ("name", "image", "command") if key in first}
    containers[0] = {**head, **{k: v for k, v in first.items() if k not in head}}
