"""The simulated kubelet: pod phases on a fast clock, image pull failures, logs and the NCCL /dev/shm failure.

Everything is observed through the emulator's HTTP API with the plugin's own Kubernetes adapter.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubectl_clearml.core.shm import find_shm_failures
from tests.sandbox.cluster_helpers import condition, events_for, node, pod, wait_for

RUN = "sandbox.kubectl-clearml/run-seconds"
EXIT = "sandbox.kubectl-clearml/exit-code"


@pytest.fixture
def gpu_cluster(make_world: Any) -> Any:
    handle = make_world(seed=False)
    handle.store.add("nodes", node("gpu-1", gpus=8))
    return handle


def _phase(client: Any, name: str) -> str:
    return str(client.get("pods", name, "default")["status"].get("phase"))


def _container_state(client: Any, name: str) -> dict[str, Any]:
    statuses = client.get("pods", name, "default")["status"].get("containerStatuses") or [{}]
    return dict(statuses[0].get("state") or {})


def _observed_phases(handle: Any, name: str) -> tuple[list[str], Any]:
    """Every phase the pod went through, from the store's change feed (no polling gaps)."""
    seen: list[str] = []

    def record(event_type: str, resource: str, obj: dict[str, Any]) -> None:
        if resource == "pods" and obj.get("metadata", {}).get("name") == name:
            phase = (obj.get("status") or {}).get("phase")
            if phase and (not seen or seen[-1] != phase):
                seen.append(phase)

    return seen, handle.store.subscribe(record)


def test_pod_goes_pending_running_succeeded_with_events_and_status(gpu_cluster: Any) -> None:
    client = gpu_cluster.client("default")
    phases, unsubscribe = _observed_phases(gpu_cluster, "job")
    client.create("pods", pod("job", limits={"nvidia.com/gpu": 1}, annotations={RUN: "10"}), "default")

    wait_for(lambda: _phase(client, "job") == "Succeeded", what="Succeeded")
    unsubscribe()

    assert phases == ["Pending", "Running", "Succeeded"]
    terminated = _container_state(client, "job")["terminated"]
    assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"
    assert terminated["startedAt"] <= terminated["finishedAt"]
    ready = condition(client.get("pods", "job", "default"), "Ready")
    assert ready is not None and ready["status"] == "False" and ready["reason"] == "PodCompleted"
    reasons = [e["reason"] for e in events_for(client, "job", "default")]
    assert reasons[:1] == ["Scheduled"]
    assert {"Pulling", "Pulled", "Created", "Started"} <= set(reasons)
    log = client.pod_log("job", "default")
    assert "started on gpu-1" in log and "Done" in log


def test_running_pod_reports_running_state_until_its_time_is_up(make_world: Any) -> None:
    handle = make_world(seed=False, time_scale=20.0)
    handle.store.add("nodes", node("cpu-1"))
    client = handle.client("default")
    client.create("pods", pod("slow", annotations={RUN: "30"}), "default")  # 1.5 s real

    wait_for(lambda: _phase(client, "slow") == "Running", what="Running")
    state = _container_state(client, "slow")
    assert "running" in state and state["running"]["startedAt"]
    assert condition(client.get("pods", "slow", "default"), "Ready")["status"] == "True"
    wait_for(lambda: _phase(client, "slow") == "Succeeded", what="Succeeded")


def test_exit_code_from_env_makes_the_pod_fail(gpu_cluster: Any) -> None:
    client = gpu_cluster.client("default")
    env = [{"name": "SANDBOX_RUN_SECONDS", "value": "3"}, {"name": "SANDBOX_EXIT_CODE", "value": "3"}]
    client.create("pods", pod("crash", container={"env": env}), "default")

    wait_for(lambda: _phase(client, "crash") == "Failed", what="Failed")
    terminated = _container_state(client, "crash")["terminated"]
    assert terminated["exitCode"] == 3 and terminated["reason"] == "Error"
    assert "exit code 3" in client.pod_log("crash", "default")


def test_missing_image_gives_err_image_pull_then_back_off(gpu_cluster: Any) -> None:
    client = gpu_cluster.client("default")
    image = "registry.example.com/team/does-not-exist:1.0"
    client.create("pods", pod("ghost", image=image), "default")

    waiting = wait_for(
        lambda: (
            (_container_state(client, "ghost").get("waiting") or {}).get("reason") == "ImagePullBackOff"
            and _container_state(client, "ghost")["waiting"]
        ),
        what="ImagePullBackOff",
    )
    assert waiting["message"] == f'Back-off pulling image "{image}"'
    assert _phase(client, "ghost") == "Pending"
    messages = [(e["reason"], e["message"]) for e in events_for(client, "ghost", "default")]
    assert ("Failed", "Error: ErrImagePull") in messages
    assert ("Failed", "Error: ImagePullBackOff") in messages
    assert ("BackOff", f'Back-off pulling image "{image}"') in messages
    pull_failure = next(m for r, m in messages if r == "Failed" and m.startswith("Failed to pull image"))
    assert f'"{image}"' in pull_failure and "not found" in pull_failure


