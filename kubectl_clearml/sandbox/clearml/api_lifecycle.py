"""Task life-cycle endpoints the SDK's everyday workflows call: clone-then-enqueue, requirements, archive,
delete, plus models.get_all, projects.delete, events.get_task_log and workers' runtime properties.

Request and answer fields follow the server's schema (apiserver/schema/services, as the SDK 2.1.12's
backend_api/services/v2_23 classes encode it): ``tasks.clone`` answers ``{id, new_project?}``,
``tasks.archive`` ``{archived}``, ``*_many`` ``{succeeded[], failed[{id, error{codes, msg, data}}]}``.
"""

from __future__ import annotations

import copy
from typing import Any

from kubectl_clearml.sandbox.clearml import errors
from kubectl_clearml.sandbox.clearml.endpoints import Call, endpoint
from kubectl_clearml.sandbox.clearml.query import as_list, run_query

# What a clone copies (bll/task/task_operations clone_task): the definition, not the run.
CLONED_FIELDS = ("type", "comment", "project", "parent", "tags", "execution", "script", "hyperparams",
                 "configuration", "container", "runtime", "models", "output")
ARCHIVED = "archived"


@endpoint("tasks.clone", "2.5")
def clone(call: Call) -> dict[str, Any]:
    state = call.state
    source = state.require_task(call.require("task"))
    fields = {key: copy.deepcopy(source[key]) for key in CLONED_FIELDS if source.get(key) is not None}
    fields.pop("output", None)
    overrides = {"comment": "new_task_comment", "tags": "new_task_tags", "system_tags": "new_task_system_tags",
                 "parent": "new_task_parent", "project": "new_task_project", "hyperparams": "new_task_hyperparams",
                 "configuration": "new_task_configuration", "container": "new_task_container"}
    for field, key in overrides.items():
        if call.payload.get(key) is not None:
            fields[field] = copy.deepcopy(call.payload[key])
    if isinstance(call.payload.get("execution_overrides"), dict):
        fields["execution"] = {**fields.get("execution", {}), **copy.deepcopy(call.payload["execution_overrides"])}
    result: dict[str, Any] = {}
    new_project = call.get("new_project_name")
    if new_project:
        existing = next((p for p in state.projects.values() if p["name"] == new_project), None)
        project_id = existing["id"] if existing else state.create_project(str(new_project), user=call.identity.user)
        fields["project"] = project_id
        result["new_project"] = {"id": project_id, "name": new_project}
    if fields.get("project") and fields["project"] not in state.projects:
        raise errors.invalid_project_id(id=fields["project"])
    if isinstance(fields.get("execution"), dict):
        fields["execution"].pop("queue", None)  # a clone is a draft: no queue until enqueued
    task_type = str(fields.pop("type", "training"))
    name = str(call.get("new_task_name") or source["name"])
    result["id"] = state.create_task(name, task_type=task_type, user=call.identity.user, **fields)
    return result


@endpoint("tasks.set_requirements", "2.1")
def set_requirements(call: Call) -> dict[str, Any]:
    task = call.state.require_task(call.require("task"))
    requirements = call.require("requirements")
    if not isinstance(requirements, dict):
        raise errors.validation_error("field requirements must be an object", requirements=requirements)
    if task["status"] != "created" and not call.flag("force"):
        raise errors.invalid_task_status(expected="created", status=task["status"])
    task.setdefault("script", {})["requirements"] = copy.deepcopy(requirements)
    now = call.state.now()
    task["last_update"] = task["last_change"] = now
    return {"updated": 1, "fields": {"script.requirements": requirements, "last_update": now}}


def _archive(call: Call, task: dict[str, Any]) -> bool:
    if task["status"] == "queued":  # archiving takes a task out of its queue (its status back to created)
        call.state.remove_from_all_queues(task["id"])
        call.state.change_status(task, "created", force=True, reason=call.text("status_reason"),
                                 message=call.text("status_message"))
    if ARCHIVED in task["system_tags"]:
        return False
    task["system_tags"] = [*task["system_tags"], ARCHIVED]
    task["last_update"] = task["last_change"] = call.state.now()
    return True


@endpoint("tasks.archive", "2.12")
def archive(call: Call) -> dict[str, Any]:
    tasks = [call.state.require_task(task_id) for task_id in as_list(call.require("tasks"))]
    return {"archived": sum(_archive(call, task) for task in tasks)}


@endpoint("tasks.archive_many", "2.13")
def archive_many(call: Call) -> dict[str, Any]:
    return _many(call, lambda task: {"archived": _archive(call, task)})


