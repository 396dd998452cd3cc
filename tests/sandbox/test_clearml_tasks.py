"""Task and queue semantics of the emulator: the state machine and the §9 edge cases, over plain HTTP."""

from __future__ import annotations

import json

import pytest

from kubectl_clearml.sandbox.clearml.model import TRANSITIONS, transition_allowed
from tests.sandbox.clearml_http import Wire


@pytest.fixture
def wire(clearml) -> Wire:
    return Wire(clearml)


def new_task(wire: Wire, name: str = "train-resnet", **fields) -> str:
    return wire.call("tasks.create", {"name": name, "type": "training", **fields})["id"]


def queue_id(clearml, name: str) -> str:
    return clearml.state.queue(name)["id"]


# ---- state machine ---------------------------------------------------------------------------------------
def test_same_status_is_always_allowed_and_published_is_final():
    assert all(transition_allowed(s, s) for s in TRANSITIONS)
    assert not any(transition_allowed("published", s) for s in TRANSITIONS if s != "published")


def test_status_change_writes_texts_and_timestamps_and_wipes_old_texts(wire, clearml):
    task = new_task(wire)
    wire.call("tasks.enqueue", {"task": task, "status_reason": "why", "status_message": "msg"})
    result = wire.call("tasks.started", {"task": task, "force": True})
    assert result["updated"] == 1 and result["started"] == 1
    assert result["fields"]["status"] == "in_progress"
    stored = clearml.state.task(task)
    assert (stored["status_reason"], stored["status_message"]) == ("", "")
    assert stored["status_changed"] == stored["last_update"] == result["fields"]["status_changed"]


def test_invalid_transitions_need_force(wire, clearml):
    task = new_task(wire)
    code, subcode, message = wire.error("tasks.stopped", {"task": task})
    assert (code, subcode) == (400, 110)
    assert message == "Invalid task status (Invalid status change): current_status=created, new_status=stopped"
    assert wire.call("tasks.stopped", {"task": task, "force": True})["fields"]["status"] == "stopped"
    wire.call("tasks.failed", {"task": task})
    assert wire.error("tasks.started", {"task": task})[:2] == (400, 110)  # failed -> in_progress


def test_enqueue_without_a_queue_uses_the_default_and_drops_development_tag(wire, clearml):
    task = new_task(wire, system_tags=["development"])
    result = wire.call("tasks.enqueue", {"task": task})
    assert result["queued"] == 1
    assert result["fields"]["execution.queue"] == queue_id(clearml, "default")
    assert clearml.state.queue_entries("default") == [task]
    assert "development" not in clearml.state.task(task)["system_tags"]


def test_enqueue_by_queue_name_creates_it_and_both_names_is_400_12(wire, clearml):
    task = new_task(wire)
    wire.call("tasks.enqueue", {"task": task, "queue_name": "brand-new"})
    assert clearml.state.queue_entries("brand-new") == [task]
    other = new_task(wire, "other-task")
    assert wire.error("tasks.enqueue", {"task": other, "queue": "x", "queue_name": "y"})[:2] == (400, 12)


def test_enqueue_into_the_same_queue_is_706_and_keeps_it_queued(wire, clearml):
    task = new_task(wire)
    qid = queue_id(clearml, "default")
    wire.call("tasks.enqueue", {"task": task, "queue": qid})
    assert wire.error("tasks.enqueue", {"task": task, "queue": qid})[:2] == (400, 706)
    stored = clearml.state.task(task)
    assert stored["status"] == "queued" and stored["status_reason"] == "failed enqueueing"
    assert clearml.state.queue_entries("default") == [task]


def test_enqueue_elsewhere_moves_the_task(wire, clearml):
    task = new_task(wire)
    target = clearml.state.create_queue("gpu")
    wire.call("tasks.enqueue", {"task": task})
    wire.call("tasks.enqueue", {"task": task, "queue": target})
    assert clearml.state.queue_entries("default") == []
    assert clearml.state.queue_entries("gpu") == [task]
    assert clearml.state.task(task)["execution"]["queue"] == target


