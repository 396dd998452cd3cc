"""Fault injection and deny rules for the Kubernetes emulator (soak tests, RBAC scenarios)."""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field

from kubectl_clearml.sandbox.kube import status as st
from kubectl_clearml.sandbox.kube.resources import Resource


@dataclass
class Fault:
    """One injected fault: requests matching ``method`` and ``path_regex`` fail with ``error_rate``.

    A firing fault first sleeps ``latency`` seconds, then drops the connection (``drop``), answers with
    a Status of code ``status``, or (``status=None``) lets the request through late. ``count`` caps how
    many times it fires; ``fired`` counts them.
    """

    method: str
    path_regex: str
    status: int | None = 500
    error_rate: float = 1.0
    latency: float = 0.0
    drop: bool = False
    count: int | None = None
    fired: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path_regex)

    def applies(self, method: str, path: str) -> bool:
        return (self.method in ("*", "", method.upper())) and bool(self._pattern.search(path))


class Faults:
    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._random = random.Random(seed)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pick(self, method: str, path: str) -> Fault | None:
        """The first fault that fires for this request (and count it), if any."""
        with self._lock:
            for fault in self._faults:
                if not fault.applies(method, path):
                    continue
                if fault.count is not None and fault.fired >= fault.count:
                    continue
                if self._random.random() >= fault.error_rate:
                    continue
                fault.fired += 1
                return fault
        return None


@dataclass(frozen=True)
class DenyRule:
    verb: str  # get, list, watch, create, update, patch, delete, or "*"
    resource: str  # plural, "plural/subresource", or "*"
    namespace: str | None = None  # None: every namespace and cluster-wide requests


class DenyRules:
    """RBAC as the absence of a permission: a request matching a rule gets the apiserver's 403."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[DenyRule] = []

    def add(self, verb: str, resource: str, namespace: str | None = None) -> DenyRule:
        rule = DenyRule(verb, resource, namespace)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def check(self, verb: str, resource: Resource, subresource: str | None, namespace: str | None,
              name: str | None, user: str) -> st.ApiError | None:
        wanted = resource.plural + (f"/{subresource}" if subresource else "")
        with self._lock:
            rules = list(self._rules)
        for rule in rules:
            if rule.verb not in ("*", verb) or rule.resource not in ("*", wanted):
                continue
            # Lacking a permission in one namespace also means lacking it cluster-wide.
            if rule.namespace is None or namespace in (None, rule.namespace):
                return st.forbidden(resource, subresource, verb, user, namespace, name)
        return None
