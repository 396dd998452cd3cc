"""run-glue --fit-check on the sandbox's simulated cluster: a task is taken only when its pod can run now."""

from __future__ import annotations

import collections
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_clearml.glue.fit_gate import FitOptions
from tests.glue.glue_harness import Harness, wait_for
from tests.sandbox.cluster_helpers import node

NS = "clearml"
GPU = "nvidia.com/gpu"
RUN_FOREVER = {"sandbox.kubectl-clearml/run-seconds": "inf"}
NO_NCCL_SHM = [{"name": "NCCL_SHM_DISABLE", "value": "1"}]  # the sandbox fails multi-GPU pods without /dev/shm


def gpu_template(gpus: int, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"annotations": RUN_FOREVER},
        "spec": {"containers": [{"name": "task", "env": NO_NCCL_SHM, "resources": {"limits": {GPU: gpus}}}], **spec},
    }


@pytest.fixture
def cluster(make_world: Any, tmp_path: Path) -> Any:
    world = make_world(seed=False)
    kube = world.client(NS)
    kube.create("namespaces", {"metadata": {"name": NS}})
    kube.create("nodes", node("gpu-a", gpus=4, labels={"nvidia.com/gpu.product": "A100"}))
    harness = Harness(world.clearml, world.kube, tmp_path)
    yield kube, harness
    harness.stop_all()


def blocker(kube: Any, gpus: int) -> str:
    """A pod outside ClearML that holds GPUs until it is deleted."""
    body = {
        "metadata": {"name": f"blocker-{gpus}", "annotations": RUN_FOREVER},
        "spec": {"containers": [{"name": "x", "image": "busybox", "env": NO_NCCL_SHM,
                                 "resources": {"limits": {GPU: gpus}}}]},
    }
    kube.create("pods", body, NS)
    wait_for(lambda: (kube.get("pods", body["metadata"]["name"], NS).get("status") or {}).get("phase") == "Running",
             what="the blocker running")
    return str(body["metadata"]["name"])


def fit_engine(harness: Harness, templates: dict[str, Any], **options: Any) -> Any:
    return harness.start(
        harness.engine(["train"], templates=templates, fit_check=True, fit_options=FitOptions(**options))
    )


def test_a_task_that_does_not_fit_waits_at_the_head_and_starts_when_gpus_free(cluster: Any) -> None:
    kube, harness = cluster
    harness.queue("train")
    held = blocker(kube, 2)
    task = harness.task("big", "train")
    engine = fit_engine(harness, {"train": gpu_template(4)})
    message = "waiting for GPUs: needs 4 nvidia.com/gpu per pod, at most 2 free on one eligible node (gpu-a)"
    wait_for(lambda: harness.status(task)[2] == message, what="the waiting message")
    assert harness.entries("train") == [task] and harness.pod_of(task) is None
    # The gauge is set right after the message is written: the test may look in between.
    wait_for(lambda: engine.metrics.get("clearml_glue_tasks_waiting_fit") == 1, what="the waiting gauge at 1")
    kube.delete("pods", held, NS)
    wait_for(lambda: harness.pod_of(task), timeout=10, what="the task's pod once the GPUs are free")
    wait_for(lambda: harness.entries("train") == [], what="the entry taken out of the queue")
    # The waiting message is replaced (by the launch message, then by what the pod and its agent report).
    wait_for(lambda: harness.status(task)[2] != message, what="the waiting message replaced")