def test_enqueue_to_an_unknown_queue_is_701_with_the_status_reverted(wire, clearml):
    task = new_task(wire)
    assert wire.error("tasks.enqueue", {"task": task, "queue": "nope"})[:2] == (400, 701)
    stored = clearml.state.task(task)
    assert (stored["status"], stored["status_reason"]) == ("created", "failed enqueueing")


def test_enqueue_of_a_running_task_needs_force(wire, clearml):
    task = clearml.state.create_task("running-one", status="in_progress")
    assert wire.error("tasks.enqueue", {"task": task})[:2] == (400, 110)
    assert wire.call("tasks.enqueue", {"task": task, "force": True})["queued"] == 1


def test_skipping_execution_queue_update_for_a_non_queued_task_is_rejected(wire, clearml):
    task = new_task(wire)
    assert wire.error("tasks.enqueue", {"task": task, "update_execution_queue": False})[:2] == (400, 12)


def test_dequeue_cases(wire, clearml):
    created = new_task(wire, "created-task")
    assert wire.call("tasks.dequeue", {"task": created}) == {"dequeued": 1, "updated": 0}
    assert wire.call("tasks.dequeue", {"task": "unknown-id"}) == {"dequeued": 1, "updated": 0}
    queued = clearml.state.create_task("queued-task", queue="default")
    result = wire.call("tasks.dequeue", {"task": queued})
    assert result["updated"] == 1 and result["fields"]["status"] == "created"
    assert clearml.state.queue_entries("default") == []
    popped = clearml.state.create_task("popped-task", queue="default")
    wire.call("queues.get_next_task", {"queue": queue_id(clearml, "default")})
    in_pod = wire.call("tasks.dequeue", {"task": popped, "new_status": "in_progress"})
    assert in_pod["updated"] == 1 and clearml.state.task(popped)["status"] == "in_progress"
    assert wire.error("tasks.dequeue", {"task": popped, "new_status": "bogus"})[:2] == (400, 12)


def test_stop_of_a_task_run_by_a_live_worker_only_asks(wire, clearml):
    task = clearml.state.create_task("watched", status="in_progress")
    wire.call("workers.status_report", {"worker": "glue:0", "task": task, "timestamp": 1})
    result = wire.call("tasks.stop", {"task": task})
    stored = clearml.state.task(task)
    assert (stored["status"], stored["status_message"]) == ("in_progress", "stopping")
    assert result["fields"]["status_message"] == "stopping"
    now = clearml.clock()
    clearml.clock = lambda: now + 601  # the worker went quiet: stop is immediate
    wire.call("tasks.stop", {"task": task})
    stored = clearml.state.task(task)
    assert stored["status"] == "stopped" and stored["status_message"].startswith("Stopped by ")


def test_stop_of_a_queued_task_takes_it_out_of_the_queue(wire, clearml):
    task = clearml.state.create_task("queued", queue="default")
    wire.call("tasks.stop", {"task": task})
    assert clearml.state.task(task)["status"] == "stopped"
    assert clearml.state.queue_entries("default") == []
    assert wire.error("tasks.stop", {"task": new_task(wire)})[:2] == (400, 110)  # created -> stopped


def test_stopped_does_not_remove_from_queue_and_a_popped_stopped_task_is_queued_again(wire, clearml):
    task = clearml.state.create_task("race", queue="default")
    wire.call("tasks.stopped", {"task": task})
    assert clearml.state.queue_entries("default") == [task]
    popped = wire.call("queues.get_next_task", {"queue": queue_id(clearml, "default")})
    assert popped["entry"]["task"] == task
    assert clearml.state.task(task)["status"] == "queued"


