"""tasks.* endpoints (services/tasks.py, bll/task): every status change goes through state.change_status."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from kubectl_clearml.sandbox.clearml import errors
from kubectl_clearml.sandbox.clearml.endpoints import Call, endpoint
from kubectl_clearml.sandbox.clearml.model import HIDDEN_TASK_TAG, STATUSES, TASK_TYPES, epoch, public_task
from kubectl_clearml.sandbox.clearml.query import as_list, project, run_query

# apiserver.workers.task_update_timeout: a worker that reported within this window is "running" the task.
TASK_UPDATE_TIMEOUT_SEC = 600
# Fields tasks.update writes (Task.safe_update); anything else, even status, is silently dropped.
UPDATE_FIELDS = ("name", "tags", "system_tags", "comment", "project", "status_message")
EDIT_REPLACED = ("container", "runtime", "hyperparams", "configuration", "models", "tags", "system_tags")
EDIT_MERGED = ("execution", "script")
EDIT_SCALARS = ("name", "type", "comment", "parent", "project")


def _texts(call: Call) -> dict[str, Any]:
    return {"reason": call.text("status_reason"), "message": call.text("status_message"), "user": call.identity.user}


@endpoint("tasks.get_by_id", "1.0")
def get_by_id(call: Call) -> dict[str, Any]:
    task_id = call.require("task")
    task = call.state.tasks.get(task_id) if isinstance(task_id, str) else None
    if task is None:
        raise errors.invalid_task_id(ids=[task_id])
    return {"task": public_task(task)}


@endpoint("tasks.get_all", "1.0")
def get_all(call: Call) -> dict[str, Any]:
    payload = call.payload
    show_hidden = call.flag("search_hidden") or payload.get("id")
    tasks: Iterable[dict[str, Any]] = call.state.tasks.values()
    ids = _wanted_ids(payload.get("id"))
    if ids is not None:
        # By id (the glue reads 500 at a time): look them up instead of testing every stored task against the
        # list; in creation order, the order a scan returns. Every candidate matches the id filter.
        rank, stored = call.state.task_order, call.state.tasks
        tasks = sorted((stored[i] for i in ids if i in stored), key=lambda t: rank.get(t["id"], -1))
        payload = {k: v for k, v in payload.items() if k != "id"}
    tasks = (t for t in tasks if show_hidden or HIDDEN_TASK_TAG not in t["system_tags"])
    selected, scroll_id = run_query(tasks, payload)
    only = payload.get("only_fields")
    result: dict[str, Any] = {"tasks": [project(t, only) if only else public_task(t) for t in selected]}
    if payload.get("scroll_id") is not None or payload.get("size") is not None:
        result["scroll_id"] = scroll_id
    return result


def _wanted_ids(spec: Any) -> set[str] | None:
    """The ids an ``id`` filter asks for; None when it excludes (``-id``) or is absent: scan then."""
    wanted = as_list(spec)
    if not wanted or not all(isinstance(i, str) and not i.startswith("-") for i in wanted):
        return None
    return set(wanted)


@endpoint("tasks.create", "1.0")
def create(call: Call) -> dict[str, Any]:
    name = str(call.require("name")).strip()
    task_type = str(call.require("type"))
    if len(name) < 3:
        raise errors.data_validation_error("name is shorter than 3 characters", name=name)
    if task_type not in TASK_TYPES:
        raise errors.validation_error(f"invalid task type: {task_type}")
    project_id = call.get("project")
    if project_id and project_id not in call.state.projects:
        raise errors.invalid_project_id(id=project_id)
    parent = call.get("parent")
    if parent and parent not in call.state.tasks:
        raise errors.invalid_task_id(id=parent, company=call.state.company)
    fields = {
        key: copy.deepcopy(call.payload[key])
        for key in (
            "tags",
            "system_tags",
            "comment",
            "parent",
            "project",
            "output_dest",
            "execution",
            "script",
            "hyperparams",
            "configuration",
            "models",
            "container",
            "runtime",
        )
        if call.payload.get(key) is not None
    }
    return {"id": call.state.create_task(name, task_type=task_type, user=call.identity.user, **fields)}


@endpoint("tasks.enqueue", "1.5")
def enqueue(call: Call) -> dict[str, Any]:
    state = call.state
    task = state.require_task(call.require("task"))
    queue_id, queue_name = call.get("queue"), call.get("queue_name")
    if queue_id and queue_name:
        raise errors.validation_error("Either queue id or queue name should be provided")
    if queue_name:
        existing = state.queue_by_name(str(queue_name))
        queue_id = existing["id"] if existing else state.create_queue(str(queue_name), user=call.identity.user)
    elif not queue_id:
        queue_id = state.default_queue()["id"]
    update_execution_queue = call.flag("update_execution_queue", True)
    if not update_execution_queue and (task["status"] != "queued" or not task["execution"].get("queue")):
        raise errors.validation_error(
            "Cannot skip setting execution queue for a task that is not enqueued or does not have execution queue set"
        )
    result = state.enqueue(
        task, queue_id, force=call.flag("force"), update_execution_queue=update_execution_queue, **_texts(call)
    )
    result["queued"] = 1
    if call.flag("verify_watched_queue"):
        result["queue_watched"] = any(queue_id in w.get("queues", []) for w in state.workers.values())
    return result


@endpoint("tasks.dequeue", "1.5")
def dequeue(call: Call) -> dict[str, Any]:
    state = call.state
    task_id = call.require("task")
    new_status = call.get("new_status")
    if new_status is not None and new_status not in STATUSES:
        raise errors.validation_error(f"invalid status: {new_status}")
    task = state.tasks.get(task_id) if isinstance(task_id, str) else None
    if task is None:
        state.remove_from_all_queues(str(task_id))
        return {"dequeued": 1, "updated": 0}
    if task["status"] == "queued":
        queue = state.queues.get(task["execution"].get("queue") or "")
        if queue is not None:
            state.remove_entry(queue, task["id"])  # not in the queue any more (popped): no error
    if call.flag("remove_from_all_queues"):
        state.remove_from_all_queues(task["id"])
    if task["status"] not in ("queued", "in_progress"):
        return {"dequeued": 1, "updated": 0}
    target = new_status or task.get("enqueue_status") or "created"
    result = state.change_status(task, target, force=True, unset_fields=["enqueue_status"], **_texts(call))
    return {"dequeued": 1, **result}


@endpoint("tasks.started", "1.0")
def started(call: Call) -> dict[str, Any]:
    task_id = call.require("task")
    task = call.state.tasks.get(task_id) if isinstance(task_id, str) else None
    if task is None:
        raise errors.invalid_id(task=None)
    keep = task["status"] == "in_progress" and task.get("started")
    result = call.state.change_status(
        task,
        "in_progress",
        force=call.flag("force"),
        set_fields={"started": task["started"] if keep else call.state.now()},
        unset_fields=["completed", "active_duration"],
        **_texts(call),
    )
    result["started"] = result["updated"]
    return result


def _finish(call: Call, status: str) -> dict[str, Any]:
    task = call.state.require_task(call.require("task"))
    return call.state.change_status(
        task, status, force=call.flag("force"), set_fields={"completed": call.state.now()}, **_texts(call)
    )


@endpoint("tasks.stopped", "1.0")
def stopped(call: Call) -> dict[str, Any]:
    return _finish(call, "stopped")


@endpoint("tasks.failed", "1.0")
def failed(call: Call) -> dict[str, Any]:
    return _finish(call, "failed")


@endpoint("tasks.completed", "2.2")
def completed(call: Call) -> dict[str, Any]:
    result = _finish(call, "completed")
    published = 0
    if call.flag("publish"):
        task = call.state.tasks[call.payload["task"]]
        published_result = call.state.change_status(
            task, "published", force=True, set_fields={"published": call.state.now()}, user=call.identity.user
        )
        result["fields"].update(published_result["fields"])
        published = 1
    result["published"] = published
    return result


@endpoint("tasks.stop", "1.0")
def stop(call: Call) -> dict[str, Any]:
    state = call.state
    task = state.require_task(call.require("task"))
    last_update = epoch(task.get("last_update"))
    run_by_worker = (
        task["status"] == "in_progress"
        and bool(task.get("last_worker"))
        and last_update is not None
        and state.clock() - last_update < TASK_UPDATE_TIMEOUT_SEC
    )
    if task["status"] == "queued" or "development" in task["system_tags"] or not run_by_worker:
        new_status, message = "stopped", f"Stopped by {call.identity.user_name}"
    else:
        # A worker is running it: only ask; the worker notices, stops and calls tasks.stopped.
        new_status, message = task["status"], "stopping"
    result = state.change_status(
        task,
        new_status,
        force=call.flag("force"),
        reason=call.text("status_reason"),
        message=message,
        user=call.identity.user,
    )
    if new_status == "stopped":
        state.remove_from_all_queues(task["id"])
    return result


@endpoint("tasks.reset", "1.0")
def reset(call: Call) -> dict[str, Any]:
    state = call.state
    task = state.require_task(call.require("task"))
    if task["status"] == "published" and not call.flag("force"):
        raise errors.invalid_task_status("Cannot reset a published task", status=task["status"])
    removed = state.remove_from_all_queues(task["id"])
    unset = [
        "last_worker",
        "last_worker_report",
        "started",
        "completed",
        "published",
        "active_duration",
        "enqueue_status",
        "output.result",
        "output.error",
        "execution.queue",
    ]
    set_fields: dict[str, Any] = {"runtime": {}, "last_metrics": {}, "models.output": []}
    if call.flag("clear_all"):
        set_fields["execution"] = {"parameters": {}, "test_split": 0}
        set_fields["script"] = {"binary": "python", "repository": "", "entry_point": ""}
    result = state.change_status(
        task,
        "created",
        force=True,
        reason="reset",
        message="reset",
        user=call.identity.user,
        set_fields=set_fields,
        unset_fields=unset,
    )
    result.update({"dequeued": {"removed": removed} if removed else {}, "deleted_models": 0, "urls": None})
    return result


@endpoint("tasks.update", "1.0")
def update(call: Call) -> dict[str, Any]:
    state = call.state
    task = state.require_task(call.require("task"))
    fields = {k: copy.deepcopy(call.payload[k]) for k in UPDATE_FIELDS if call.payload.get(k) is not None}
    if not fields:
        return {"updated": 0}
    now = state.now()
    fields.update({"last_update": now, "last_change": now, "last_changed_by": call.identity.user})
    task.update(fields)
    return {"updated": 1, "fields": fields}


@endpoint("tasks.edit", "1.0")
def edit(call: Call) -> dict[str, Any]:
    state = call.state
    task = state.require_task(call.require("task"))
    if task["status"] != "created" and not call.flag("force"):
        raise errors.invalid_task_status(expected="created", status=task["status"])
    fields: dict[str, Any] = {}
    for key in EDIT_SCALARS + EDIT_REPLACED:
        if call.payload.get(key) is not None:
            fields[key] = copy.deepcopy(call.payload[key])
    for key in EDIT_MERGED:
        if isinstance(call.payload.get(key), dict):
            fields[key] = {**task.get(key, {}), **copy.deepcopy(call.payload[key])}
    if call.payload.get("output_dest") is not None:
        fields["output"] = {**task.get("output", {}), "destination": call.payload["output_dest"]}
    if call.payload.get("status") in STATUSES:
        fields["status"] = call.payload["status"]
    if not fields:
        return {"updated": 0}
    now = state.now()
    fields.update({"last_update": now, "last_change": now, "last_changed_by": call.identity.user})
    task.update(fields)
    return {"updated": 1, "fields": fields}


@endpoint("tasks.edit_hyper_params", "2.9")
def edit_hyper_params(call: Call) -> dict[str, Any]:
    task = call.state.require_task(call.require("task"))
    params = [p for p in as_list(call.require("hyperparams")) if isinstance(p, dict)]
    properties_only = all(p.get("section") == "properties" for p in params)
    if not properties_only and task["status"] != "created" and not call.flag("force"):
        raise errors.invalid_task_status(expected="created", status=task["status"])
    replace = call.get("replace_hyperparams", "none")
    hyperparams = task.setdefault("hyperparams", {})
    if replace == "all":
        hyperparams.clear()
    for param in params:
        section = str(param.get("section", "General"))
        if replace == "section":
            hyperparams[section] = {}
        entry = {"section": section, "name": param.get("name"), "value": str(param.get("value", ""))}
        for extra in ("type", "description"):
            if param.get(extra) is not None:
                entry[extra] = param[extra]
        hyperparams.setdefault(section, {})[str(param.get("name"))] = entry
    task["last_update"] = task["last_change"] = call.state.now()
    return {"updated": 1}


@endpoint("tasks.get_hyper_params", "2.9")
def get_hyper_params(call: Call) -> dict[str, Any]:
    out = []
    for task_id in as_list(call.require("tasks")):
        task = call.state.require_task(task_id)
        flat = [p for section in task.get("hyperparams", {}).values() for p in section.values()]
        out.append({"task": task_id, "hyperparams": flat})
    return {"params": out}


@endpoint("tasks.ping", "1.0")
def ping(call: Call) -> dict[str, Any]:
    task = call.state.require_task(call.require("task"))
    task["last_update"] = call.state.now()
    return {}
