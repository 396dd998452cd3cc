"""`kubectl clearml why TASK_ID` end to end over HTTP against the emulators: one test per verdict.

The default world has a running task and a task stranded in k8s_scheduler; the troubles world
(seeds/troubles.py) has one task for every other verdict.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.helpers import run_cli

DEADLINE = 20.0  # seconds of real time for the simulated scheduler/kubelet to get a pod where a test wants it


def why(world, task_name: str, *args: str, prefix: int | None = None):
    task_id = world.world.task_ids[task_name]
    return run_cli(["why", task_id[:prefix] if prefix else task_id, *args], env=world.env, home=world.env.get("HOME"))


def verdict_of(world, task_name: str) -> dict:
    result = why(world, task_name, "-o", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def wait_for_verdict(world, task_name: str, start: str) -> dict:
    deadline = time.monotonic() + DEADLINE
    while True:
        found = verdict_of(world, task_name)
        if found["verdict"].startswith(start) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def evidence(document: dict) -> dict[str, str]:
    return {e["label"]: e["value"] for e in document["evidence"]}


@pytest.fixture
def troubles(make_world):
    return make_world(troubles=True)


def test_running(world):
    found = verdict_of(world, "train-vit-b16")
    assert found["verdict"] == "running" and found["settled"] is True
    assert evidence(found)["pod"].endswith("Running on gpu-a100-1")


def test_stranded_in_k8s_scheduler(world):
    result = why(world, "stranded-by-reference-glue")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "stranded in k8s_scheduler"
    assert "k8s_scheduler (position 1 of 1, enqueued 2d ago)" in result.stdout


def test_queued_queue_not_served(troubles):
    found = verdict_of(troubles, "etl-unserved-queue")
    assert found["verdict"] == "queued (position 1 of 1, queue not served)"
    assert evidence(found)["served"] == "no (the agent does not serve this queue)"
    assert "cpu-batch" in found["fix"]


def test_queued_waiting_for_gpus(troubles):
    found = verdict_of(troubles, "finetune-llama-7b-ddp")
    assert found["verdict"] == "queued (waiting for GPUs: largest free block 1, needs 2)"
    assert evidence(found)["gpu fit"].startswith("WAITING FOR GPUS: needs 2 nvidia.com/gpu per pod")
    lines = evidence(found)
    assert lines["eligible nodes"] == "none"  # right now: every GPU node has one GPU free
    assert lines["gpu-a100-1"] == "Insufficient nvidia.com/gpu"


def test_pod_pending_on_a_taint_with_node_fit(troubles):
    found = wait_for_verdict(troubles, "render-on-system-node", "pod pending: 0/7")
    assert found["verdict"] == ("pod pending: 0/7 nodes are available: 1 node(s) had untolerated taint "
                                "{dedicated: system}, 6 node(s) didn't match Pod's node affinity/selector.")
    lines = evidence(found)
    assert lines["eligible nodes"] == "none"
    assert "untolerated taint" in lines["cpu-2"] and "toleration" in found["fix"]


def test_image_pull_failed(troubles):
    found = wait_for_verdict(troubles, "nightly-report", "image pull failed")
    assert found["verdict"].startswith("image pull failed (ErrImagePull") or found["verdict"].startswith(
        "image pull failed (ImagePullBackOff")
    assert "report-does-not-exist" in found["verdict"]


def test_failed_nccl_shm(troubles):
    result = why(troubles, "finetune-mistral-7b-ddp")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "failed: exit 1 (NCCL /dev/shm too small)"
    assert any("Error while creating shared memory segment" in line for line in lines)
    assert "kubectl clearml shm-fix 2xGPU --live" in lines[-1]


def test_completed_and_aborted(troubles):
    assert verdict_of(troubles, "export-onnx-resnet50")["verdict"] == "completed"
    aborted = verdict_of(troubles, "sweep-lightgbm")
    assert aborted["verdict"] == "aborted (aborted by carol from the UI)" and aborted["settled"] is True
    assert evidence(aborted)["status reason"] == "aborted by carol from the UI"


def test_unique_prefix_resolves_and_an_ambiguous_one_suggests(world):
    assert verdict_of(world, "train-vit-b16")["task"] == world.world.task_ids["train-vit-b16"]
    ids = list(world.world.task_ids.values())
    unique = next(n for n in range(4, 32) if sum(i.startswith(ids[0][:n]) for i in ids) == 1)
    resolved = run_cli(["why", ids[0][:unique], "-o", "json"], env=world.env, home=world.env.get("HOME"))
    assert json.loads(resolved.stdout)["task"] == ids[0]
    shared = next((a[:n] for n in range(1, 4) for a in ids for b in ids if a != b and a[:n] == b[:n]), None)
    assert shared is not None
    ambiguous = run_cli(["why", shared], env=world.env, home=world.env.get("HOME"))
    assert ambiguous.exit_code == 2
    assert f"task id prefix '{shared}' is ambiguous: did you mean: " in ambiguous.stderr
    missing = run_cli(["why", "nightly-report"], env=world.env, home=world.env.get("HOME"))
    assert missing.exit_code == 3
    assert f"did you mean: {world.world.task_ids['nightly-report']} (nightly-report)" in missing.stderr


def test_watch_follows_a_task_until_it_runs(make_world):
    from kubectl_clearml.core.podbuilder import GlueSettings, QueueRef, build_task_pod

    world = make_world(time_scale=10.0, pull_seconds=5.0)  # half a second of image pull: a verdict to watch change
    task_id = world.world.task_ids["eval-resnet50"]
    install = world.world.install
    pod = build_task_pod(world.clearml.state.task(task_id), QueueRef(world.world.queue_ids["blue"], "blue"),
                         install.template_for("blue"), GlueSettings(worker_id=install.worker_id, namespace="clearml"))
    pod.manifest["spec"]["containers"][0]["image"] = "python:3.12-slim"  # on no node yet: the kubelet pulls it
    world.kube.store.add(pod.manifest)  # unbound: the simulated scheduler and kubelet take it from here
    result = why(world, "eval-resnet50", "--watch", "--interval", "0.1")
    assert result.exit_code == 0, result.stderr
    verdicts = [line.split(" ", 1)[1] for line in result.stdout.splitlines() if line[:2].isdigit()]
    assert verdicts[-1] == "running" and len(verdicts) >= 2, result.stdout


def test_queued_in_a_served_queue_no_worker_polls_then_one_does(world):
    from kubectl_clearml.adapters.clearml import ClearmlClient
    from kubectl_clearml.adapters.credentials import Credentials

    state = world.clearml.state
    with state.lock:  # the seeded agent's glue registered as a worker: make it one that has stopped
        state.workers.clear()
    found = verdict_of(world, "preprocess-imagenet-shard-02")
    assert found["verdict"] == "queued (position 2 of 2, no worker polls the queue)"
    assert "kubectl clearml doctor" in found["fix"]
    client = ClearmlClient(Credentials(world.clearml.url, world.clearml.access_key, world.clearml.secret_key))
    client.call("workers.register", {"worker": "clearml-agent", "queues": [world.world.queue_ids["red"]]})
    assert verdict_of(world, "preprocess-imagenet-shard-02")["verdict"] == "queued (position 2 of 2)"