def test_reset_clears_run_fields_and_published_needs_force(wire, clearml):
    task = clearml.state.create_task("to-reset", queue="default", runtime={"pod": "x"})
    wire.call("workers.status_report", {"worker": "w", "task": task, "timestamp": 1})
    result = wire.call("tasks.reset", {"task": task})
    assert result["dequeued"] == {"removed": 1} and result["urls"] is None
    stored = clearml.state.task(task)
    assert (stored["status"], stored["status_reason"], stored["status_message"]) == ("created", "reset", "reset")
    assert "last_worker" not in stored and "queue" not in stored["execution"] and stored["runtime"] == {}
    published = clearml.state.create_task("published", status="published")
    assert wire.error("tasks.reset", {"task": published})[:2] == (400, 110)


def test_update_writes_only_safe_fields(wire, clearml):
    task = new_task(wire)
    result = wire.call(
        "tasks.update", {"task": task, "status_message": "pending", "status": "failed", "name": "renamed"}
    )
    assert result["updated"] == 1
    stored = clearml.state.task(task)
    assert (stored["status"], stored["status_message"], stored["name"]) == ("created", "pending", "renamed")
    assert wire.error("tasks.update", {"task": "nope", "name": "x"})[:2] == (400, 101)


def test_edit_needs_force_unless_created_and_replaces_container(wire, clearml):
    task = new_task(wire, container={"image": "a", "arguments": "--x"}, execution={"framework": "torch"})
    wire.call("tasks.edit", {"task": task, "container": {"image": "b"}, "execution": {"model_desc": {}}})
    stored = clearml.state.task(task)
    assert stored["container"] == {"image": "b"}
    assert stored["execution"]["framework"] == "torch"  # execution merges shallowly
    wire.call("tasks.enqueue", {"task": task})
    code, subcode, message = wire.error("tasks.edit", {"task": task, "comment": "x"})
    assert (code, subcode, message) == (400, 110, "Invalid task status: expected=created, status=queued")
    assert wire.call("tasks.edit", {"task": task, "runtime": {"pod": "p"}, "force": True})["updated"] == 1


def test_edit_hyper_params_properties_allowed_in_any_status(wire, clearml):
    task = clearml.state.create_task("hp", queue="default")
    params = [{"section": "properties", "name": "k8s-queue", "value": "gpu"}]
    assert wire.call("tasks.edit_hyper_params", {"task": task, "hyperparams": params}) == {"updated": 1}
    assert clearml.state.task(task)["hyperparams"]["properties"]["k8s-queue"]["value"] == "gpu"
    other = [{"section": "Args", "name": "lr", "value": "0.1"}]
    assert wire.error("tasks.edit_hyper_params", {"task": task, "hyperparams": other})[:2] == (400, 110)


def test_tasks_get_all_filters_and_shaping(wire, clearml):
    gpu = clearml.state.create_queue("gpu")
    a = clearml.state.create_task("alpha-job", queue="gpu", tags=["x"])
    b = clearml.state.create_task("beta-job", status="in_progress", tags=["y"])
    hidden = clearml.state.create_task("hidden-job", system_tags=["hidden"])

    def ids(payload):
        return [t["id"] for t in wire.call("tasks.get_all", payload)["tasks"]]

    assert ids({"execution.queue": [gpu]}) == [a]
    assert ids({"execution": {"queue": [gpu]}}) == [a]
    assert ids({"status": ["queued", "in_progress"], "order_by": ["-name"]}) == [b, a]
    assert ids({"status": ["-queued"]}) == [b]
    assert ids({"name": "^alpha"}) == [a]
    assert ids({"tags": ["-x"]}) == [b]
    assert hidden not in ids({}) and hidden in ids({"search_hidden": True}) and ids({"id": [hidden]}) == [hidden]
    only = wire.call("tasks.get_all", {"id": [a], "only_fields": ["container", "execution.queue"]})["tasks"]
    assert only == [{"id": a, "container": {}, "execution": {"queue": gpu}}]
    assert "enqueue_status" not in wire.call("tasks.get_by_id", {"task": a})["task"]
    page = wire.call("tasks.get_all", {"order_by": ["name"], "page": 0, "page_size": 1})["tasks"]
    assert [t["id"] for t in page] == [a]
    assert wire.error("tasks.get_all", {"page": 1})[:2] == (400, 12)


