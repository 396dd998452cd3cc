"""Task pods built by the plugin's pod builder run in the seeded world and report to ClearML as the
in-pod clearml_agent would: in_progress when the container starts, completed or failed when it exits."""

from __future__ import annotations

from typing import Any

import yaml

from kubectl_clearml.adapters.clearml import ClearmlClient
from kubectl_clearml.adapters.credentials import Credentials
from kubectl_clearml.core.podbuilder import GlueSettings, QueueRef, build_task_pod
from tests.sandbox.cluster_helpers import wait_for


def _launch_next(world: Any, api: ClearmlClient, queue: str) -> str:
    """What the glue does for one task: pop it, build its pod from the queue's template, create the pod."""
    client = world.client("clearml")
    queue_id = world.world.queue_ids[queue]
    task_id = api.call("queues.get_next_task", {"queue": queue_id})["entry"]["task"]
    task = api.call("tasks.get_by_id", {"task": task_id})["task"]
    templates = yaml.safe_load(client.get("configmaps", "clearml-agent-pt", "clearml")["data"]["template.yaml"])
    settings = GlueSettings(
        worker_id="clearml-agent",
        api_host=world.clearml.url,
        credentials_secret="clearml-agent-ac",
        namespace="clearml",
    )
    built = build_task_pod(task, QueueRef(queue_id, queue), templates[queue], settings)
    client.create("pods", built.manifest, "clearml")
    return task_id


def _status(api: ClearmlClient, task_id: str) -> str:
    return str(api.call("tasks.get_by_id", {"task": task_id})["task"]["status"])


def test_task_pods_report_their_outcome_to_clearml(world: Any) -> None:
    server = world.clearml
    api = ClearmlClient(Credentials(server.url, server.access_key, server.secret_key), retries=0)
    # 2xGPU's head asks for --shm-size, which the pod builder turns into a Memory /dev/shm: it succeeds.
    # The next one has no /dev/shm on a 2-GPU queue without one: NCCL kills it.
    llama = _launch_next(world, api, "2xGPU")
    mistral = _launch_next(world, api, "2xGPU")
    vit = _launch_next(world, api, "1xGPU")

    assert wait_for(lambda: _status(api, llama) == "completed" or None, what="llama completed")
    assert wait_for(lambda: _status(api, mistral) == "failed" or None, what="mistral failed")
    assert wait_for(lambda: _status(api, vit) == "completed" or None, what="1xGPU task completed")
    failed = api.call("tasks.get_by_id", {"task": mistral})["task"]
    assert failed["status_reason"] == "process exited with code 1"
    log = world.client("clearml").pod_log(f"clearml-id-{mistral}", "clearml")
    assert "NCCL WARN Error while creating shared memory segment" in log


def test_aborted_task_is_not_overwritten_by_its_pod(make_world: Any) -> None:
    world = make_world(time_scale=20.0)  # the pod runs 1.5 s: time to abort it
    server = world.clearml
    api = ClearmlClient(Credentials(server.url, server.access_key, server.secret_key), retries=0)
    task_id = _launch_next(world, api, "red")
    client = world.client("clearml")
    wait_for(
        lambda: client.get("pods", f"clearml-id-{task_id}", "clearml")["status"].get("phase") == "Running",
        what="Running",
    )
    wait_for(lambda: _status(api, task_id) == "in_progress" or None, what="in_progress")
    api.call("tasks.stopped", {"task": task_id, "force": True})

    wait_for(
        lambda: client.get("pods", f"clearml-id-{task_id}", "clearml")["status"].get("phase") == "Succeeded",
        what="the pod finishing",
    )
    assert _status(api, task_id) == "stopped"


def test_in_pod_agent_can_be_switched_off(make_world: Any) -> None:
    handle = make_world(in_pod_agent=False)
    server = handle.clearml
    api = ClearmlClient(Credentials(server.url, server.access_key, server.secret_key), retries=0)
    task_id = _launch_next(handle, api, "blue")
    client = handle.client("clearml")
    wait_for(
        lambda: client.get("pods", f"clearml-id-{task_id}", "clearml")["status"].get("phase") == "Succeeded",
        what="the pod finishing",
    )
    assert _status(api, task_id) == "queued"  # popped, never started: nobody reported
