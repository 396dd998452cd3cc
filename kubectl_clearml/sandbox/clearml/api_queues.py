"""queues.* endpoints (services/queues.py, bll/queue)."""

from __future__ import annotations

from typing import Any

from kubectl_clearml.sandbox.clearml import errors
from kubectl_clearml.sandbox.clearml.endpoints import Call, endpoint
from kubectl_clearml.sandbox.clearml.model import HIDDEN_QUEUE_TAG, epoch
from kubectl_clearml.sandbox.clearml.query import as_list, project, run_query


def _shape(queue: dict[str, Any], call: Call) -> dict[str, Any]:
    out = dict(queue)
    limit = call.payload.get("max_task_entries")
    if limit is not None:
        out["entries"] = queue["entries"][: int(limit)]
    only = call.payload.get("only_fields")
    return project(out, only) if only else out


@endpoint("queues.get_all", "2.4")
def get_all(call: Call) -> dict[str, Any]:
    payload = call.payload
    show_hidden = call.flag("search_hidden") or payload.get("id") or payload.get("name")
    queues = (q for q in call.state.queues.values() if show_hidden or HIDDEN_QUEUE_TAG not in q["system_tags"])
    selected, scroll_id = run_query(queues, payload)
    result: dict[str, Any] = {"queues": [_shape(q, call) for q in selected]}
    if payload.get("scroll_id") is not None or payload.get("size") is not None:
        result["scroll_id"] = scroll_id
    return result


@endpoint("queues.get_by_id", "2.4")
def get_by_id(call: Call) -> dict[str, Any]:
    queue = call.state.require_queue(call.require("queue"))
    return {"queue": _shape(queue, call)}


@endpoint("queues.create", "2.4")
def create(call: Call) -> dict[str, Any]:
    name = str(call.require("name")).strip()
    if len(name) < 3:
        raise errors.data_validation_error("name is shorter than 3 characters", name=name)
    queue_id = call.state.create_queue(
        name,
        tags=as_list(call.get("tags")),
        system_tags=as_list(call.get("system_tags")),
        display_name=call.get("display_name"),
        user=call.identity.user,
    )
    metadata = call.get("metadata")
    if isinstance(metadata, dict):
        call.state.queues[queue_id]["metadata"] = metadata
    return {"id": queue_id}


@endpoint("queues.update", "2.4")
def update(call: Call) -> dict[str, Any]:
    queue = call.state.require_queue(call.require("queue"))
    fields: dict[str, Any] = {}
    for key in ("name", "tags", "system_tags", "display_name", "metadata"):
        if call.payload.get(key) is not None:
            fields[key] = call.payload[key]
    if "name" in fields:
        other = call.state.queue_by_name(str(fields["name"]))
        if other is not None and other is not queue:
            raise errors.not_unique("Queue with this name already exists", name=fields["name"])
    queue.update(fields)
    queue["last_update"] = fields["last_update"] = call.state.now()
    return {"updated": 1, "fields": fields}


@endpoint("queues.delete", "2.4")
def delete(call: Call) -> dict[str, Any]:
    state = call.state
    queue = state.require_queue(call.require("queue"))
    if queue["entries"] and not call.flag("force"):
        raise errors.queue_not_empty(queue["id"])
    for entry in queue["entries"]:
        task = state.tasks.get(entry["task"])
        if task is not None and task["status"] == "queued":
            state.change_status(
                task,
                task.get("enqueue_status") or "created",
                force=True,
                reason=f"Queue {queue['id']} was deleted",
                user=call.identity.user,
                unset_fields=["execution.queue", "enqueue_status"],
            )
    del state.queues[queue["id"]]
    return {"deleted": 1}


@endpoint("queues.add_task", "2.4")
def add_task(call: Call) -> dict[str, Any]:
    queue = call.state.require_queue(call.require("queue"))
    call.state.add_entry(queue, str(call.require("task")), call.flag("update_execution_queue", True))
    return {"added": 1}