def test_create_validation(wire):
    assert wire.error("tasks.create", {"name": "ok-name"})[:2] == (400, 12)
    assert wire.error("tasks.create", {"name": "ab", "type": "training"})[:2] == (400, 800)
    assert wire.error("tasks.create", {"name": "abc", "type": "bogus"})[:2] == (400, 12)


# ---- queues -----------------------------------------------------------------------------------------
def test_hidden_queues_need_search_hidden_id_or_name(wire, clearml):
    pending = clearml.state.create_queue("k8s_scheduler", system_tags=["k8s-glue"])

    def names(payload):
        return [q["name"] for q in wire.call("queues.get_all", payload)["queues"]]

    assert names({}) == ["default"]
    assert names({"search_hidden": True}) == ["default", "k8s_scheduler"]
    assert names({"name": "k8s_scheduler"}) == ["k8s_scheduler"]
    assert names({"id": [pending]}) == ["k8s_scheduler"]
    assert wire.call("queues.get_by_id", {"queue": pending})["queue"]["name"] == "k8s_scheduler"


def test_queues_get_all_lists_entries_with_task_ids(wire, clearml):
    task = clearml.state.create_task("in-default", queue="default")
    [queue] = wire.call("queues.get_all", {"name": "^default$"})["queues"]
    assert [e["task"] for e in queue["entries"]] == [task]
    assert queue["system_tags"] == ["default"]


def test_queue_create_delete_and_errors(wire, clearml):
    qid = wire.call("queues.create", {"name": "  team-a  "})["id"]
    assert clearml.state.queue(qid)["name"] == "team-a"
    assert wire.error("queues.create", {"name": "team-a"})[:2] == (400, 801)
    assert wire.error("queues.create", {"name": "ab"})[:2] == (400, 800)
    task = clearml.state.create_task("waiting", queue="team-a")
    code, subcode, message = wire.error("queues.delete", {"queue": qid})
    assert (code, subcode) == (400, 702) and message.startswith("Queue is not empty (use force=true to delete)")
    assert wire.call("queues.delete", {"queue": qid, "force": True}) == {"deleted": 1}
    stored = clearml.state.task(task)
    assert stored["status"] == "created" and stored["status_reason"] == f"Queue {qid} was deleted"
    assert wire.error("queues.delete", {"queue": qid})[:2] == (400, 701)


def test_add_remove_move_peek_and_counts(wire, clearml):
    qid = queue_id(clearml, "default")
    t1, t2, t3 = (clearml.state.create_task(f"task-{i}") for i in range(3))
    for t in (t1, t2, t3):
        assert wire.call("queues.add_task", {"queue": qid, "task": t}) == {"added": 1}
    assert clearml.state.task(t1)["status"] == "created"  # add_task changes no status
    assert wire.error("queues.add_task", {"queue": qid, "task": t1})[:2] == (400, 706)
    assert wire.call("queues.move_task_to_front", {"queue": qid, "task": t3}) == {"position": 0}
    assert wire.call("queues.peek_task", {"queue": qid}) == {"task": t3}
    assert wire.call("queues.get_num_entries", {"queue": qid}) == {"num": 3}
    assert wire.call("queues.remove_task", {"queue": qid, "task": t2}) == {"removed": 1}
    assert wire.error("queues.remove_task", {"queue": qid, "task": t2})[:2] == (400, 703)
    assert wire.call("queues.get_default", {}) == {"id": qid, "name": "default"}
    assert wire.call("queues.get_next_task", {"queue": qid, "task": t1}) == {}  # t1 is not the head
    assert wire.error("queues.get_next_task", {"queue": "nope"})[:2] == (400, 701)


def test_no_default_queue_is_707(wire, clearml):
    wire.call("queues.delete", {"queue": queue_id(clearml, "default")})
    assert wire.error("queues.get_default", {})[:2] == (400, 707)
    assert wire.error("tasks.enqueue", {"task": new_task(wire)})[:2] == (400, 707)