def test_failing_image_patterns_are_configurable(make_world: Any) -> None:
    handle = make_world(seed=False, failing_images=("*:broken",))
    handle.store.add("nodes", node("cpu-1"))
    client = handle.client("default")
    client.create("pods", pod("fine", image="example.com/does-not-exist:1", annotations={RUN: "1"}), "default")
    client.create("pods", pod("broken", image="example.com/app:broken"), "default")

    wait_for(lambda: _phase(client, "fine") == "Succeeded", what="the default pattern no longer applies")
    wait_for(
        lambda: (
            (_container_state(client, "broken").get("waiting") or {}).get("reason")
            in ("ErrImagePull", "ImagePullBackOff")
        ),
        what="the configured pattern fails the pull",
    )


def _two_gpu_pod(name: str, *, shm: dict[str, Any] | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    container: dict[str, Any] = {}
    if shm is not None:
        extra["volumes"] = [{"name": "dshm", "emptyDir": shm}]
        container["volumeMounts"] = [{"name": "dshm", "mountPath": "/dev/shm"}]
    return pod(name, limits={"nvidia.com/gpu": 2}, annotations={RUN: "10"}, container=container, **extra)


def test_two_gpu_pod_without_dev_shm_dies_in_nccl(gpu_cluster: Any) -> None:
    client = gpu_cluster.client("default")
    client.create("pods", _two_gpu_pod("ddp"), "default")

    wait_for(lambda: _phase(client, "ddp") == "Failed", what="Failed")
    assert _container_state(client, "ddp")["terminated"]["exitCode"] == 1
    log = client.pod_log("ddp", "default")
    assert "NCCL WARN Error while creating shared memory segment /dev/shm/nccl-" in log
    # The plugin's own detector (shm-fix --check) recognises it.
    assert [m.pattern for m in find_shm_failures(log)] == ["nccl-shm-create"]


def test_two_gpu_pod_with_memory_dev_shm_succeeds(gpu_cluster: Any) -> None:
    client = gpu_cluster.client("default")
    client.create("pods", _two_gpu_pod("ddp-shm", shm={"medium": "Memory", "sizeLimit": "16Gi"}), "default")

    wait_for(lambda: _phase(client, "ddp-shm") == "Succeeded", what="Succeeded")
    log = client.pod_log("ddp-shm", "default")
    assert "NCCL WARN" not in log
    assert _container_state(client, "ddp-shm")["terminated"]["exitCode"] == 0


def test_a_tiny_memory_dev_shm_still_fails_and_one_gpu_never_does(gpu_cluster: Any) -> None:
    client = gpu_cluster.client("default")
    client.create("pods", _two_gpu_pod("tiny-shm", shm={"medium": "Memory", "sizeLimit": "64Mi"}), "default")
    client.create("pods", pod("single", limits={"nvidia.com/gpu": 1}, annotations={RUN: "2"}), "default")

    wait_for(lambda: _phase(client, "tiny-shm") == "Failed", what="Failed")
    assert "failed to extend /dev/shm/nccl-" in client.pod_log("tiny-shm", "default")
    wait_for(lambda: _phase(client, "single") == "Succeeded", what="Succeeded")


def test_deleted_pod_is_forgotten_and_the_cluster_keeps_running(gpu_cluster: Any) -> None:
    client = gpu_cluster.client("default")
    client.create("pods", pod("long", annotations={RUN: "inf"}), "default")
    wait_for(lambda: _phase(client, "long") == "Running", what="Running")
    client.delete("pods", "long", "default")
    client.create("pods", pod("after", annotations={RUN: "1"}), "default")
    wait_for(lambda: _phase(client, "after") == "Succeeded", what="Succeeded")
    assert gpu_cluster.cluster.running and gpu_cluster.cluster.error is None


def test_cluster_stops_cleanly(make_world: Any) -> None:
    handle = make_world(seed=False)
    cluster = handle.cluster
    assert cluster.running
    cluster.stop()
    assert not cluster.running


def test_failed_container_with_fallback_to_logs_reports_its_log_tail(gpu_cluster: Any) -> None:
    client = gpu_cluster.client("default")
    spec = _two_gpu_pod("ddp-msg")
    spec["spec"]["containers"][0]["terminationMessagePolicy"] = "FallbackToLogsOnError"
    client.create("pods", spec, "default")

    wait_for(lambda: _phase(client, "ddp-msg") == "Failed", what="Failed")
    message = _container_state(client, "ddp-msg")["terminated"]["message"]
    assert "NCCL WARN Error while creating shared memory segment" in message
    assert message.endswith("exit code 1")
