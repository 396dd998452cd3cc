"""Issue 13 items 9 and 10, with the official clearml SDK (2.1.12) against the ClearML emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from clearml.backend_api.session.client import APIClient, StrictSession

from tests.fidelity.conftest import until

NO_RETRIES = {"total": 0, "connect": 0, "read": 0, "redirect": 0, "status": 0, "backoff_factor": 0}


def client_for(emulator: Any) -> APIClient:
    session = StrictSession(api_key=emulator.access_key, secret_key=emulator.secret_key, host=emulator.url,
                            http_retries_config=dict(NO_RETRIES))
    return APIClient(session=session)


def status(api: APIClient, task_id: str) -> str:
    value = api.tasks.get_by_id(task=task_id).status
    return str(getattr(value, "value", value))  # the SDK parses it into TaskStatusEnum


def test_the_in_pod_agent_runs_a_reference_glue_pod(make_world: Any, tmp_path: Any) -> None:
    """Item 10: the reference glue labels no task id; its pod runs `clearml_agent execute ... --id <task>`
    (clearml-agent glue/k8s.py CONTAINER_BASH_SCRIPT) after moving the task to its k8s_scheduler queue."""
    world = make_world(flavour="oss")
    state = world.clearml.state
    existing = state.queue_by_name("k8s_scheduler")
    pending = existing["id"] if existing else state.create_queue("k8s_scheduler")
    task_id = state.create_task("reference glue job", queue="k8s_scheduler")
    script = (f"export CLEARML_CONFIG_FILE=/tmp/clearml.conf; python3 -m clearml_agent execute --full-monitoring "
              f"--require-queue --id {task_id}")
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": f"clearml-id-{task_id}", "namespace": "clearml",
                        "labels": {"CLEARML": "agent-0123abcd", "clearml-agent-queue": pending,
                                   "clearml-agent-queue-name": "k8s_scheduler"}},
           "spec": {"restartPolicy": "Never",
                    "containers": [{"name": "clearml-id-x", "image": "python:3.11", "command": ["bash"],
                                    "args": ["-c", script]}]}}
    env = {**os.environ, "KUBECONFIG": str(world.kubeconfig), "HOME": str(tmp_path)}
    created = subprocess.run(["kubectl", "apply", "-f", "-"], input=json.dumps(pod), capture_output=True,
                             text=True, env=env, timeout=60)
    assert created.returncode == 0, created.stderr
    api = client_for(world.clearml)
    assert until(lambda: status(api, task_id) in ("in_progress", "completed"))
    assert task_id not in [entry.task for entry in api.queues.get_by_id(queue=pending).entries]
    assert until(lambda: status(api, task_id) == "completed")


# Item 9: the SDK's everyday workflows, in a subprocess (the SDK's Task keeps process-wide state).
SDK_WORKFLOW = r"""
import json, sys
from clearml import Task
out = {}
out["get_tasks"] = sorted(t.name for t in Task.get_tasks(project_name="vision"))
source = Task.get_task(project_name="vision", task_name="train")
out["get_task"] = source.id
clone = Task.clone(source_task=source, name="train (clone)")
Task.enqueue(clone, queue_name="default")
out["clone"] = clone.id
clone.reload()
out["clone_status"] = str(clone.status)
draft = Task.clone(source_task=source, name="draft")
draft.set_packages(["numpy==1.26.4"])
out["uploaded"] = draft.upload_artifact("stats", {"rows": 3}, wait_on_upload=True)
draft.set_archived(True)
out["archived"] = draft.get_archived()
print(json.dumps(out))
"""


def test_sdk_workflows_clone_enqueue_query_upload_archive(clearml: Any, tmp_path: Any) -> None:
    state = clearml.state
    project = state.create_project("vision")
    state.create_task("train", project=project)
    state.create_task("eval", project=project)
    env = {**os.environ, **clearml.env(), "HOME": str(tmp_path), "CLEARML_OFFLINE_MODE": "0"}
    for key in ("CLEARML_CONFIG_FILE", "TRAINS_CONFIG_FILE"):
        env.pop(key, None)
    done = subprocess.run([sys.executable, "-c", SDK_WORKFLOW], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["get_tasks"] == ["eval", "train"]
    assert out["clone_status"] == "queued" and out["clone"] in state.queue_entries("default")
    assert state.task(out["clone"])["parent"] == out["get_task"]
    assert out["uploaded"] is True
    stored = [path for path in clearml.files._objects if "/artifacts/stats/" in path]
    assert len(stored) == 1 and json.loads(clearml.files.download(stored[0])) == {"rows": 3}
    assert out["archived"] is True


def test_task_and_project_endpoints_answer_in_the_server_schema(clearml: Any) -> None:
    api = client_for(clearml)
    state = clearml.state
    project = state.create_project("old")
    running = state.create_task("running", project=project, status="in_progress")
    draft = state.create_task("draft", project=project)
    state.events.append({"task": draft, "type": "log", "timestamp": 1, "msg": "hello", "worker": "w"})
    assert [e["msg"] for e in api.events.get_task_log(task=draft).events] == ["hello"]
    assert len(api.models.get_all()) == 0
    assert api.tasks.archive(tasks=[draft]).archived == 1
    deleted = api.tasks.delete_many(ids=[draft, running])
    assert [s["id"] for s in deleted.succeeded] == [draft] and deleted.succeeded[0]["deleted"] is True
    assert deleted.failed[0]["id"] == running and deleted.failed[0]["error"]["codes"] == [400, 110]
    with pytest.raises(Exception, match="project has associated tasks"):
        api.projects.delete(project=project)
    assert api.projects.delete(project=project, force=True).disassociated_tasks == 1
    assert state.task(running)["project"] is None and project not in state.projects
    api.workers.register(worker="w1", timeout=60)
    session = api.session
    session.send_request("workers", "set_runtime_properties", json={
        "worker": "w1", "runtime_properties": [{"key": "gpus", "value": "4"}]})
    answer = session.send_request("workers", "get_runtime_properties", json={"worker": "w1"})
    assert answer.json()["data"]["runtime_properties"] == [{"key": "gpus", "value": "4"}]


def test_queue_metrics_and_worker_stats_come_from_what_was_reported(clearml: Any) -> None:
    api = client_for(clearml)
    state = clearml.state
    queue = state.create_queue("gpu")
    state.create_task("waiting", queue="gpu")
    api.workers.register(worker="agent-1", queues=[queue], timeout=600)
    for cpu in (10.0, 30.0):
        api.workers.status_report(worker="agent-1", timestamp=int(time.time() * 1000),
                                  machine_stats={"cpu_usage": [cpu, cpu + 10], "gpu_usage": [50.0]})
    now = time.time()
    metrics = api.queues.get_queue_metrics(from_date=now - 600, to_date=now + 60, interval=600, queue_ids=[queue])
    assert [m.queue for m in metrics.queues] == [queue]
    assert metrics.queues[0].queue_lengths == [1] and metrics.queues[0].avg_waiting_times[0] >= 0
    stats = api.workers.get_stats(from_date=now - 600, to_date=now + 60, interval=600,
                                  items=[{"key": "cpu_usage", "category": "avg"},
                                         {"key": "cpu_usage", "category": "max"}])
    (worker,) = stats.workers
    assert worker.worker == "agent-1"
    (cpu,) = worker.metrics
    assert cpu.metric == "cpu_usage" and len(cpu.dates) == 1
    assert [(str(getattr(s.aggregation, "value", s.aggregation)), s.values) for s in cpu.stats] == [
        ("avg", [25.0]), ("max", [35.0])]
