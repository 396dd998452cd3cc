"""Speed of run-glue against the sandbox emulators: 1,000 queued tasks across 4 queues.

    /work/venv/bin/python bench/glue.py [--tasks 1000] [--queues 4] [--batch-size 100]

Targets (issue 8): >= 50 tasks/s; <= 3 API requests per dispatched task in steady state (both emulators'
request logs); no full pod list per loop after start; idle cost <= 1 get_next_task per queue per poll
interval. The glue runs in this process (one thread), the emulators in their own server threads.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

from kubectl_clearml.adapters.clearml import ClearmlClient
from kubectl_clearml.adapters.credentials import Credentials
from kubectl_clearml.adapters.kube_connect import connect
from kubectl_clearml.glue.engine import GlueEngine
from kubectl_clearml.glue.setup import build_run_settings
from kubectl_clearml.sandbox.clearml import ClearmlEmulator
from kubectl_clearml.sandbox.kube import KubeEmulator

NAMESPACE = "clearml"


def pod_lists(kube_emu: KubeEmulator) -> int:
    """Full pod lists (GET on the pods collection without watch)."""
    return sum(
        1
        for r in list(kube_emu.requests)
        if r.method == "GET" and r.path.endswith("/pods") and r.query.get("watch") not in ("true", "True", "1")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--queues", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--poll-interval", type=float, default=0.5)
    parser.add_argument("--idle-intervals", type=int, default=6)
    args = parser.parse_args()

    clearml_emu = ClearmlEmulator().start()
    kube_emu = KubeEmulator().start()
    kube_emu.store.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    queues = [f"bench-{i}" for i in range(args.queues)]
    for name in queues:
        clearml_emu.state.create_queue(name)
    for n in range(args.tasks):
        clearml_emu.state.create_task(
            f"bench task {n}", queue=queues[n % len(queues)], container={"image": "python:3.11-slim", "arguments": ""}
        )

    kubeconfig = kube_emu.write_kubeconfig(Path(tempfile.mkdtemp()) / "kubeconfig", namespace=NAMESPACE)
    kube = connect(kubeconfig=kubeconfig, env={})
    creds = Credentials(clearml_emu.url, clearml_emu.access_key, clearml_emu.secret_key, True, "bench")
    clearml = ClearmlClient(creds)
    settings = build_run_settings(
        clearml,
        namespace=NAMESPACE,
        cluster=kube_emu.url,
        queue_names=queues,
        templates={"*": None},
        credentials_secret="clearml-agent-ac",
        api_host=clearml_emu.url,
        env={},
        poll_interval=args.poll_interval,
        batch_size=args.batch_size,
        sweep_interval=3600,
    )
    engine = GlueEngine(clearml, kube, settings)
    clearml_emu.requests.clear()
    kube_emu.requests.clear()

    thread = threading.Thread(target=engine.run, daemon=True)
    started = time.perf_counter()
    thread.start()
    while not engine.started:
        time.sleep(0.001)
    startup_requests = clearml_emu.requests.total + len(kube_emu.requests)
    steady_start = time.perf_counter()
    while engine.summary.launched < args.tasks:
        if not thread.is_alive():
            print("the glue stopped early", file=sys.stderr)
            return 1
        time.sleep(0.005)
    drained = time.perf_counter()
    total_clearml = clearml_emu.requests.total
    total_kube = len(kube_emu.requests)
    dispatch_by_endpoint = dict(clearml_emu.requests.by_endpoint())
    lists_after_dispatch = pod_lists(kube_emu)

    # Idle: every queue is empty now.
    time.sleep(args.poll_interval)
    clearml_emu.requests.clear()
    kube_emu.requests.clear()
    idle_start = time.perf_counter()
    time.sleep(args.poll_interval * args.idle_intervals)
    idle_seconds = time.perf_counter() - idle_start
    idle_by_endpoint = dict(clearml_emu.requests.by_endpoint())
    idle_kube = len(kube_emu.requests)
    engine.request_stop()
    thread.join(10)

    pods = len(kube_emu.store.list("pods", NAMESPACE))
    left = sum(len(clearml_emu.state.queue_entries(q)) for q in queues)
    steady_requests = total_clearml + total_kube - startup_requests
    intervals = idle_seconds / args.poll_interval
    peeks = idle_by_endpoint.get("queues.get_all", 0)
    pops = idle_by_endpoint.get("queues.get_next_task", 0)
    print(
        f"tasks dispatched            {engine.summary.launched} across {len(queues)} queues ({pods} pods, {left} left queued)"
    )
    print(f"wall time                   {drained - started:.2f} s (start-up {steady_start - started:.2f} s)")
    print(f"throughput                  {args.tasks / (drained - steady_start):.0f} tasks/s (target >= 50)")
    print(f"throughput incl. start-up   {args.tasks / (drained - started):.0f} tasks/s")
    print(
        f"requests per task          {steady_requests / args.tasks:.3f} in steady state (target <= 3): "
        f"{total_clearml} ClearML + {total_kube} Kubernetes, {startup_requests} of them at start-up"
    )
    per_task = ("queues.remove_task", "tasks.update")
    marginal = (sum(dispatch_by_endpoint.get(e, 0) for e in per_task) + pods) / args.tasks
    print(
        f"  of which per task         {marginal:.2f} (pod create, queue pop, launch status message); the rest is "
        f"2 reads per batch of <= {args.batch_size} (queue heads, their tasks), abort checks and worker reports"
    )
    print(f"  ClearML by endpoint       {dispatch_by_endpoint}")
    print(f"full pod lists              {lists_after_dispatch} (the one at start-up; 0 per loop after it)")
    print(
        f"idle cost                   {pops / intervals / len(queues):.2f} get_next_task and "
        f"{peeks / intervals:.2f} queues.get_all (all {len(queues)} queues in one call) per poll interval; "
        f"{sum(idle_by_endpoint.values()) / intervals:.2f} ClearML + {idle_kube / intervals:.2f} Kubernetes requests "
        f"per interval (target <= 1 get_next_task per queue per interval)"
    )
    clearml_emu.stop()
    kube_emu.stop()
    ok = pods == args.tasks and left == 0 and lists_after_dispatch <= 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
