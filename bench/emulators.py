"""Emulator speed: p50/p99 of a simple GET on each emulator, and 100,000 pods listed page by page.

Each emulator runs in its own process (as a real server would: no GIL shared with the client). Prints
figures only (wall and, on Linux, the server's CPU time per listing); targets: GET p50 <= 1 ms over
loopback, one page of JSON per list response.

The ClearML emulator also times tasks.get_all of 500 ids with 1,000 and --stored-tasks stored (target: within
2x: a lookup by id costs the ids asked for, not the tasks stored).

Run: python bench/emulators.py [--requests 2000] [--pods 100000] [--page 500] [--stored-tasks 20000] [--skip-kube]
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from typing import Any

import requests


def serve_kube(pipe: Connection) -> None:
    """The emulator process: serve, seed pods when asked (``("seed", n)``), report peak RSS on ``"stop"``."""
    from kubectl_clearml.sandbox.kube import KubeEmulator

    emulator = KubeEmulator().start()
    emulator.store.add({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"},
                        "spec": {"containers": [{"name": "main", "image": "busybox"}]}})
    emulator.add_identity("t", emulator.user)  # the admin token of the kubeconfig bench_kube writes
    pipe.send(emulator.url)
    while True:
        command = pipe.recv()
        if command == "stop":
            break
        started = time.perf_counter()
        for i in range(command[1]):
            emulator.store.add({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"task-{i:06d}", "namespace": f"team-{i % 20}",
                             "labels": {"app": "clearml", "clearml-task-id": f"{i:032x}"}},
                "spec": {"nodeName": f"gpu-{i % 50}", "restartPolicy": "Never",
                         "containers": [{"name": "main", "image": "nvcr.io/nvidia/pytorch:24.01-py3",
                                         "resources": {"limits": {"nvidia.com/gpu": "1"}}}]},
                "status": {"phase": "Running"},
            })
        pipe.send(time.perf_counter() - started)
    pipe.send(peak_rss_mb())
    emulator.stop()


def serve_clearml(pipe: Connection) -> None:
    from kubectl_clearml.sandbox.clearml import ClearmlEmulator

    emulator = ClearmlEmulator().start()
    pipe.send((emulator.url, emulator.access_key, emulator.secret_key))
    while (command := pipe.recv()) != "stop":  # ("seed", n): store tasks up to n, answer their ids
        queue = emulator.state.queue("default")["id"]
        while len(emulator.state.tasks) < command[1]:
            emulator.state.create_task(f"bench task {len(emulator.state.tasks)}", queue=queue)
        pipe.send(list(emulator.state.tasks))
    pipe.send(peak_rss_mb())
    emulator.stop()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def raw_latency(url: str, path: str, count: int, headers: dict[str, str] | None = None) -> tuple[float, float]:
    """The server's latency without client-library overhead: http.client on one keep-alive connection."""
    host, port = url.split("//", 1)[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    samples = []
    for index in range(count + 50):
        started = time.perf_counter()
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"GET {path} answered {response.status}")
        if index >= 50:  # the first requests warm up the connection and code paths
            samples.append((time.perf_counter() - started) * 1000)
    connection.close()
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


NON_TERMINAL = "status.phase!=Succeeded,status.phase!=Failed"


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a running process (Linux /proc), None where unavailable."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def list_pods(url: str, page_size: int, selector: str | None) -> tuple[float, int, int, int]:
    """(wall seconds, pages, items, largest response bytes) of listing every pod page by page."""
    with requests.Session() as session:
        started = time.perf_counter()
        pages = items = biggest = 0
        token = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if selector:
                params["fieldSelector"] = selector
            if token:
                params["continue"] = token
            response = session.get(f"{url}/api/v1/pods", params=params, timeout=60)
            biggest = max(biggest, len(response.content))
            page = response.json()
            pages += 1
            items += len(page["items"])
            token = page["metadata"].get("continue")
            if not token:
                break
        return time.perf_counter() - started, pages, items, biggest


