"""kubectl's rules for several kubeconfig files and for choosing the context and namespace (pure).

- ``KUBECONFIG`` may list several files; for every named cluster, user and context the first file that
  defines it wins, and ``current-context`` comes from the first file that sets it.
- The context is ``--context`` if given, else the merged ``current-context``.
- The namespace is ``-n`` if given, else the chosen context's namespace, else ``default``.
"""

from __future__ import annotations

import os.path
from typing import Any

from kubectl_clearml.errors import NotFoundError, UsageError

NAMED_SECTIONS = ("clusters", "users", "contexts")
# Fields holding a file path that kubectl reads relative to the kubeconfig file that names it
# (client-go's ResolveLocalPaths), not relative to the current directory.
PATH_FIELDS = {"clusters": ("cluster", ("certificate-authority",)),
               "users": ("user", ("client-certificate", "client-key", "tokenFile"))}


def resolve_relative_paths(doc: dict[str, Any], base_dir: str) -> dict[str, Any]:
    """A copy of one kubeconfig document with its relative file paths made relative to ``base_dir``.

    Needed before merging: once several files are merged, nobody knows which file a path came from.
    An exec plugin's command is resolved only when it names a path (``./bin/auth``), as kubectl does;
    a bare name (``aws``) is looked up on PATH.
    """
    out = dict(doc)
    for section, (inner, fields) in PATH_FIELDS.items():
        entries = []
        for entry in doc.get(section) or []:
            body = entry.get(inner) if isinstance(entry, dict) else None
            if not isinstance(body, dict):
                entries.append(entry)
                continue
            body = dict(body)
            for name in fields:
                value = body.get(name)
                if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
                    body[name] = os.path.join(base_dir, value)
            command = (body.get("exec") or {}).get("command") if isinstance(body.get("exec"), dict) else None
            if isinstance(command, str) and os.sep in command and not os.path.isabs(command):
                body["exec"] = {**body["exec"], "command": os.path.join(base_dir, command)}
            entries.append({**entry, inner: body})
        if section in doc:
            out[section] = entries
    return out


def merge_kubeconfigs(documents: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    seen: dict[str, set[str]] = {section: set() for section in NAMED_SECTIONS}
    for doc in documents:
        for section in NAMED_SECTIONS:
            for entry in doc.get(section) or []:
                name = entry.get("name") if isinstance(entry, dict) else None
                if not name or name in seen[section]:
                    continue
                seen[section].add(name)
                merged[section].append(entry)
        if doc.get("current-context") and not merged.get("current-context"):
            merged["current-context"] = doc["current-context"]
        if doc.get("preferences") and "preferences" not in merged:
            merged["preferences"] = doc["preferences"]
    return merged


def choose_context(merged: dict[str, Any], context: str | None, namespace: str | None) -> tuple[str, str]:
    """Return (context name, namespace) for the flags given; raise for an unknown or missing context."""
    names = [c.get("name") for c in merged.get("contexts") or [] if isinstance(c, dict)]
    chosen = context or merged.get("current-context")
    if not chosen:
        raise UsageError(
            "no current context in the kubeconfig",
            hint="pass --context NAME" + (f" (one of: {', '.join(map(str, names))})" if names else ""),
        )
    entry = next((c for c in merged.get("contexts") or [] if isinstance(c, dict) and c.get("name") == chosen), None)
    if entry is None:
        raise NotFoundError(
            f"context {chosen!r} not found in the kubeconfig",
            hint="available contexts: " + (", ".join(map(str, names)) or "none"),
        )
    ctx_ns = (entry.get("context") or {}).get("namespace")
    return str(chosen), namespace or ctx_ns or "default"
