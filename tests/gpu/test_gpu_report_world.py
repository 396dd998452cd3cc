"""gpu-report against the sandbox's demo world (live enterprise agent install, ClearML queues and tasks).

The world (kubectl_clearml/sandbox/seeds): gpu-a100-1/2 with 8 x A100-SXM4-40GB each; gpu-a100-mig-1 with
4 A100s in MIG mixed (14 x 1g.5gb, 4 x 3g.20gb); gpu-t4-1/2 with 4 x Tesla-T4 each; cpu-1; cpu-2 tainted
dedicated=system:NoSchedule. Running: train-vit-b16 (1xGPU: 1 GPU) and pretrain-gpt-small (GPUshm: 2 GPUs)
on gpu-a100-1, sweep-xgboost (red) on cpu-1, jupyter-alice (1 GPU, requests 8Gi) on gpu-t4-1,
triton-mig-0 (2 x 1g.5gb) on the MIG node. Queued in ClearML: red 2, blue 1, green 1, 1xGPU 3, 2xGPU 2,
GPUshm 1. Every task pod template limits memory to 1Gi (green: 2Gi); the dashboard setting is 24.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tests.gpu.builders import GPU, pod
from tests.helpers import run_cli


def report(world: Any, *args: str) -> Any:
    result = run_cli(["gpu-report", "-n", "clearml", *args, "-o", "json"], env=world.env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_demo_world_numbers(world: Any) -> None:
    doc = report(world)
    products = {p["product"]: p for p in doc["products"]}
    # A100: 16 allocatable, 1 + 2 requested on gpu-a100-1; the largest block is the idle gpu-a100-2.
    a100 = products["A100-SXM4-40GB"]
    assert (a100["allocatable"], a100["requested"], a100["free"], a100["largestFreeBlock"]) == (16, 3, 13, 8)
    assert a100["largestFreeBlockNode"] == "gpu-a100-2"
    t4 = products["Tesla-T4"]
    assert (t4["allocatable"], t4["requested"], t4["free"], t4["largestFreeBlock"]) == (8, 1, 7, 4)
    mig = products["A100-SXM4-40GB-MIG-1g.5gb"]
    assert (mig["allocatable"], mig["requested"], mig["free"]) == (14, 2, 12)
    assert products["A100-SXM4-40GB-MIG-3g.20gb"]["free"] == 4

    # 8 + 8 + 4 (MIG, from gpu.count) + 4 + 4 = 28 physical GPUs; the dashboard says 24.
    cluster = doc["cluster"]
    assert (cluster["physicalGpus"], cluster["dashboardReportMaxGpu"]) == (28, 24)
    assert cluster["dashboardReportMaxGpuKey"] == "agentk8sglue.orchestrationDashboard.gpu.reportMax"
    assert (
        "is below the cluster's 28 GPUs (24 allocatable as nvidia.com/gpu, 4 partitioned or shared)"
        in (cluster["dashboardCheck"])
    )

    queues = {q["name"]: q for q in doc["queues"]}
    assert list(queues) == ["red", "blue", "green", "1xGPU", "2xGPU", "GPUshm"]
    gpu_nodes = ["gpu-a100-1", "gpu-a100-2", "gpu-t4-1", "gpu-t4-2"]
    # Free nvidia.com/gpu: a100-1 5, a100-2 8, t4-1 3, t4-2 4.
    assert (queues["1xGPU"]["fitNow"], queues["1xGPU"]["eligibleNodes"]) == (5 + 8 + 3 + 4, gpu_nodes)
    assert queues["2xGPU"]["fitNow"] == 2 + 4 + 1 + 2
    assert queues["GPUshm"]["fitNow"] == 9
    # CPU queues: every node but the tainted cpu-2; pod slots (110 minus pods there) or memory bound:
    # cpu-1 has 60Gi with 1Gi used -> 59; a100-1 108 slots; a100-2 110; MIG node 109; t4-1 109; t4-2 110.
    assert queues["red"]["fitNow"] == 59 + 108 + 110 + 109 + 109 + 110
    assert "cpu-2" not in queues["red"]["eligibleNodes"] and len(queues["red"]["eligibleNodes"]) == 6
    # green asks 2Gi: cpu-1 59Gi // 2 = 29; t4-1 (180 - 8)Gi // 2 = 86; t4-2 180 // 2 = 90.
    assert queues["green"]["fitNow"] == 29 + 108 + 110 + 109 + 86 + 90
    pending = {name: q["pendingTasks"] for name, q in queues.items()}
    assert pending == {"red": 2, "blue": 1, "green": 1, "1xGPU": 3, "2xGPU": 2, "GPUshm": 1}
    running = {name: q["runningPods"] for name, q in queues.items()}
    assert running == {"red": 1, "blue": 0, "green": 0, "1xGPU": 1, "2xGPU": 0, "GPUshm": 1}
    assert {q["verdict"] for q in queues.values()} == {"OK"}
    assert queues["2xGPU"]["why"] == "room for 9 more pod(s) on 4 of 4 eligible node(s); 2 task(s) queued"


RUN_FOREVER = {"sandbox.kubectl-clearml/run-seconds": "inf"}  # the simulated kubelet never ends these


def hog(world: Any, name: str, node: str, gpus: int, *, forever: bool = True) -> None:
    obj = pod(name, {GPU: gpus}, node_name=node)
    obj["metadata"]["namespace"] = "research"
    if forever:
        obj["metadata"]["annotations"] = dict(RUN_FOREVER)
    # Multi-GPU pods without a Memory /dev/shm die in NCCL in the sandbox, as on a real cluster.
    obj["spec"]["containers"][0]["env"] = [{"name": "NCCL_SHM_DISABLE", "value": "1"}]
    world.kube.store.add(obj)


def test_demo_world_when_the_gpus_fill_up(world: Any) -> None:
    # Someone else's jobs take gpu-a100-2 whole, 4 GPUs on gpu-a100-1 and 3 on gpu-t4-2.
    hog(world, "hog-a", "gpu-a100-2", 8)
    hog(world, "hog-b", "gpu-a100-1", 4)
    hog(world, "hog-c", "gpu-t4-2", 3)
    queues = {q["name"]: q for q in report(world, "--by", "queue")["items"]}
    # Free now: a100-1 5 - 4 = 1, a100-2 0, t4-1 3, t4-2 1.
    assert queues["1xGPU"]["fitNow"] == 1 + 0 + 3 + 1
    assert (queues["2xGPU"]["verdict"], queues["2xGPU"]["fitNow"]) == ("OK", 1)  # only gpu-t4-1 has 2 free
    assert queues["2xGPU"]["fitByNode"] == {"gpu-t4-1": 1}
    hog(world, "hog-d", "gpu-t4-1", 2)  # t4-1: 1 free
    queues = {q["name"]: q for q in report(world, "--by", "queue")["items"]}
    assert queues["2xGPU"]["verdict"] == "WAITING FOR GPUS"
    assert queues["2xGPU"]["why"] == (
        "needs 2 nvidia.com/gpu per pod, at most 1 free on one eligible node (gpu-a100-1); 2 task(s) queued"
    )
    nodes = {(r["name"], r["resource"]): r for r in report(world, "--by", "node")["items"]}
    a100 = nodes[("gpu-a100-1", GPU)]
    assert (a100["requested"], a100["requestedByClearml"], a100["requestedByOthers"]) == (7, 3, 4)


def test_demo_world_finished_pods_give_their_gpus_back(world: Any) -> None:
    hog(world, "short-job", "gpu-a100-2", 8, forever=False)  # the kubelet ends it after a simulated 30 s
    deadline = time.monotonic() + 20
    while (world.kube.store.get("pods", "short-job", "research") or {}).get("status", {}).get("phase") != "Succeeded":
        assert time.monotonic() < deadline, "the simulated kubelet never finished the pod"
        time.sleep(0.05)
    nodes = {(r["name"], r["resource"]): r for r in report(world, "--by", "node")["items"]}
    assert nodes[("gpu-a100-2", GPU)]["requested"] == 0


def test_demo_world_pending_task_pod_shows_the_schedulers_message(world: Any) -> None:
    # A 2xGPU task pod that asks for 16 GPUs (someone edited it by hand): no node has that many.
    stuck = pod("clearml-id-stuck", {GPU: 16}, queue="2xgpu", phase="Pending")
    stuck["metadata"]["namespace"] = "clearml"
    world.kube.store.add(stuck)
    deadline = time.monotonic() + 20
    while True:
        conditions = (world.kube.store.get("pods", "clearml-id-stuck", "clearml") or {}).get("status", {})
        scheduled = [c for c in conditions.get("conditions") or () if c.get("type") == "PodScheduled"]
        if scheduled and scheduled[0].get("status") == "False":
            break
        assert time.monotonic() < deadline, "the simulated scheduler never looked at the pod"
        time.sleep(0.05)
    queues = {q["name"]: q for q in report(world, "--by", "queue")["items"]}
    (pending,) = queues["2xGPU"]["pendingPods"]
    assert pending["name"] == "clearml-id-stuck"
    # The scheduler's own words, read from the pod: 7 nodes, cpu-2 tainted, the 6 others short of GPUs.
    assert pending["reason"].startswith(
        "0/7 nodes are available: 1 node(s) had untolerated taint {dedicated: system}, 6 Insufficient nvidia.com/gpu."
    )
    assert pending["reason"] == scheduled[0]["message"]
    assert queues["2xGPU"]["verdict"] == "OK"  # the queue's own 2-GPU pods still fit
    assert queues["2xGPU"]["why"].endswith("2 task(s) queued, 1 task pod(s) pending")


def test_verbose_logs_the_http_calls_and_never_the_secret(world: Any, tmp_path: Any) -> None:
    # -v/-vv did nothing outside run-glue: logging was never configured. Run as a user does (real kubectl,
    # the plugin in a subprocess) so the logging set-up stays out of this test process.
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import pytest

    plugin_dir = Path(sys.executable).parent
    if shutil.which("kubectl") is None or not (plugin_dir / "kubectl-clearml").exists():
        pytest.skip("kubectl or the installed plugin missing")
    env = {"PATH": f"{plugin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(tmp_path), **world.env}
    run = subprocess.run(
        ["kubectl", "clearml", "gpu-report", "--by", "queue", "-vv"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert " DEBUG kubectl_clearml.clearml: POST " in run.stderr and "/queues.get_all -> 200" in run.stderr
    assert world.clearml.secret_key not in run.stdout + run.stderr
    quiet = subprocess.run(
        ["kubectl", "clearml", "gpu-report", "--by", "queue"], env=env, capture_output=True, text=True
    )
    assert "DEBUG" not in quiet.stderr