def test_queue_order_holds_without_backfill_and_backfill_is_bounded(cluster: Any) -> None:
    kube, harness = cluster
    harness.queue("train")
    blocker(kube, 2)
    big = harness.task("big", "train", image="big:1")
    smalls = [harness.task(f"small-{i}", "train") for i in range(3)]
    templates = {"train": gpu_template(1)}

    def build_for(task: dict[str, Any], queue: Any) -> Any:
        from kubectl_clearml.core import podbuilder

        template = gpu_template(4) if task["id"] == big else queue.template
        return podbuilder.build_task_pod(task, podbuilder.QueueRef(queue.id, queue.name), template,
                                         engine.settings.pod_settings)

    engine = harness.engine(["train"], templates=templates, fit_check=True, fit_options=FitOptions())
    engine.dispatcher.build = build_for
    harness.start(engine)
    wait_for(lambda: harness.status(big)[2].startswith("waiting for GPUs"), what="the head waiting")
    assert all(harness.pod_of(t) is None for t in smalls), "FIFO: nothing passes the waiting head"
    harness.stop(engine)

    engine = harness.engine(["train"], templates=templates, fit_check=True,
                            fit_options=FitOptions(backfill=True, backfill_limit=1))
    engine.dispatcher.build = build_for
    harness.start(engine)
    wait_for(lambda: harness.pod_of(smalls[0]), what="one small task backfilled")
    wait_for(lambda: engine.summary.rounds > 5, what="more rounds")
    assert harness.pod_of(smalls[1]) is None and harness.pod_of(smalls[2]) is None, "at most 1 passes the head"
    assert harness.entries("train") == [big, smalls[1], smalls[2]]


def test_a_task_no_node_can_take_fails_after_the_grace_period(cluster: Any) -> None:
    _kube, harness = cluster
    harness.queue("train")
    task = harness.task("pinned", "train")
    template = gpu_template(1, nodeSelector={"pool": "h100"})
    fit_engine(harness, {"train": template}, unschedulable_after=0.5)
    wait_for(lambda: harness.status(task)[2].startswith("no eligible node: 0/1 nodes are available"),
             what="the no-eligible-node message")
    _, reason, _ = wait_for(lambda: (s := harness.status(task))[0] == "failed" and s, timeout=10,
                                 what="the task failed after the grace period")
    assert "no eligible node" in reason and "--unschedulable-after" in reason
    wait_for(lambda: harness.entries("train") == [], what="the failed task out of its queue")
    assert harness.pod_of(task) is None


def test_allow_autoscale_launches_a_task_that_does_not_fit_and_says_so(cluster: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="kubectl_clearml.glue.dispatch")
    _kube, harness = cluster
    harness.queue("train")
    task = harness.task("wants-8", "train")
    fit_engine(harness, {"train": gpu_template(8)}, allow_autoscale=True)
    wait_for(lambda: harness.pod_of(task), what="the pod launched for the autoscaler")
    # The launch message says why a pod that cannot be scheduled was created (the tracker then reports the
    # scheduler's pending reason in its place).
    wait_for(lambda: any("launched for the cluster autoscaler (no eligible node: 0/1 nodes" in r.getMessage()
                         for r in caplog.records), what="the autoscale note")


def test_two_tasks_that_fit_one_at_a_time_are_not_both_launched(cluster: Any) -> None:
    _kube, harness = cluster
    harness.queue("train")
    first, second = harness.task("a", "train"), harness.task("b", "train")
    fit_engine(harness, {"train": gpu_template(3)})
    wait_for(lambda: harness.pod_of(first), what="the first pod")
    wait_for(lambda: harness.status(second)[2].startswith("waiting for GPUs"), what="the second waiting")
    assert harness.pod_of(second) is None  # the first pod's 3 GPUs were reserved before it was even bound