def latency(session: requests.Session, url: str, count: int, **kw: Any) -> tuple[float, float]:
    for _ in range(50):  # warm up the connection and the server's code paths
        session.get(url, timeout=10, **kw)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(url, timeout=10, **kw)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}: {response.text[:200]}")
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def bench_kube(args: argparse.Namespace) -> None:
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=serve_kube, args=(child,), daemon=True)
    process.start()
    url = parent.recv()
    path = "/api/v1/namespaces/default/pods/probe"

    def get_latency(label: str) -> None:
        p50, p99 = raw_latency(url, path, args.requests)
        print(f"kube emulator: GET pod, {label:<22} (http.client) p50 {p50:.3f} ms  p99 {p99:.3f} ms")
        with requests.Session() as session:
            p50, p99 = latency(session, url + path, args.requests)
        print(f"kube emulator: GET pod, {label:<22} (requests)    p50 {p50:.3f} ms  p99 {p99:.3f} ms")

    get_latency("1 pod stored")
    parent.send(("seed", args.pods))
    print(f"kube emulator: seeded {args.pods:,} pods in {parent.recv():.1f} s (store backdoor)")
    get_latency(f"{args.pods:,} pods stored")

    # The emulator encodes an object's JSON on the first listing after it changes, then reuses it: the
    # first listing after seeding is the cold one. Server CPU comes from /proc (Linux).
    for label, selector in (("cold", None), ("warm", None), ("warm, non-terminal", NON_TERMINAL)):
        served = cpu_seconds(process.pid)
        wall, pages, items, biggest = list_pods(url, args.page, selector)
        after = cpu_seconds(process.pid)
        cpu = f", server CPU {after - served:.2f} s" if served is not None and after is not None else ""
        print(f"kube emulator: list {items:,} pods (limit {args.page}, {label}) over HTTP: {wall:.2f} s{cpu}, "
              f"{pages} pages, largest response {biggest / 1e6:.2f} MB")

    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "kubeconfig")
        with open(config, "w") as handle:
            handle.write(f"apiVersion: v1\nkind: Config\nclusters: [{{name: b, cluster: {{server: '{url}'}}}}]\n"
                         "users: [{name: b, user: {token: t}}]\n"
                         "contexts: [{name: b, context: {cluster: b, user: b, namespace: default}}]\n"
                         "current-context: b\n")
        from kubectl_clearml.adapters.kube_connect import connect

        kube = connect(kubeconfig=config)
        started = time.perf_counter()
        counted = sum(1 for _ in kube.list("pods", all_namespaces=True, page_size=args.page))
        wall = time.perf_counter() - started
    print(f"kube emulator: list {counted:,} pods through adapters.kube (page {args.page}): {wall:.2f} s, "
          f"{kube.requests_made} requests")
    parent.send("stop")
    server_rss = parent.recv()
    process.join(10)
    print(f"kube emulator: peak RSS server {server_rss:.0f} MB (holding {args.pods:,} pods), "
          f"client {peak_rss_mb():.0f} MB")


def bench_clearml(args: argparse.Namespace) -> None:
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=serve_clearml, args=(child,), daemon=True)
    process.start()
    url, access_key, secret_key = parent.recv()
    with requests.Session() as session:
        login = session.post(f"{url}/auth.login", auth=(access_key, secret_key), timeout=10)
        token = login.json()["data"]["token"]
        auth = {"Authorization": f"Bearer {token}"}
        p50, p99 = raw_latency(url, "/queues.get_all", args.requests, auth)
        print(f"clearml emulator: GET queues.get_all                (http.client) p50 {p50:.3f} ms  p99 {p99:.3f} ms")
        p50, p99 = latency(session, f"{url}/queues.get_all", args.requests, headers=auth)
        print(f"clearml emulator: GET queues.get_all                (requests)    p50 {p50:.3f} ms  p99 {p99:.3f} ms")
        # The glue reads the tasks of a batch of queue heads, and of every live pod, by id, 500 per request.
        times = {}
        for stored in (1000, args.stored_tasks):
            parent.send(("seed", stored))
            ids = parent.recv()[-500:]
            body = {"id": ids, "only_fields": ["id", "status", "execution.queue"], "search_hidden": True}
            samples = []
            for _ in range(20):
                started = time.perf_counter()
                answer = session.post(f"{url}/tasks.get_all", json=body, headers=auth, timeout=60)
                samples.append((time.perf_counter() - started) * 1000)
                if len(answer.json()["data"]["tasks"]) != 500:
                    raise SystemExit(f"tasks.get_all answered {answer.status_code}: {answer.text[:200]}")
            times[stored] = statistics.median(samples)
            print(f"clearml emulator: tasks.get_all of 500 ids, {stored:>6,} tasks stored    median {times[stored]:.2f} ms")
        print(f"clearml emulator: tasks.get_all of 500 ids, {args.stored_tasks:,} vs 1,000 stored: "
              f"{times[args.stored_tasks] / times[1000]:.2f}x (target <= 2x)")
    parent.send("stop")
    print(f"clearml emulator: peak RSS server {parent.recv():.0f} MB")
    process.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--pods", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=500)
    parser.add_argument("--stored-tasks", type=int, default=20_000, help="ClearML tasks stored for tasks.get_all")
    parser.add_argument("--skip-kube", action="store_true", help="the ClearML emulator only")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, loopback HTTP/1.1 keep-alive (requests)")
    try:
        bench_clearml(args)
    except ImportError as error:
        print(f"clearml emulator: not available ({error})")
    if not args.skip_kube:
        bench_kube(args)


if __name__ == "__main__":
    main()
