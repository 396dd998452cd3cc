"""kubectl's rules for several kubeconfig files and for choosing the context and namespace (pure).

- ``KUBECONFIG`` may list several files; for every named cluster, user and context the first file that
  defines it wins, and ``current-context`` comes from the first file that sets it.
- The context is ``--context`` if given, else the merged ``current-context``.
- The namespace is ``-n`` if given, else the chosen context's namespace, else ``default``.
"""

from __future__ import annotations

from typing import Any

from kubectl_clearml.errors import NotFoundError, UsageError

NAMED_SECTIONS = ("clusters", "users", "contexts")


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
