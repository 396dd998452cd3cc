"""Fault injection for soak tests: per-endpoint error rate, kinds of failure, added latency.

Kinds:
  "500", "502", "504"  an error answer (500 as a ClearML envelope; 502/504 as the HTML a proxy sends)
  "timeout"            hold the request without processing it, then drop the connection
  "drop"               close the connection without processing the request
  "drop_after"         process the request (its effect happens), then close without answering
  "timeout_after"      process the request, then hold it and drop the connection
Never 503: the official SDK retries 503 forever.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

KINDS = ("500", "502", "504", "timeout", "drop", "drop_after", "timeout_after")
AFTER_KINDS = ("drop_after", "timeout_after")


@dataclass
class FaultRule:
    """One injected fault; ``injected`` counts how often it fired, ``times`` caps it (None = forever)."""

    pattern: re.Pattern[str]
    error_rate: float
    kinds: tuple[str, ...]
    latency: float
    times: int | None
    rng: random.Random
    injected: int = 0
    seen: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def roll(self) -> str | None:
        with self.lock:
            self.seen += 1
            if self.times is not None and self.injected >= self.times:
                return None
            if not self.kinds or self.rng.random() >= self.error_rate:
                return None
            self.injected += 1
            return self.rng.choice(self.kinds)


class FaultInjector:
    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(
        self,
        endpoint_regex: str,
        *,
        error_rate: float = 0.1,
        kinds: Iterable[str] = ("500", "timeout", "drop"),
        latency: float = 0.0,
        seed: int | None = None,
        times: int | None = None,
    ) -> FaultRule:
        chosen = tuple(str(k) for k in kinds)
        bad = [k for k in chosen if k not in KINDS]
        if bad:
            raise ValueError(f"unknown fault kinds {bad}; use some of {KINDS} (never 503: the SDK retries it forever)")
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        rule = FaultRule(re.compile(endpoint_regex), error_rate, chosen, max(0.0, latency), times, random.Random(seed))
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    @property
    def active(self) -> bool:
        return bool(self._rules)

    def plan(self, endpoint: str) -> tuple[float, str | None]:
        """Total added latency and the fault to apply (the first matching rule that fires)."""
        latency, kind = 0.0, None
        for rule in list(self._rules):
            if not rule.pattern.search(endpoint):
                continue
            latency += rule.latency
            if kind is None:
                kind = rule.roll()
        return latency, kind
