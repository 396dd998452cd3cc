"""The ClearML task calls the glue makes, each safe to repeat (a retry after a lost answer is harmless).

Status messages and reasons pass through the log redactor, so a secret that slipped into an error
text from a server never reaches the task's page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from kubectl_clearml.errors import ClearmlTaskAlreadyQueued, ClearmlTaskNotQueued
from kubectl_clearml.logs import redact

LOG = logging.getLogger("kubectl_clearml.glue")

MAX_TEXT = 400  # status messages show in one line of the UI; keep them readable


def _text(value: str) -> str:
    value = redact(" ".join(value.split()))
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"


class TaskOps:
    def __init__(self, clearml: Any) -> None:
        self.clearml = clearml

    def read(self, task_ids: Sequence[str], fields: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Tasks by id, in chunks (one request per 500 ids); missing ids are absent from the result."""
        out: dict[str, dict[str, Any]] = {}
        ids = list(dict.fromkeys(t for t in task_ids if t))
        for start in range(0, len(ids), 500):
            payload: dict[str, Any] = {"id": ids[start : start + 500], "search_hidden": True}
            if fields is not None:
                payload["only_fields"] = list(fields)
            data = self.clearml.call("tasks.get_all", payload)
            for task in data.get("tasks") or []:
                out[str(task.get("id"))] = task
        return out

    def message(self, task_id: str, text: str) -> None:
        self.clearml.call("tasks.update", {"task": task_id, "status_message": _text(text)}, idempotent=True)

    def fail(self, task_id: str, reason: str) -> None:
        text = _text(reason)
        self.clearml.call(
            "tasks.failed",
            {"task": task_id, "force": True, "status_reason": text, "status_message": text},
            idempotent=True,
        )

    def complete(self, task_id: str, reason: str) -> None:
        text = _text(reason)
        self.clearml.call(
            "tasks.completed",
            {"task": task_id, "force": True, "status_reason": text, "status_message": text},
            idempotent=True,
        )

    def stopped(self, task_id: str, reason: str) -> None:
        text = _text(reason)
        self.clearml.call(
            "tasks.stopped",
            {"task": task_id, "force": True, "status_reason": text, "status_message": "stopped"},
            idempotent=True,
        )

    def queued_in(self, queue_ids: Sequence[str]) -> set[str]:
        """Ids of the tasks with an entry in any of these queues (one request)."""
        data = self.clearml.call("queues.get_all", {"id": list(queue_ids), "only_fields": ["id", "entries"]})
        return {str(e.get("task")) for q in data.get("queues") or [] for e in q.get("entries") or []}

    def pop(self, queue_id: str, task_id: str) -> bool:
        """Take the entry out of the queue; False when it was not there (someone else took it)."""
        try:
            self.clearml.call("queues.remove_task", {"queue": queue_id, "task": task_id}, idempotent=True)
        except ClearmlTaskNotQueued:
            return False
        return True

    def to_queue_head(self, queue_id: str, task_id: str) -> None:
        """Put a task back at the HEAD of its queue (it keeps its turn); repeating this is harmless."""
        try:
            self.clearml.call("queues.add_task", {"queue": queue_id, "task": task_id}, idempotent=True)
        except ClearmlTaskAlreadyQueued:
            pass
        self.clearml.call("queues.move_task_to_front", {"queue": queue_id, "task": task_id}, idempotent=True)
