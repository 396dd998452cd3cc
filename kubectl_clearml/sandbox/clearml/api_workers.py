"""workers.* endpoints (bll/workers): Redis-like entries that expire ``timeout`` seconds after last activity."""

from __future__ import annotations

import re
from typing import Any

from kubectl_clearml.sandbox.clearml import errors
from kubectl_clearml.sandbox.clearml.endpoints import Call, endpoint
from kubectl_clearml.sandbox.clearml.model import epoch
from kubectl_clearml.sandbox.clearml.query import as_list, tags_match

DEFAULT_TIMEOUT_SEC = 600
DEFAULT_LAST_SEEN_SEC = 3600
HIDDEN_WORKER_FIELDS = ("last_activity_epoch",)


def _prune(call: Call) -> None:
    now = call.state.clock()
    expired = [name for name, w in call.state.workers.items() if now - w["last_activity_epoch"] > w["register_timeout"]]
    for name in expired:
        del call.state.workers[name]


def _register(call: Call, name: str, timeout: int, queues: list[str]) -> dict[str, Any]:
    state, who = call.state, call.identity
    now = state.now()
    worker: dict[str, Any] = {
        "id": name,
        "key": f"worker_{who.company}_{who.user}_{name}",
        "user": {"id": who.user, "name": who.user_name},
        "company": {"id": who.company, "name": who.company_name},
        "ip": call.ip,
        "register_time": now,
        "register_timeout": timeout,
        "last_activity_time": now,
        "last_activity_epoch": state.clock(),
        "last_report_time": None,
        "task": None,
        "project": None,
        "queue": None,
        "queues": queues,
        "tags": as_list(call.get("tags")),
        "system_tags": as_list(call.get("system_tags")),
    }
    state.workers[name] = worker
    return worker


@endpoint("workers.register", "2.4")
def register(call: Call) -> dict[str, Any]:
    name = str(call.require("worker"))
    timeout = int(call.get("timeout", DEFAULT_TIMEOUT_SEC))
    if timeout <= 0:
        raise errors.worker_registration_failed("timeout must be positive", timeout=timeout)
    queues = [str(q) for q in as_list(call.get("queues"))]
    unknown = [q for q in queues if q not in call.state.queues]
    if unknown:
        raise errors.invalid_queue_id(ids=unknown)
    _register(call, name, timeout, queues)
    return {}


@endpoint("workers.unregister", "2.4")
def unregister(call: Call) -> dict[str, Any]:
    call.state.workers.pop(str(call.require("worker")), None)
    return {}


@endpoint("workers.status_report", "2.4")
def status_report(call: Call) -> dict[str, Any]:
    state = call.state
    name = str(call.require("worker"))
    call.require("timestamp")
    task_id = call.get("task")
    task = state.require_task(task_id) if task_id else None
    _prune(call)
    worker = state.workers.get(name) or _register(call, name, DEFAULT_TIMEOUT_SEC, [])
    now = state.now()
    worker.update({"last_activity_time": now, "last_activity_epoch": state.clock(), "last_report_time": now})
    worker["ip"] = call.ip
    worker["task"] = task_id or None
    worker["queue"] = call.get("queue")
    if as_list(call.get("queues")):
        worker["queues"] = [str(q) for q in as_list(call.get("queues"))]
    for key in ("tags", "system_tags", "machine_stats"):
        if call.payload.get(key) is not None:
            worker[key] = call.payload[key]
    clock = state.clock()
    if isinstance(call.payload.get("machine_stats"), dict):
        state.metrics.sample_worker(name, call.payload["machine_stats"], clock)
    state.metrics.sample_queues(state.queues.values(), clock, lambda stamp: epoch(stamp) or clock)
    if task is not None:
        task.update({"last_worker": name, "last_worker_report": now, "last_update": now, "last_change": now})
    return {}


@endpoint("workers.get_stats", "2.4")
def get_stats(call: Call) -> dict[str, Any]:
    items = [i for i in as_list(call.require("items")) if isinstance(i, dict) and i.get("key")]
    ids = {str(w) for w in as_list(call.get("worker_ids"))} or None
    interval = max(int(call.get("interval", 60)), 1)
    return {"workers": call.state.metrics.worker_stats(float(call.require("from_date")),
                                                       float(call.require("to_date")), interval, items, ids)}


def _queue_view(call: Call, queue_id: str | None) -> dict[str, Any] | None:
    if not queue_id:
        return None
    queue = call.state.queues.get(queue_id)
    if queue is None:
        return {"id": queue_id}
    head = queue["entries"][0]["task"] if queue["entries"] else None
    head_task = call.state.tasks.get(head or "")
    view: dict[str, Any] = {
        "id": queue["id"],
        "name": queue["name"],
        "next_task": {"id": head, "name": head_task["name"] if head_task else None} if head else None,
        "num_tasks": len(queue["entries"]),
    }
    if queue.get("display_name"):
        view["display_name"] = queue["display_name"]
    return view


def _task_view(call: Call, task_id: str | None) -> dict[str, Any] | None:
    task = call.state.tasks.get(task_id or "")
    if task is None:
        return {"id": task_id} if task_id else None
    started = task.get("started")
    running = 0
    if started:
        begin = epoch(started)
        running = int(call.state.clock() - begin) if begin else 0
    return {"id": task["id"], "name": task["name"], "running_time": running, "last_iteration": task["last_iteration"]}


@endpoint("workers.get_all", "2.4")
def get_all(call: Call) -> dict[str, Any]:
    _prune(call)
    last_seen = int(call.get("last_seen", DEFAULT_LAST_SEEN_SEC))
    pattern = call.get("worker_pattern")
    now = call.state.clock()
    out = []
    for worker in call.state.workers.values():
        if last_seen and now - worker["last_activity_epoch"] > last_seen:
            continue
        if pattern and not re.search(str(pattern), worker["id"]):
            continue
        if call.get("tags") is not None and not tags_match(worker["tags"], as_list(call.get("tags"))):
            continue
        if call.get("system_tags") is not None and not tags_match(
            worker["system_tags"], as_list(call.get("system_tags"))
        ):
            continue
        view = {k: v for k, v in worker.items() if k not in HIDDEN_WORKER_FIELDS}
        view["queue"] = _queue_view(call, worker["queue"])
        view["queues"] = [_queue_view(call, q) for q in worker["queues"]]
        view["task"] = _task_view(call, worker["task"])
        out.append(view)
    return {"workers": out}
