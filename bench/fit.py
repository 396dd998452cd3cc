"""run-glue --fit-check on the sandbox's simulated cluster: its cost, and what it buys.

    python bench/fit.py [--tasks 1000] [--gpu-tasks 60] [--time-scale 100]

1. Throughput: --tasks CPU tasks on a cluster with room for all of them, fit check off and on
   (goal: on within 20% of off).
2. A scarce-GPU world (2 nodes x 8 GPUs; a mixed 1/2/8-GPU workload in one queue, each task 60 simulated
   seconds): pop-always (the reference's behaviour), --fit-check (FIFO) and --fit-check --backfill. Printed:
   Pending-unschedulable pods ever created (goal 0 with the check), makespan, and GPU utilisation (busy
   GPU-seconds / available GPU-seconds over the makespan, sampled every 20 ms): backfill must beat FIFO.
Each run starts its own emulators and simulated cluster in this process; the glue runs in a thread.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from kubectl_clearml.adapters.clearml import ClearmlClient
from kubectl_clearml.adapters.credentials import Credentials
from kubectl_clearml.adapters.kube_connect import connect
from kubectl_clearml.core import podbuilder
from kubectl_clearml.glue.engine import GlueEngine
from kubectl_clearml.glue.fit_gate import FitOptions
from kubectl_clearml.glue.setup import build_run_settings
from kubectl_clearml.sandbox.runner import Sandbox, SandboxOptions

NS = "clearml"
GPU = "nvidia.com/gpu"


def node(name: str, gpus: int, cpu: str = "64") -> dict[str, Any]:
    alloc = {"cpu": cpu, "memory": "512Gi", "pods": "250", GPU: str(gpus)}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {}, "status": {"capacity": dict(alloc), "allocatable": alloc,
                               "conditions": [{"type": "Ready", "status": "True"}]},
    }


def template(gpus: int, run_seconds: str) -> dict[str, Any]:
    limits = {GPU: gpus} if gpus else {"cpu": "100m", "memory": "64Mi"}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"annotations": {"sandbox.kubectl-clearml/run-seconds": run_seconds}},
        "spec": {"containers": [{"name": "task", "env": [{"name": "NCCL_SHM_DISABLE", "value": "1"}],
                                 "resources": {"limits": limits}}]},
    }


class World:
    def __init__(self, nodes: list[dict[str, Any]], time_scale: float) -> None:
        self.sandbox = Sandbox(SandboxOptions(seed=False, time_scale=time_scale, in_pod_agent=True),
                               Path(tempfile.mkdtemp())).start()
        self.kube = connect(str(self.sandbox.kubeconfig), namespace=NS, env={})
        self.kube.create("namespaces", {"metadata": {"name": NS}})
        for n in nodes:
            self.kube.create("nodes", n)
        emu = self.sandbox.clearml
        self.clearml = ClearmlClient(Credentials(emu.url, emu.access_key, emu.secret_key, True, "bench"))
        self.state = emu.state
        self.state.create_queue("q")

    def engine(self, fit_check: bool, options: FitOptions, build: Any = None) -> GlueEngine:
        emu = self.sandbox.clearml
        settings = build_run_settings(
            self.clearml, namespace=NS, cluster=self.sandbox.kube.url, queue_names=["q"], templates={"*": None},
            credentials_secret="clearml-agent-ac", api_host=emu.url, env={}, poll_interval=0.05,
            sweep_interval=3600, fit_check=fit_check, fit_options=options,
        )
        return GlueEngine(self.clearml, connect(str(self.sandbox.kubeconfig), namespace=NS, env={}), settings,
                          build=build)

    def pods(self) -> list[dict[str, Any]]:
        return list(self.sandbox.kube.store.list("pods", NS))

    def stop(self) -> None:
        self.sandbox.stop()


def run(engine: GlueEngine) -> threading.Thread:
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    return thread


def throughput(tasks: int, fit_check: bool) -> float:
    world = World([node(f"cpu-{i}", 0, cpu="200") for i in range(6)], time_scale=1.0)
    try:
        for n in range(tasks):
            world.state.create_task(f"t{n}", queue="q", container={"image": "python:3.11-slim", "arguments": ""})
        cpu = template(0, "inf")
        engine = world.engine(fit_check, FitOptions())
        for queue in engine.settings.queues:
            queue.template = cpu
        thread = run(engine)
        while not engine.started:
            time.sleep(0.001)
        start = time.perf_counter()
        while engine.summary.launched < tasks and thread.is_alive():
            time.sleep(0.002)
        elapsed = time.perf_counter() - start
        engine.request_stop()
        thread.join(10)
        return tasks / elapsed
    finally:
        world.stop()


def scarce(gpu_tasks: int, time_scale: float, fit_check: bool, backfill: bool) -> dict[str, float]:
    world = World([node("gpu-a", 8), node("gpu-b", 8)], time_scale)
    try:
        sizes = {}
        for n in range(gpu_tasks):
            gpus = (8, 1, 2, 1, 1, 2)[n % 6]
            task = world.state.create_task(f"g{n}", queue="q", container={"image": "python:3.11-slim", "arguments": ""})
            sizes[str(task)] = gpus
        engine: GlueEngine

        def build(task: dict[str, Any], queue: Any) -> podbuilder.BuiltPod:
            return podbuilder.build_task_pod(
                task, podbuilder.QueueRef(queue.id, queue.name), template(sizes[str(task["id"])], "60"),
                engine.settings.pod_settings,
            )

        engine = world.engine(fit_check, FitOptions(backfill=backfill, backfill_limit=5), build)
        unschedulable: set[str] = set()
        busy = samples = 0.0
        thread = run(engine)
        start = time.perf_counter()
        deadline = start + 600
        while time.perf_counter() < deadline:
            pods = world.pods()
            running = 0
            for pod in pods:
                status = pod.get("status") or {}
                for cond in status.get("conditions") or []:
                    if cond.get("type") == "PodScheduled" and cond.get("reason") == "Unschedulable":
                        unschedulable.add(pod["metadata"]["name"])
                if status.get("phase") == "Running":
                    running += int(pod["spec"]["containers"][0]["resources"]["limits"].get(GPU, 0))
            busy += running
            samples += 1
            done = sum(1 for t in sizes if world.state.task(t)["status"] in ("completed", "failed"))
            if done == len(sizes):
                break
            time.sleep(0.02)
        makespan = time.perf_counter() - start
        engine.request_stop()
        thread.join(10)
        return {"unschedulable": len(unschedulable), "makespan": makespan * time_scale,
                "utilisation": busy / samples / 16 if samples else 0.0}
    finally:
        world.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--gpu-tasks", type=int, default=60)
    parser.add_argument("--time-scale", type=float, default=100.0)
    args = parser.parse_args()

    off, on = throughput(args.tasks, False), throughput(args.tasks, True)
    print(f"throughput, {args.tasks} CPU tasks   fit check off {off:.0f} tasks/s, on {on:.0f} tasks/s "
          f"({on / off:.2f}x; goal >= 0.80x)")
    for label, fit_check, backfill in (("pop-always (reference)", False, False), ("--fit-check (FIFO)", True, False),
                                       ("--fit-check --backfill", True, True)):
        r = scarce(args.gpu_tasks, args.time_scale, fit_check, backfill)
        print(f"{label:26} unschedulable pods created {r['unschedulable']:4.0f}   makespan {r['makespan']:6.0f} "
              f"simulated s   GPU utilisation {100 * r['utilisation']:5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
