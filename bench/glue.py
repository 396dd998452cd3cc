"""Speed of run-glue against the sandbox emulators, at several queue depths.

    python bench/glue.py [--tasks N ...] [--queues 4] [--batch-size 100]

Without --tasks it runs 1,000, 2,500, 5,000 and 10,000 queued tasks (each on fresh emulators) and ends
with one table: tasks/s and the glue's CPU per task at each depth. Each emulator runs in its own process
(as real servers do: no GIL shared with the glue); the glue runs in this process (one loop thread plus
its pod watch), so this process's CPU time over the dispatch is the glue's cost.

Targets: issue 8: >= 50 tasks/s; <= 3 API requests per dispatched task in steady state (both emulators'
request logs); no full pod list per loop after start; idle cost <= 1 get_next_task per queue per poll
interval. Issue 17: CPU per task flat in the depth (10,000 within 1.3x of 1,000); >= 400 tasks/s at 10,000.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from kubectl_clearml.adapters.clearml import ClearmlClient
from kubectl_clearml.adapters.credentials import Credentials
from kubectl_clearml.adapters.kube_connect import connect
from kubectl_clearml.glue.engine import GlueEngine
from kubectl_clearml.glue.setup import build_run_settings

NAMESPACE = "clearml"
DEPTHS = (1000, 2500, 5000, 10000)


def serve_clearml(pipe: Connection, tasks: int, queues: list[str]) -> None:
    """The ClearML emulator process: seed the queues, then answer ``stats``/``clear``/``stop`` on the pipe."""
    from kubectl_clearml.sandbox.clearml import ClearmlEmulator

    emulator = ClearmlEmulator().start()
    for name in queues:
        emulator.state.create_queue(name)
    for n in range(tasks):
        emulator.state.create_task(
            f"bench task {n}", queue=queues[n % len(queues)], container={"image": "python:3.11-slim", "arguments": ""}
        )
    pipe.send((emulator.url, emulator.access_key, emulator.secret_key))
    while (command := pipe.recv()) != "stop":
        if command == "clear":
            emulator.requests.clear()
            pipe.send(None)
        else:
            left = sum(len(emulator.state.queue_entries(q)) for q in queues)
            pipe.send({"by_endpoint": emulator.requests.by_endpoint(), "left": left, "cpu": time.process_time()})
    emulator.stop()


def serve_kube(pipe: Connection) -> None:
    from kubectl_clearml.sandbox.kube import KubeEmulator

    emulator = KubeEmulator().start()
    emulator.store.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    # The emulator knows the tokens it wrote kubeconfigs for (RBAC per identity): it writes ours.
    pipe.send((emulator.url, emulator.write_kubeconfig(Path(tempfile.mkdtemp()) / "kubeconfig", namespace=NAMESPACE)))
    while (command := pipe.recv()) != "stop":
        if command == "clear":
            emulator.requests.clear()
            pipe.send(None)
        else:
            requests = list(emulator.requests)
            lists = sum(
                1
                for r in requests
                if r.method == "GET" and r.path.endswith("/pods") and r.query.get("watch") not in ("true", "True", "1")
            )
            pipe.send(
                {
                    "requests": len(requests),
                    "pod_lists": lists,
                    "pods": len(emulator.store.list("pods", NAMESPACE)),
                    "cpu": time.process_time(),
                }
            )
    emulator.stop()


class Remote:
    """One emulator process and its command pipe."""

    def __init__(self, target: Any, *args: Any) -> None:
        # spawn, not fork: a forked child would hold this end of the pipe too, and outlive a killed bench
        # waiting on it; a spawned one reads EOF and ends.
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=target, args=(child, *args), daemon=True)
        self.process.start()
        self.hello = self.pipe.recv()

    def ask(self, command: str) -> Any:
        self.pipe.send(command)
        return self.pipe.recv()

    def stop(self) -> None:
        self.pipe.send("stop")
        self.process.join(10)


def run(tasks: int, args: argparse.Namespace) -> dict[str, float]:
    queues = [f"bench-{i}" for i in range(args.queues)]
    clearml_emu = Remote(serve_clearml, tasks, queues)
    kube_emu = Remote(serve_kube)
    url, access_key, secret_key = clearml_emu.hello
    kube_url, kubeconfig = kube_emu.hello
    kube = connect(kubeconfig=kubeconfig, env={})
    clearml = ClearmlClient(Credentials(url, access_key, secret_key, True, "bench"))
    settings = build_run_settings(
        clearml,
        namespace=NAMESPACE,
        cluster=kube_url,
        queue_names=queues,
        templates={"*": None},
        credentials_secret="clearml-agent-ac",
        api_host=url,
        env={},
        poll_interval=args.poll_interval,
        batch_size=args.batch_size,
        sweep_interval=3600,
    )
    engine = GlueEngine(clearml, kube, settings)
    clearml_emu.ask("clear")
    kube_emu.ask("clear")

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile(time.thread_time)  # CPU of the loop thread, not its waits
    thread = threading.Thread(
        target=profiler.runcall if profiler else engine.run, args=(engine.run,) if profiler else ()
    )
    started = time.perf_counter()
    thread.start()
    while not engine.started:
        time.sleep(0.001)
    startup, startup_kube = clearml_emu.ask("stats"), kube_emu.ask("stats")
    startup_requests = sum(startup["by_endpoint"].values()) + startup_kube["requests"]
    steady_start, cpu_start = time.perf_counter(), time.process_time()
    while engine.summary.launched < tasks:
        if not thread.is_alive():
            print("the glue stopped early", file=sys.stderr)
            raise SystemExit(1)
        time.sleep(0.005)
    drained, cpu_end = time.perf_counter(), time.process_time()
    dispatch = clearml_emu.ask("stats")
    kube_stats = kube_emu.ask("stats")

    # Idle: every queue is empty now.
    time.sleep(args.poll_interval)
    clearml_emu.ask("clear")
    kube_emu.ask("clear")
    idle_start = time.perf_counter()
    time.sleep(args.poll_interval * args.idle_intervals)
    idle_seconds = time.perf_counter() - idle_start
    idle = clearml_emu.ask("stats")
    idle_kube = kube_emu.ask("stats")["requests"]
    engine.request_stop()
    thread.join(10)
    if profiler is not None:
        import pstats

        profiler.dump_stats("/tmp/glueperf.prof")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(40)

    pods, left = kube_stats["pods"], dispatch["left"]
    by_endpoint = dispatch["by_endpoint"]
    total_clearml = sum(by_endpoint.values())
    steady_requests = total_clearml + kube_stats["requests"] - startup_requests
    intervals = idle_seconds / args.poll_interval
    peeks = idle["by_endpoint"].get("queues.get_all", 0)
    pops = idle["by_endpoint"].get("queues.get_next_task", 0)
    rate = tasks / (drained - steady_start)
    cpu_ms = (cpu_end - cpu_start) * 1000 / tasks
    print(f"--- {tasks:,} queued tasks")
    print(
        f"tasks dispatched            {engine.summary.launched} across {len(queues)} queues ({pods} pods, {left} left queued)"
    )
    print(f"wall time                   {drained - started:.2f} s (start-up {steady_start - started:.2f} s)")
    print(f"throughput                  {rate:.0f} tasks/s (targets >= 50; >= 400 at 10,000 queued)")
    print(f"glue CPU per task           {cpu_ms:.2f} ms (this process's CPU time over the dispatch)")
    clearml_cpu = (dispatch["cpu"] - startup["cpu"]) * 1000 / tasks
    kube_cpu = (kube_stats["cpu"] - startup_kube["cpu"]) * 1000 / tasks
    print(
        f"emulator CPU per task       {clearml_cpu:.2f} ms ClearML + {kube_cpu:.2f} ms Kubernetes "
        f"({cpu_ms + clearml_cpu + kube_cpu:.2f} ms in all three processes, on {os.cpu_count()} cores)"
    )
    print(
        f"requests per task          {steady_requests / tasks:.3f} in steady state (target <= 3): "
        f"{total_clearml} ClearML + {kube_stats['requests']} Kubernetes, {startup_requests} of them at start-up"
    )
    per_task = ("queues.remove_task", "tasks.update")
    marginal = (sum(by_endpoint.get(e, 0) for e in per_task) + pods) / tasks
    print(
        f"  of which per task         {marginal:.2f} (pod create, queue pop, launch status message); the rest is "
        f"2 reads per batch of <= {args.batch_size} (queue heads, their tasks), abort checks and worker reports"
    )
    print(f"  ClearML by endpoint       {by_endpoint}")
    print(f"full pod lists              {kube_stats['pod_lists']} (the one at start-up; 0 per loop after it)")
    print(
        f"idle cost                   {pops / intervals / len(queues):.2f} get_next_task and "
        f"{peeks / intervals:.2f} queues.get_all (all {len(queues)} queues in one call) per poll interval; "
        f"{sum(idle['by_endpoint'].values()) / intervals:.2f} ClearML + {idle_kube / intervals:.2f} Kubernetes "
        f"requests per interval (target <= 1 get_next_task per queue per interval)"
    )
    clearml_emu.stop()
    kube_emu.stop()
    ok = pods == tasks and left == 0 and kube_stats["pod_lists"] <= 1
    return {"tasks": tasks, "rate": rate, "cpu_ms": cpu_ms, "ok": float(ok)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, action="append", help=f"queued tasks (repeatable; default {DEPTHS})")
    parser.add_argument("--queues", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--poll-interval", type=float, default=0.5)
    parser.add_argument("--idle-intervals", type=int, default=6)
    parser.add_argument("--profile", action="store_true", help="cProfile the glue loop thread, print the top")
    args = parser.parse_args()
    results = [run(n, args) for n in args.tasks or DEPTHS]
    print("\nqueued tasks   tasks/s   glue CPU per task   vs the first depth")
    for row in results:
        ratio = row["cpu_ms"] / results[0]["cpu_ms"]
        print(f"{int(row['tasks']):>12,}   {row['rate']:>7.0f}   {row['cpu_ms']:>14.2f} ms   {ratio:>6.2f}x")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
