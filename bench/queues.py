"""`kubectl clearml queues` at scale: 200 queues x 50 pending tasks and 5,000 task pods (target <= 1 s wall).

Both emulators run in their own processes (as real servers would); the command runs as a user runs it,
a fresh `kubectl-clearml` process, with an enterprise values file that serves all 200 queues. Prints the
wall time (median of 5) and the API requests one invocation makes on each server.

Run: python bench/queues.py [--queues 200] [--tasks 50] [--pods 5000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

NAMESPACE = "clearml"


def serve_clearml(queues: int, tasks: int, pipe: Connection) -> None:
    from kubectl_clearml.sandbox.clearml import ClearmlEmulator

    emulator = ClearmlEmulator().start()
    ids = {}
    for q in range(queues):
        name = f"queue-{q:03d}"
        ids[name] = emulator.state.create_queue(name)
        for t in range(tasks):
            emulator.state.create_task(f"task-{q:03d}-{t:02d}", queue=name, container={"image": "python:3.11"})
    pipe.send((emulator.url, emulator.access_key, emulator.secret_key, ids))
    _serve_counts(pipe, lambda: emulator.requests.by_endpoint(), emulator.requests.clear)


def serve_kube(pods: int, queue_ids: dict[str, str], pipe: Connection) -> None:
    from kubectl_clearml.sandbox.kube import KubeEmulator

    emulator = KubeEmulator().start()
    emulator.store.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    names = sorted(queue_ids)
    for i in range(pods):
        queue = names[i % len(names)]
        emulator.store.add({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"clearml-id-{i:032x}", "namespace": NAMESPACE,
                         "labels": {"CLEARML": "agent-74b23a8f", "clearml-agent-queue": queue_ids[queue],
                                    "clearml-agent-queue-name": queue, "clearml-task-id": f"{i:032x}"}},
            "spec": {"nodeName": f"gpu-{i % 50}", "containers": [{"name": "main", "image": "python:3.11"}]},
            "status": {"phase": "Running" if i % 4 else "Pending"},
        })
    kubeconfig = Path(tempfile.mkdtemp()) / "kubeconfig"
    emulator.write_kubeconfig(kubeconfig, namespace=NAMESPACE)
    pipe.send(str(kubeconfig))

    def counts() -> dict[str, int]:
        out: dict[str, int] = {}
        for r in list(emulator.requests):
            out[f"{r.method} {r.path}"] = out.get(f"{r.method} {r.path}", 0) + 1
        return out

    _serve_counts(pipe, counts, emulator.requests.clear)


def _serve_counts(pipe: Connection, counts, clear) -> None:  # type: ignore[no-untyped-def]
    while True:
        message = pipe.recv()
        if message == "stop":
            return
        if message == "clear":
            clear()
            pipe.send("ok")
        else:
            pipe.send(counts())


def values_file(queues: int, directory: Path) -> Path:
    lines = ["agentk8sglue:", "  createQueues: true", "  basePodTemplate:", "    resources:",
             "      limits: {memory: 8Gi}", "  queues:"]
    for q in range(queues):
        lines += [f"    queue-{q:03d}:", "      templateOverrides:",
                  f"        resources: {{limits: {{nvidia.com/gpu: {1 + q % 4}}}}}"]
    path = directory / "values.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one run")
    args = parser.parse_args()

    ctx = multiprocessing.get_context("spawn")
    clearml_pipe, clearml_end = ctx.Pipe()
    clearml_proc = ctx.Process(target=serve_clearml, args=(args.queues, args.tasks, clearml_end), daemon=True)
    clearml_proc.start()
    url, access, secret, queue_ids = clearml_pipe.recv()
    kube_pipe, kube_end = ctx.Pipe()
    kube_proc = ctx.Process(target=serve_kube, args=(args.pods, queue_ids, kube_end), daemon=True)
    kube_proc.start()
    kubeconfig = kube_pipe.recv()

    work = Path(tempfile.mkdtemp())
    values = values_file(args.queues, work)
    exe = os.path.join(os.path.dirname(sys.executable), "kubectl-clearml")
    env = {**os.environ, "KUBECONFIG": kubeconfig, "CLEARML_API_HOST": url, "CLEARML_API_ACCESS_KEY": access,
           "CLEARML_API_SECRET_KEY": secret, "HOME": str(work)}
    argv = [exe, "queues", "-n", NAMESPACE, "-f", str(values)]

    walls = []
    for run in range(args.runs):
        for pipe in (clearml_pipe, kube_pipe):
            pipe.send("clear")
            pipe.recv()
        started = time.perf_counter()
        result = subprocess.run(argv, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise SystemExit(f"queues failed ({result.returncode}): {result.stderr}")
        if run == 0:
            rows = len(result.stdout.splitlines()) - 1
    if args.profile:
        prof = work / "queues.prof"
        subprocess.run([sys.executable, "-m", "cProfile", "-o", str(prof), *argv], env=env, capture_output=True)
        import pstats

        pstats.Stats(str(prof)).sort_stats("cumulative").print_stats(25)
    clearml_pipe.send("counts")
    clearml_counts = clearml_pipe.recv()
    kube_pipe.send("counts")
    kube_counts = kube_pipe.recv()
    for pipe in (clearml_pipe, kube_pipe):
        pipe.send("stop")

    median = statistics.median(walls)
    print(f"world: {args.queues} queues x {args.tasks} pending tasks, {args.pods} task pods")
    print(f"kubectl clearml queues: {rows} rows, wall median {median * 1000:.0f} ms "
          f"(min {min(walls) * 1000:.0f}, max {max(walls) * 1000:.0f}) over {args.runs} runs; target <= 1000 ms, "
          f"ratio {median:.2f}")
    print(f"ClearML requests per invocation: {sum(clearml_counts.values())} {clearml_counts}")
    print(f"Kubernetes requests per invocation: {sum(kube_counts.values())} "
          f"({sum(v for k, v in kube_counts.items() if k.endswith('/pods'))} pod list pages of 500)")


if __name__ == "__main__":
    main()
