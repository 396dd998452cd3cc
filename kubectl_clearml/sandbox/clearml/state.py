"""The emulator's in-memory database: queues, tasks, workers and events, behind one lock.

The HTTP layer runs each endpoint while holding ``lock`` (and serialises the answer before releasing
it), so every endpoint is atomic, as the server's Mongo/Redis updates are: two workers popping one
queue never get the same task. The ``create_*``/``task``/``queue_entries`` methods are the tests'
backdoor to seed and inspect state without going through HTTP.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from kubectl_clearml.sandbox.clearml import errors
from kubectl_clearml.sandbox.clearml.metrics import Metrics
from kubectl_clearml.sandbox.clearml.model import (
    DEFAULT_QUEUE_TAG,
    epoch,
    iso,
    new_id,
    new_queue,
    new_task,
    public_task,
    transition_allowed,
)

SANDBOX_USER = "sandbox-user"
# services.tasks.non_responsive_tasks_watchdog: running tasks silent this long are force-stopped.
WATCHDOG_THRESHOLD_SEC = 7200
WATCHDOG_INTERVAL_SEC = 60
WATCHDOG_TEXT = "Forced stop (non-responsive)"


def set_path(doc: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        child = doc.get(part)
        if not isinstance(child, dict):
            child = doc[part] = {}
        doc = child
    doc[leaf] = value


def unset_path(doc: dict[str, Any], dotted: str) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        child = doc.get(part)
        if not isinstance(child, dict):
            return
        doc = child
    doc.pop(leaf, None)


class ClearmlState:
    def __init__(self, clock: Callable[[], float] | None = None, user: str = SANDBOX_USER) -> None:
        self.lock = threading.RLock()
        self.clock: Callable[[], float] = clock or time.time
        self.company = errors.DEFAULT_COMPANY
        self.user = user
        self.tasks: dict[str, dict[str, Any]] = {}
        self.task_order: dict[str, int] = {}  # id -> creation rank: id lookups keep the store's order
        self.queues: dict[str, dict[str, Any]] = {}
        self.workers: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.metrics = Metrics()  # queue and worker samples for get_queue_metrics / get_stats
        self.watchdog_enabled = True
        self._last_watchdog = float("-inf")
        self.reset()

    def reset(self) -> None:
        """Back to a fresh server: only the ``default`` queue."""
        with self.lock:
            self.tasks.clear()
            self.task_order.clear()
            self.queues.clear()
            self.workers.clear()
            self.projects.clear()
            self.events.clear()
            self.metrics.clear()
            self._last_watchdog = float("-inf")
            self.watchdog_enabled = True
            self.create_queue("default", system_tags=[DEFAULT_QUEUE_TAG])

    def now(self) -> str:
        return iso(self.clock())

    def watchdog(self) -> int:
        """Force-stop running tasks with no update for 2 hours (checked at most once a minute of clock time)."""
        now = self.clock()
        if not self.watchdog_enabled or 0 <= now - self._last_watchdog < WATCHDOG_INTERVAL_SEC:
            return 0
        self._last_watchdog = now
        stale = [
            t
            for t in self.tasks.values()
            if t["status"] == "in_progress" and now - (epoch(t.get("last_update")) or now) > WATCHDOG_THRESHOLD_SEC
        ]
        for task in stale:
            self.change_status(task, "stopped", force=True, reason=WATCHDOG_TEXT, message=WATCHDOG_TEXT)
        return len(stale)

    # ---- lookups -----------------------------------------------------------------------------------
    def require_task(self, task_id: Any) -> dict[str, Any]:
        task = self.tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None:
            raise errors.invalid_task_id(id=task_id, company=self.company)
        return task

    def require_queue(self, queue_id: Any) -> dict[str, Any]:
        queue = self.queues.get(queue_id) if isinstance(queue_id, str) else None
        if queue is None:
            raise errors.invalid_queue_id(id=queue_id, company=self.company)
        return queue

    def queue_by_name(self, name: str) -> dict[str, Any] | None:
        for queue in self.queues.values():
            if queue["name"] == name:
                return queue
        return None

    def default_queue(self) -> dict[str, Any]:
        for queue in self.queues.values():
            if DEFAULT_QUEUE_TAG in queue["system_tags"]:
                return queue
        raise errors.no_default_queue()

    def resolve_queue(self, name_or_id: str) -> dict[str, Any]:
        return self.queues.get(name_or_id) or self.queue_by_name(name_or_id) or self.require_queue(name_or_id)

    # ---- queue entries -----------------------------------------------------------------------------
    def add_entry(self, queue: dict[str, Any], task_id: str, update_execution_queue: bool = True) -> None:
        if any(e["task"] == task_id for e in queue["entries"]):
            raise errors.task_already_queued(queue["id"], task_id)
        now = self.now()
        queue["entries"].append({"task": task_id, "added": now})
        queue["last_update"] = now
        task = self.tasks.get(task_id)
        if update_execution_queue and task is not None:
            task["execution"]["queue"] = queue["id"]

    def remove_entry(self, queue: dict[str, Any], task_id: str) -> int:
        # add_entry keeps a task at most once per queue, and a worker removes from the head: stop at the match.
        entries = queue["entries"]
        index = next((i for i, e in enumerate(entries) if e["task"] == task_id), None)
        if index is None:
            return 0
        del entries[index]
        queue["last_update"] = self.now()
        return 1

    def remove_from_all_queues(self, task_id: str, keep: str | None = None) -> int:
        return sum(self.remove_entry(q, task_id) for qid, q in self.queues.items() if qid != keep)

    # ---- the one status-change routine ------------------------------------------------------------
    def change_status(
        self,
        task: dict[str, Any],
        new_status: str,
        *,
        force: bool = False,
        reason: str | None = "",
        message: str | None = "",
        user: str | None = None,
        set_fields: dict[str, Any] | None = None,
        unset_fields: Iterable[str] = (),
    ) -> dict[str, Any]:
        """ChangeStatusRequest.execute: check the transition, write the status texts and timestamps."""
        current = task["status"]
        if not force and not transition_allowed(current, new_status):
            raise errors.invalid_status_change(current, new_status)
        now = self.now()
        fields: dict[str, Any] = {
            "status": new_status,
            "status_reason": reason or "",
            "status_message": message or "",
            "status_changed": now,
            "last_update": now,
            "last_change": now,
            "last_changed_by": user or self.user,
        }
        fields.update(set_fields or {})
        for key, value in fields.items():
            set_path(task, key, value)
        for key in unset_fields:
            unset_path(task, key)
        if new_status == "queued" and "development" in task["system_tags"]:
            task["system_tags"] = [t for t in task["system_tags"] if t != "development"]
            fields["system_tags"] = task["system_tags"]
        return {"updated": 1, "fields": fields}

    def enqueue(
        self,
        task: dict[str, Any],
        queue_id: Any,
        *,
        force: bool = False,
        update_execution_queue: bool = True,
        **texts: Any,
    ) -> dict[str, Any]:
        """tasks.enqueue's steps 1-4 (status, add, execution.queue, leave every other queue).

        As on the server, the queue is looked up only after the status changed, so an unknown queue
        (701) or a task already in it (706) reverts the status with reason "failed enqueueing".
        """
        previous = task["status"]
        keep_saved = previous == "queued" and "enqueue_status" in task
        saved = task.get("enqueue_status") if keep_saved else previous
        result = self.change_status(task, "queued", force=force, set_fields={"enqueue_status": saved}, **texts)
        try:
            queue = self.require_queue(queue_id)
            self.add_entry(queue, task["id"], update_execution_queue)
        except errors.ApiError:
            self.change_status(task, previous, force=True, reason="failed enqueueing", unset_fields=["enqueue_status"])
            raise
        if update_execution_queue:
            result["fields"]["execution.queue"] = queue["id"]
        result["fields"].pop("enqueue_status", None)
        self.remove_from_all_queues(task["id"], keep=queue["id"])
        return result

    # ---- backdoor for tests and seeds -------------------------------------------------------------
    def create_queue(
        self,
        name: str,
        *,
        tags: Iterable[str] = (),
        system_tags: Iterable[str] = (),
        display_name: str | None = None,
        user: str | None = None,
    ) -> str:
        with self.lock:
            if self.queue_by_name(name) is not None:
                raise errors.not_unique("Queue with this name already exists", name=name, company=self.company)
            queue_id = new_id()
            fields = {"tags": list(tags), "system_tags": list(system_tags), "display_name": display_name}
            self.queues[queue_id] = new_queue(
                queue_id, name, user=user or self.user, company=self.company, now=self.now(), fields=fields
            )
            return queue_id

    def create_project(self, name: str, *, description: str = "", user: str | None = None) -> str:
        with self.lock:
            if any(p["name"] == name for p in self.projects.values()):
                raise errors.not_unique("Project with this name already exists", name=name, company=self.company)
            project_id, now = new_id(), self.now()
            self.projects[project_id] = {
                "id": project_id,
                "name": name,
                "basename": name.rsplit("/", 1)[-1],
                "description": description,
                "company": self.company,
                "user": user or self.user,
                "created": now,
                "last_update": now,
                "tags": [],
                "system_tags": [],
            }
            return project_id

    def create_task(
        self,
        name: str,
        *,
        task_type: str = "training",
        queue: str | None = None,
        status: str | None = None,
        user: str | None = None,
        **fields: Any,
    ) -> str:
        """Create a task; ``queue`` (name or id) enqueues it; ``status`` forces a status afterwards."""
        with self.lock:
            task_id = new_id()
            self.tasks[task_id] = new_task(
                task_id, name, task_type, user=user or self.user, company=self.company, now=self.now(), fields=fields
            )
            self.task_order[task_id] = len(self.task_order)
            if queue is not None:
                self.enqueue(self.tasks[task_id], self.resolve_queue(queue)["id"])
            if status is not None:
                self.change_status(self.tasks[task_id], status, force=True)
            return task_id

    def set_task(self, task_id: str, **fields: Any) -> None:
        """Write fields directly (``last_update=...``), dotted names with ``__``: ``execution__queue``."""
        with self.lock:
            task = self.require_task(task_id)
            for key, value in fields.items():
                set_path(task, key.replace("__", "."), value)

    def task(self, task_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(public_task(self.require_task(task_id)))

    def all_tasks(self) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(public_task(t)) for t in self.tasks.values()]

    def queue(self, name_or_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.resolve_queue(name_or_id))

    def queue_entries(self, name_or_id: str) -> list[str]:
        with self.lock:
            return [e["task"] for e in self.resolve_queue(name_or_id)["entries"]]

    def register_worker(self, name: str, queue_ids: list[str], timeout: int) -> None:
        """A worker as workers.register leaves it (the seeded agent's glue, which a real install has running)."""
        with self.lock:
            now = self.now()
            self.workers[name] = {
                "id": name, "key": f"worker_{self.company}_{self.user}_{name}",
                "user": {"id": self.user, "name": self.user}, "company": {"id": self.company, "name": self.company},
                "ip": "127.0.0.1", "register_time": now, "register_timeout": timeout, "last_activity_time": now,
                "last_activity_epoch": self.clock(), "last_report_time": now, "task": None, "project": None,
                "queue": None, "queues": list(queue_ids), "tags": [], "system_tags": [],
            }

    def worker_names(self) -> list[str]:
        with self.lock:
            return list(self.workers)
