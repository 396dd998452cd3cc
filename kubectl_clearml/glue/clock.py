"""Time for the glue, injectable: tests run the loop on a fake clock, production on the real one."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def wall(self) -> float: ...

    def sleep(self, seconds: float, wake: threading.Event) -> bool:
        """Sleep up to ``seconds``; return True when ``wake`` was set (stop requested)."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def sleep(self, seconds: float, wake: threading.Event) -> bool:
        return wake.wait(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when the loop sleeps: deterministic tests of intervals and backoff."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def wall(self) -> float:
        return self.monotonic()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float, wake: threading.Event) -> bool:
        self.slept.append(seconds)
        self.advance(max(0.0, seconds))
        # Yield the CPU so helper threads (watch, test drivers) make progress.
        return wake.wait(0.001)


def micro_time(epoch: float) -> str:
    """Kubernetes MicroTime (RFC 3339 with microseconds), as Leases carry it."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> float | None:
    """Kubernetes or ClearML timestamps to epoch seconds; None when absent or unreadable."""
    if not text:
        return None
    value = str(text).strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()