def test_a_sigkill_in_a_scarce_world_launches_nothing_twice_and_strands_nothing(cluster: Any, tmp_path: Path) -> None:
    """12 tasks of 2 GPUs on 4 GPUs: the glue (a real process, --fit-check) is killed mid-run and restarted."""
    _, harness = cluster
    harness.queue("train")
    tasks = [harness.task(f"t{i}", "train") for i in range(12)]
    created: collections.Counter[str] = collections.Counter()
    unschedulable: set[str] = set()

    def watch(kind: str, plural: str, obj: dict[str, Any]) -> None:
        if plural != "pods":
            return
        name = obj["metadata"]["name"]
        if kind == "ADDED":
            created.update([name])
        for cond in (obj.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("reason") == "Unschedulable":
                unschedulable.add(name)

    unsubscribe = harness.kube_emu.store.subscribe(watch)
    template = tmp_path / "template.yaml"
    short = gpu_template(2)
    short["metadata"]["annotations"] = {"sandbox.kubectl-clearml/run-seconds": "40"}  # 0.2 s at 200x
    template.write_text(yaml.safe_dump(short))
    env = {**os.environ, "KUBECONFIG": harness.kubeconfig, "HOME": str(tmp_path), "CLEARML_API_HOST": harness.emu.url,
           "CLEARML_API_ACCESS_KEY": harness.emu.access_key, "CLEARML_API_SECRET_KEY": harness.emu.secret_key}
    argv = [sys.executable, "-m", "kubectl_clearml", "run-glue", "-n", NS, "--queue", "train", "--template",
            str(template), "--fit-check", "--poll-interval", "0.05", "--worker-id", "fit-soak"]

    def glue() -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    first = glue()
    try:
        wait_for(lambda: len(created) >= 3, timeout=30, what="a few launches before the kill")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = glue()
        try:
            wait_for(lambda: all(harness.status(t)[0] == "completed" for t in tasks), timeout=60,
                     what="every task completed after the restart")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
        unsubscribe()
    assert sorted(created) == sorted(f"clearml-id-{t}" for t in tasks)
    assert set(created.values()) == {1}, "a pod was created twice"
    assert unschedulable == set(), "the fit check launched a pod that could not be scheduled"
    assert harness.entries("train") == []


def test_dry_run_shows_which_heads_would_wait_and_changes_nothing(cluster: Any, tmp_path: Path) -> None:
    kube, harness = cluster
    harness.queue("train")
    blocker(kube, 2)
    tasks = [harness.task(f"t{i}", "train") for i in range(2)]
    template = tmp_path / "template.yaml"
    template.write_text(yaml.safe_dump(gpu_template(2)))
    from tests.helpers import run_cli

    env = {"KUBECONFIG": harness.kubeconfig, "CLEARML_API_HOST": harness.emu.url,
           "CLEARML_API_ACCESS_KEY": harness.emu.access_key, "CLEARML_API_SECRET_KEY": harness.emu.secret_key}
    result = run_cli(["run-glue", "-n", NS, "--queue", "train", "--template", str(template), "--fit-check",
                      "--dry-run", "-o", "json"], env, home=str(tmp_path))
    assert result.exit_code == 0, result.stderr
    rows = yaml.safe_load(result.stdout)["items"]
    assert [r["action"] for r in rows] == [
        "launch",
        "wait (waiting for GPUs: needs 2 nvidia.com/gpu per pod, at most 0 free on one eligible node)",
    ]
    assert harness.entries("train") == tasks and all(harness.status(t)[2] == "" for t in tasks)


def test_by_default_the_check_is_on_where_it_can_judge(cluster: Any) -> None:
    kube, harness = cluster
    harness.queue("train")
    blocker(kube, 2)
    task = harness.task("big", "train")
    harness.start(harness.engine(["train"], templates={"train": gpu_template(4)}, fit_check=None))
    wait_for(lambda: harness.status(task)[2].startswith("waiting for GPUs"), what="the default check holding it")
    assert harness.pod_of(task) is None


def test_by_default_the_check_is_off_where_no_node_is_seen(make_world: Any, tmp_path: Path, caplog: Any) -> None:
    bare = make_world(seed=False)  # a cluster with no node: nothing to judge against, so pop as the reference
    bare.client(NS).create("namespaces", {"metadata": {"name": NS}})
    harness = Harness(bare.clearml, bare.kube, tmp_path)
    harness.queue("train")
    task = harness.task("any", "train")
    harness.start(harness.engine(["train"], templates={"train": gpu_template(1)}, fit_check=None))
    try:
        wait_for(lambda: harness.pod_of(task), what="the pod launched without a check")
    finally:
        harness.stop_all()
    assert any("fit check off: no node is visible" in r.getMessage() for r in caplog.records)