def _delete(call: Call, task: dict[str, Any]) -> dict[str, Any]:
    state = call.state
    if task["status"] == "in_progress" and not call.flag("force"):
        raise errors.invalid_task_status("Task is in progress, use force=true to delete", id=task["id"],
                                         status=task["status"])
    state.remove_from_all_queues(task["id"])
    children = [t for t in state.tasks.values() if t.get("parent") == task["id"]]
    for child in children:
        child["parent"] = None
    del state.tasks[task["id"]]
    return {"deleted": True, "updated_children": len(children), "updated_models": 0,
            "urls": {"model_urls": [], "event_urls": [], "artifact_urls": []}}


@endpoint("tasks.delete", "1.0")
def delete(call: Call) -> dict[str, Any]:
    result = _delete(call, call.state.require_task(call.require("task")))
    result.pop("urls")
    return {**result, "events": {}}


@endpoint("tasks.delete_many", "2.13")
def delete_many(call: Call) -> dict[str, Any]:
    return _many(call, lambda task: _delete(call, task))


def _many(call: Call, action: Any) -> dict[str, Any]:
    succeeded, failed = [], []
    for task_id in as_list(call.require("ids")):
        try:
            succeeded.append({"id": task_id, **action(call.state.require_task(task_id))})
        except errors.ApiError as error:
            failed.append({"id": task_id, "error": {"codes": [error.code, error.subcode], "msg": error.message,
                                                    "data": {}}})
    return {"succeeded": succeeded, "failed": failed}


@endpoint("models.get_all", "1.0")
def get_all_models(call: Call) -> dict[str, Any]:
    # The emulator registers no models (no output model is ever uploaded), so every query is answered empty.
    selected, _ = run_query(iter(()), call.payload)
    return {"models": list(selected)}


@endpoint("projects.delete", "1.0")
def delete_project(call: Call) -> dict[str, Any]:
    state = call.state
    project_id = call.require("project")
    if project_id not in state.projects:
        raise errors.invalid_project_id(id=project_id)
    tasks = [t for t in state.tasks.values() if t.get("project") == project_id]
    live = [t for t in tasks if ARCHIVED not in t["system_tags"]]
    if live and not call.flag("force"):
        # apierrors bad_request 403 project_has_tasks (*unverified* subcode)
        raise errors.ApiError(400, 403, "project has associated tasks", "use force=true to delete",
                              id=project_id, tasks=len(live))
    result: dict[str, Any] = {"deleted": 1, "disassociated_tasks": 0, "deleted_models": 0, "deleted_tasks": 0,
                              "urls": {"model_urls": [], "event_urls": [], "artifact_urls": []}}
    for task in tasks:
        if call.flag("delete_contents"):
            state.remove_from_all_queues(task["id"])
            del state.tasks[task["id"]]
            result["deleted_tasks"] += 1
        else:
            task["project"] = None
            result["disassociated_tasks"] += 1
    del state.projects[project_id]
    return result


@endpoint("events.get_task_log", "2.9")
def get_task_log(call: Call) -> dict[str, Any]:
    task_id = call.require("task")
    call.state.require_task(task_id)
    logs = [e for e in call.state.events if e.get("task") == task_id and e.get("type", "log") == "log"]
    logs.sort(key=lambda e: e.get("timestamp") or 0)
    size = int(call.get("batch_size", 500))
    # navigate_earlier (the default) pages back from the newest event.
    page = logs[-size:] if call.flag("navigate_earlier", True) else logs[:size]
    return {"events": page, "returned": len(page), "total": len(logs)}


@endpoint("workers.set_runtime_properties", "2.10")
def set_runtime_properties(call: Call) -> dict[str, Any]:
    worker = _worker(call)
    props = worker.setdefault("runtime_properties", {})
    for item in as_list(call.require("runtime_properties")):
        if isinstance(item, dict) and item.get("key"):
            props[str(item["key"])] = {k: item[k] for k in ("key", "value", "expiry") if item.get(k) is not None}
    return {"added": [str(k) for k in props]}


@endpoint("workers.get_runtime_properties", "2.10")
def get_runtime_properties(call: Call) -> dict[str, Any]:
    worker = _worker(call)
    return {"runtime_properties": list((worker.get("runtime_properties") or {}).values())}


def _worker(call: Call) -> dict[str, Any]:
    name = call.require("worker")
    worker: dict[str, Any] | None = call.state.workers.get(name)
    if worker is None:
        raise errors.ApiError(400, 1001, "Invalid worker id", worker=name)  # bad_request.InvalidWorkerId
    return worker
