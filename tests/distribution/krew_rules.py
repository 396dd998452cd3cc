"""The checks krew's index validation applies to a Plugin manifest (internal/index/validation/validate.go),
restated from reference/kubectl-plugins.md §2, since the krew binary is in no package registry."""

from __future__ import annotations

import re
from typing import Any

API_VERSION = "krew.googlecontainertools.github.com/v1alpha2"
NAME = re.compile(r"^[\w-]+$")
SEMVER = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
SHA256 = re.compile(r"^[a-f0-9]{64}$")
WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def problems(manifest: dict[str, Any]) -> list[str]:
    found = []
    if manifest.get("apiVersion") != API_VERSION:
        found.append(f"apiVersion must be {API_VERSION}")
    if manifest.get("kind") != "Plugin":
        found.append("kind must be Plugin")
    name = (manifest.get("metadata") or {}).get("name", "")
    if not NAME.match(str(name)) or str(name).lower() in WINDOWS_RESERVED:
        found.append(f"invalid plugin name {name!r}")
    spec = manifest.get("spec") or {}
    if not SEMVER.match(str(spec.get("version", ""))):
        found.append("spec.version must be semver with a v prefix")
    short = str(spec.get("shortDescription") or "")
    if not short or "\n" in short.strip():
        found.append("spec.shortDescription is required and one line")
    if not spec.get("description"):
        found.append("spec.description is required")
    platforms = spec.get("platforms") or []
    if not platforms:
        found.append("spec.platforms needs at least one entry")
    for i, platform in enumerate(platforms):
        selector = platform.get("selector") or {}
        if not selector:
            found.append(f"platforms[{i}].selector is required")
        keys = {e.get("key") for e in selector.get("matchExpressions") or []} | set(selector.get("matchLabels") or {})
        if keys - {"os", "arch"}:
            found.append(f"platforms[{i}].selector may only use os and arch")
        if not platform.get("uri"):
            found.append(f"platforms[{i}].uri is required")
        if not SHA256.match(str(platform.get("sha256", ""))):
            found.append(f"platforms[{i}].sha256 must be 64 lowercase hex digits")
        if "files" in platform:
            files = platform["files"] or []
            if not files or any(not f.get("from") or not f.get("to") for f in files):
                found.append(f"platforms[{i}].files entries need from and to")
        if not platform.get("bin"):
            found.append(f"platforms[{i}].bin is required")
    return found
