"""Calls the loop does not wait for: a launched task's status message, made by one helper thread, in order,
while the loop creates the next pod (issue 17: one of the three round trips per task off the critical path).

Only calls whose failure changes nothing go here (a status message is logged and dropped on failure, as
before). Create-then-pop is untouched: the pod create and the queue pop stay on the loop thread, in order.
``drain()`` runs at the end of every dispatch round, so a launch message never lands after a later message
of the tracker for the same task, and nothing is in flight once the round has returned.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class SideCalls:
    def __init__(self, depth: int = 64) -> None:
        self.depth = depth  # at most this many waiting: a slow server slows the loop instead of piling up
        self._pending: deque[Future[Any]] = deque()
        self._executor: ThreadPoolExecutor | None = None

    def submit(self, call: Callable[..., Any], *args: Any) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="glue-side-calls")
        while len(self._pending) >= self.depth:
            self._pending.popleft().result()
        self._pending.append(self._executor.submit(call, *args))

    def drain(self) -> None:
        """Wait for every submitted call; an exception a call let out is raised here."""
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        try:
            self.drain()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None