# ---- workers and events -------------------------------------------------------------------------------
def test_workers_expire_by_the_clock_and_carry_queue_names(wire, clearml):
    gpu = clearml.state.create_queue("gpu")
    clearml.state.create_task("next-up", queue="gpu")
    wire.call("workers.register", {"worker": "glue:0", "queues": [gpu], "timeout": 30})
    [worker] = wire.call("workers.get_all", {})["workers"]
    assert worker["queues"][0]["name"] == "gpu" and worker["queues"][0]["num_tasks"] == 1
    assert worker["queues"][0]["next_task"]["name"] == "next-up"
    assert worker["key"].startswith("worker_") and worker["register_timeout"] == 30
    now = clearml.clock()
    clearml.clock = lambda: now + 31
    assert wire.call("workers.get_all", {})["workers"] == []
    assert wire.error("workers.register", {"worker": "w", "queues": ["nope"]})[:2] == (400, 701)
    assert wire.error("workers.register", {"worker": "w", "timeout": 0})[:2] == (400, 1002)
    assert wire.error("workers.status_report", {"worker": "w"})[:2] == (400, 12)  # timestamp required
    assert wire.error("workers.status_report", {"worker": "w", "timestamp": 1, "task": "nope"})[:2] == (400, 101)


def test_events_add_batch_accepts_json_lines(wire, clearml):
    lines = '{"type": "log", "task": "t1", "msg": "task t1 pulled"}\n{"type": "log", "task": "t1", "msg": "two"}\n'
    response = wire.raw("events.add_batch", None, data=lines, headers={"Content-Type": "application/json-lines"})
    assert response.status_code == 200 and response.json()["data"]["added"] == 2
    assert [e["msg"] for e in clearml.state.events] == ["task t1 pulled", "two"]


def test_events_get_task_log_returns_a_tasks_lines_newest_first(wire, clearml):
    """The reference glue's "task <id> pulled from <queue>" line is read back this way (run-glue's adoption)."""
    batch = [
        {"type": "log", "task": "t1", "msg": "older", "timestamp": 1},
        {"type": "log", "task": "t2", "msg": "another task", "timestamp": 2},
        {"type": "log", "task": "t1", "msg": "newer", "timestamp": 3},
    ]
    lines = "\n".join(json.dumps(e) for e in batch) + "\n"
    wire.raw("events.add_batch", None, data=lines, headers={"Content-Type": "application/json-lines"})
    data = wire.call("events.get_task_log", {"task": "t1", "batch_size": 10})
    assert [e["msg"] for e in data["events"]] == ["newer", "older"] and data["total"] == 2
    assert [e["msg"] for e in wire.call("events.get_task_log", {"task": "t1", "batch_size": 1})["events"]] == ["newer"]
    oldest_first = wire.call("events.get_task_log", {"task": "t1", "navigate_earlier": False})["events"]
    assert [e["msg"] for e in oldest_first] == ["older", "newer"]


def test_watchdog_force_stops_running_tasks_silent_for_two_hours(wire, clearml):
    silent = clearml.state.create_task("silent", status="in_progress")
    reporting = clearml.state.create_task("reporting", status="in_progress")
    now = clearml.clock()
    clearml.clock = lambda: now + 7000
    wire.call("workers.status_report", {"worker": "w", "task": reporting, "timestamp": 1})
    clearml.clock = lambda: now + 7300
    wire.call("queues.get_all")
    stored = clearml.state.task(silent)
    assert (stored["status"], stored["status_reason"]) == ("stopped", "Forced stop (non-responsive)")
    assert clearml.state.task(reporting)["status"] == "in_progress"


def test_projects_resolve_names_and_tasks_need_an_existing_project(wire, clearml):
    pid = wire.call("projects.create", {"name": "vision/detection"})["id"]
    assert wire.call("projects.get_all", {"id": [pid], "only_fields": ["id", "name"]}) == {
        "projects": [{"id": pid, "name": "vision/detection"}]
    }
    task = new_task(wire, project=pid)
    assert clearml.state.task(task)["project"] == pid
    assert wire.error("tasks.create", {"name": "orphan", "type": "training", "project": "nope"})[:2] == (400, 401)
