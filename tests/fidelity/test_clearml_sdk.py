"""Issue 13 items 9 and 10, with the official clearml SDK (2.1.12) against the ClearML emulator."""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

from clearml.backend_api.session.client import APIClient, StrictSession

NO_RETRIES = {"total": 0, "connect": 0, "read": 0, "redirect": 0, "status": 0, "backoff_factor": 0}


def client_for(emulator: Any) -> APIClient:
    session = StrictSession(api_key=emulator.access_key, secret_key=emulator.secret_key, host=emulator.url,
                            http_retries_config=dict(NO_RETRIES))
    return APIClient(session=session)


def status(api: APIClient, task_id: str) -> str:
    value = api.tasks.get_by_id(task=task_id).status
    return str(getattr(value, "value", value))  # the SDK parses it into TaskStatusEnum


def until(what: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


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
