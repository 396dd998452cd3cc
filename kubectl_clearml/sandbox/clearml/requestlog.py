"""What the emulator was asked: a per-endpoint counter and a bounded log (for tests and benchmarks)."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

MAX_ENTRIES = 20000


@dataclass(frozen=True)
class RequestRecord:
    endpoint: str
    version: str
    status: int
    subcode: int
    payload: dict[str, Any]
    elapsed_ms: float
    fault: str | None = None


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.entries: deque[RequestRecord] = deque(maxlen=MAX_ENTRIES)

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self.counts[record.endpoint] += 1
            self.entries.append(record)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def count(self, endpoint: str | None = None) -> int:
        return self.total if endpoint is None else self.counts.get(endpoint, 0)

    def by_endpoint(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def calls(self, endpoint: str) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.entries if r.endpoint == endpoint]

    def clear(self) -> None:
        with self._lock:
            self.counts.clear()
            self.entries.clear()

    def __len__(self) -> int:
        return self.total
