"""Task and queue documents with the server's defaults, the status state machine, and time formatting."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

STATUSES = (
    "created",
    "queued",
    "in_progress",
    "stopped",
    "published",
    "publishing",
    "closed",
    "failed",
    "completed",
    "unknown",
)

TASK_TYPES = (
    "training",
    "testing",
    "inference",
    "data_processing",
    "application",
    "monitor",
    "controller",
    "optimizer",
    "service",
    "qc",
    "custom",
)

# bll/task/utils.py: allowed transitions when force is false (a change to the same status is always allowed).
TRANSITIONS: dict[str, frozenset[str]] = {
    "created": frozenset({"queued", "in_progress"}),
    "queued": frozenset({"created", "in_progress", "stopped"}),
    "in_progress": frozenset({"stopped", "failed", "created", "completed"}),
    "stopped": frozenset(
        {"closed", "created", "failed", "queued", "in_progress", "published", "publishing", "completed"}
    ),
    "closed": frozenset({"created", "failed", "published", "publishing", "stopped"}),
    "failed": frozenset({"created", "stopped", "published", "queued"}),
    "publishing": frozenset({"published"}),
    "published": frozenset(),
    "completed": frozenset({"published", "in_progress", "created"}),
    "unknown": frozenset(),
}

HIDDEN_TASK_FIELDS = ("enqueue_status",)
HIDDEN_QUEUE_TAG = "k8s-glue"
HIDDEN_TASK_TAG = "hidden"
DEFAULT_QUEUE_TAG = "default"


def transition_allowed(current: str, new: str) -> bool:
    return current == new or new in TRANSITIONS.get(current, frozenset())


def new_id() -> str:
    return uuid.uuid4().hex


def iso(epoch: float) -> str:
    """rapidjson-style ISO-8601 in UTC with millisecond precision (Mongo keeps ms)."""
    stamp = dt.datetime.fromtimestamp(int(epoch * 1000) / 1000, tz=dt.timezone.utc)
    return stamp.isoformat(timespec="microseconds")


def epoch(stamp: Any) -> float | None:
    """Parse one of our ISO timestamps back to epoch seconds (None if absent or unreadable)."""
    if not stamp:
        return None
    try:
        return dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def new_task(
    task_id: str, name: str, task_type: str, *, user: str, company: str, now: str, fields: dict[str, Any]
) -> dict[str, Any]:
    execution = {"parameters": {}, "test_split": 0}
    execution.update(fields.pop("execution", None) or {})
    script = {"binary": "python", "repository": "", "entry_point": ""}
    script.update(fields.pop("script", None) or {})
    output_dest = fields.pop("output_dest", None)
    task: dict[str, Any] = {
        "id": task_id,
        "name": name,
        "type": task_type,
        "user": user,
        "company": company,
        "status": "created",
        "status_reason": "",
        "status_message": "",
        "status_changed": now,
        "comment": "",
        "tags": [],
        "system_tags": [],
        "created": now,
        "last_update": now,
        "last_change": now,
        "last_changed_by": user,
        "last_iteration": 0,
        "last_metrics": {},
        "script": script,
        "execution": execution,
        "container": {},
        "runtime": {},
        "hyperparams": {},
        "configuration": {},
        "models": {"input": [], "output": []},
        "output": {"destination": output_dest} if output_dest else {},
    }
    task.update(fields)  # the endpoint passes only schema fields; the test backdoor may set anything
    return task


def new_queue(queue_id: str, name: str, *, user: str, company: str, now: str, fields: dict[str, Any]) -> dict[str, Any]:
    queue: dict[str, Any] = {
        "id": queue_id,
        "name": name,
        "company": company,
        "user": user,
        "created": now,
        "last_update": now,
        "tags": list(fields.get("tags") or []),
        "system_tags": list(fields.get("system_tags") or []),
        "entries": [],
        "metadata": dict(fields.get("metadata") or {}) if isinstance(fields.get("metadata"), dict) else {},
    }
    if fields.get("display_name"):
        queue["display_name"] = fields["display_name"]
    return queue


def public_task(task: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in task.items() if k not in HIDDEN_TASK_FIELDS}
