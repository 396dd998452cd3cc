"""Kubernetes and Helm name rules, checked before a name reaches a URL path or a label selector.

A namespace goes into request paths (``/api/v1/namespaces/<ns>/pods``): ``-n ../x`` walked out of it;
a release name goes into a label selector (``name=<release>``): ``--release 'x,status!=deployed'`` added
terms. Both are refused as bad input with the rule spelled out.
"""

from __future__ import annotations

import re

# RFC 1123 label, as Kubernetes checks a namespace (apimachinery validation IsDNS1123Label): at most 63.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_LABEL_MAX = 63
# Helm 3 release names (pkg/chartutil validName): dot-separated DNS labels, at most 53 characters.
_RELEASE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
RELEASE_MAX = 53


def _problem(name: str, pattern: re.Pattern[str], longest: int, allowed: str) -> str | None:
    if not name:
        return "it is empty"
    if len(name) > longest:
        return f"it is longer than {longest} characters"
    if not pattern.fullmatch(name):
        return f"use lowercase letters, digits and {allowed}, starting and ending with a letter or digit"
    return None


def dns_label_problem(name: str) -> str | None:
    """Why ``name`` is not a DNS label (None when it is one)."""
    return _problem(name, _DNS_LABEL, DNS_LABEL_MAX, "'-'")


def release_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid Helm release name (None when it is one)."""
    return _problem(name, _RELEASE, RELEASE_MAX, "'-' or '.'")