@endpoint("queues.remove_task", "2.4")
def remove_task(call: Call) -> dict[str, Any]:
    state = call.state
    queue = state.require_queue(call.require("queue"))
    task_id = str(call.require("task"))
    removed = state.remove_entry(queue, task_id)
    if not removed:
        raise errors.task_not_in_queue(queue["id"], task_id)
    task = state.tasks.get(task_id)
    if call.flag("update_task_status") and task is not None:
        state.change_status(
            task,
            task.get("enqueue_status") or "created",
            force=True,
            user=call.identity.user,
            unset_fields=["execution.queue", "enqueue_status"],
        )
    return {"removed": removed}


@endpoint("queues.get_next_task", "2.4")
def get_next_task(call: Call) -> dict[str, Any]:
    state = call.state
    queue = state.require_queue(call.require("queue"))
    wanted = call.get("task")
    if not queue["entries"] or (wanted and queue["entries"][0]["task"] != wanted):
        return {}
    entry = queue["entries"].pop(0)
    queue["last_update"] = state.now()
    result: dict[str, Any] = {"entry": entry}
    task = state.tasks.get(entry["task"])
    if task is not None and task["status"] == "stopped":
        # The server's race fix: a task stopped while in the queue is handed out as queued again.
        state.change_status(task, "queued", force=True, user=call.identity.user)
    if call.flag("get_task_info"):
        result["task_info"] = {"company": state.company, "user": task["user"] if task else None}
    return result


@endpoint("queues.get_default", "2.4")
def get_default(call: Call) -> dict[str, Any]:
    queue = call.state.default_queue()
    return {"id": queue["id"], "name": queue["name"]}


@endpoint("queues.peek_task", "2.4")
def peek_task(call: Call) -> dict[str, Any]:
    queue = call.state.require_queue(call.require("queue"))
    return {"task": queue["entries"][0]["task"] if queue["entries"] else None}


@endpoint("queues.get_num_entries", "2.4")
def get_num_entries(call: Call) -> dict[str, Any]:
    return {"num": len(call.state.require_queue(call.require("queue"))["entries"])}


@endpoint("queues.clear_queue", "2.4")
def clear_queue(call: Call) -> dict[str, Any]:
    queue = call.state.require_queue(call.require("queue"))
    removed = [e["task"] for e in queue["entries"]]
    queue["entries"] = []
    return {"removed_tasks": removed}


def _move(call: Call, where: str) -> dict[str, Any]:
    queue = call.state.require_queue(call.require("queue"))
    task_id = str(call.require("task"))
    entries = queue["entries"]
    index = next((i for i, e in enumerate(entries) if e["task"] == task_id), None)
    if index is None:
        raise errors.task_not_in_queue(queue["id"], task_id)
    entry = entries.pop(index)
    count = int(call.get("count", 1))
    position = {
        "front": 0,
        "back": len(entries),
        "forward": max(0, index - count),
        "backward": min(len(entries), index + count),
    }[where]
    entries.insert(position, entry)
    queue["last_update"] = call.state.now()
    return {"position": position}


@endpoint("queues.move_task_to_front", "2.4")
def move_task_to_front(call: Call) -> dict[str, Any]:
    return _move(call, "front")


@endpoint("queues.move_task_to_back", "2.4")
def move_task_to_back(call: Call) -> dict[str, Any]:
    return _move(call, "back")


@endpoint("queues.move_task_forward", "2.4")
def move_task_forward(call: Call) -> dict[str, Any]:
    return _move(call, "forward")


@endpoint("queues.move_task_backward", "2.4")
def move_task_backward(call: Call) -> dict[str, Any]:
    return _move(call, "backward")


@endpoint("queues.get_queue_metrics", "2.4")
def get_queue_metrics(call: Call) -> dict[str, Any]:
    """Averages per interval of the samples taken on worker reports (metrics.py), the server's ES view."""
    state = call.state
    state.metrics.sample_queues(state.queues.values(), state.clock(), lambda stamp: epoch(stamp) or state.clock())
    ids = {str(q) for q in as_list(call.get("queue_ids"))} or None
    interval = max(int(call.get("interval", 60)), 1)
    return {"queues": state.metrics.queue_metrics(float(call.require("from_date")), float(call.require("to_date")),
                                                  interval, ids)}
