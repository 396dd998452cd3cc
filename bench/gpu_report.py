"""Benchmark `kubectl clearml gpu-report` end to end against the sandbox Kubernetes emulator.

    python bench/gpu_report.py [--nodes 5000] [--pods 100000] [--runs 3] [--by node|product|queue|default] [-o FMT]
                               [--compare OTHER_TREE]

The emulator runs in its own process (seeded through its backdoor), so the figures are those of the
command alone: a fresh `python -m kubectl_clearml gpu-report ...` process per run, its wall time, CPU time
and peak RSS (from wait4), and the emulator's CPU time serving it (from /proc), next to a plain baseline:
fetching the same lists page by page (limit 500, same field selector) with urllib and decoding them with
json.loads. Targets: <= 3 s wall, <= 300 MB peak RSS.

The emulator encodes each object's JSON on the first listing after it changes, so the lists are fetched
once before anything is timed (that cold listing is reported too). On a shared machine wall times swing
with the load: compare CPU times, and compare versions A/B in the same minute with --compare, which
alternates runs of this tree with runs of another checkout (e.g. `git archive <commit> | tar -x -C DIR`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VALUES = ROOT / "kubectl_clearml" / "sandbox" / "seeds" / "agent-enterprise-values.yaml"
TARGET_WALL = 3.0
TARGET_RSS_MB = 300.0
PRODUCTS = [("A100-SXM4-40GB", 8), ("H100-80GB-HBM3", 8), ("Tesla-T4", 4), ("L4", 1)]


def make_node(i: int) -> dict[str, Any]:
    labels = {
        "kubernetes.io/hostname": f"node-{i:05d}",
        "kubernetes.io/os": "linux",
        "topology.kubernetes.io/zone": f"zone-{i % 3}",
    }
    allocatable = {"cpu": "95", "memory": "1120Gi", "pods": "110", "ephemeral-storage": "7000Gi"}
    if i % 5:  # four nodes in five have GPUs
        product, count = PRODUCTS[i % len(PRODUCTS)]
        labels.update(
            {
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.product": product,
                "nvidia.com/gpu.count": str(count),
                "nvidia.com/gpu.replicas": "1",
            }
        )
        allocatable["nvidia.com/gpu"] = str(count)
    spec: dict[str, Any] = {}
    if i % 97 == 0:
        spec["taints"] = [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]
    if i % 211 == 0:
        spec["unschedulable"] = True
    return {
        "metadata": {"name": f"node-{i:05d}", "labels": labels},
        "spec": spec,
        "status": {
            "capacity": dict(allocatable),
            "allocatable": allocatable,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        },
    }


def make_pod(j: int, nodes: int) -> dict[str, Any]:
    node = j % nodes
    task = j % 3 == 0
    labels = {"app": f"svc-{j % 50}"}
    if task:
        labels = {
            "CLEARML": "agent-1859da84",
            "clearml-agent-queue": f"{j % 6:032x}",
            "clearml-agent-queue-name": ["1xgpu", "2xgpu", "gpushm", "red", "blue", "green"][j % 6],
            "clearml-task-id": f"{j:032x}",
        }
    limits: dict[str, str] = {"memory": "4Gi"}
    if node % 5 and j % 4 == 0:
        limits["nvidia.com/gpu"] = "1"
    phase = "Succeeded" if j % 10 == 9 else "Running"
    return {
        "metadata": {"name": f"pod-{j:06d}", "namespace": f"ns-{j % 20}", "labels": labels},
        "spec": {
            "nodeName": f"node-{node:05d}",
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": "nvcr.io/nvidia/pytorch:24.05-py3",
                    "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": limits},
                }
            ],
        },
        "status": {"phase": phase, "podIP": "10.0.0.1"},
    }


def serve(nodes: int, pods: int, ready_file: str) -> None:
    """Child process: run the emulator seeded with the synthetic cluster until killed."""
    from kubectl_clearml.sandbox.kube import KubeEmulator

    emulator = KubeEmulator().start()
    for i in range(nodes):
        emulator.store.add({"apiVersion": "v1", "kind": "Node", **make_node(i)})
    for j in range(pods):
        emulator.store.add({"apiVersion": "v1", "kind": "Pod", **make_pod(j, nodes)})
    kubeconfig = emulator.write_kubeconfig(str(Path(ready_file).with_suffix(".kubeconfig")))
    Path(ready_file).write_text(json.dumps({"url": emulator.url, "kubeconfig": str(kubeconfig)}))
    while True:
        time.sleep(3600)


def baseline(url: str) -> tuple[float, float, int]:
    """(fetch + decode seconds, decode-only seconds, bytes) for the same paginated lists."""
    decode = 0.0
    total_bytes = 0
    start = time.perf_counter()
    for path, selector in (("/api/v1/nodes", None), ("/api/v1/pods", "status.phase!=Succeeded,status.phase!=Failed")):
        token = None
        while True:
            query = {"limit": "500"}
            if selector:
                query["fieldSelector"] = selector
            if token:
                query["continue"] = token
            with urllib.request.urlopen(f"{url}{path}?{urllib.parse.urlencode(query)}") as response:
                raw = response.read()
            total_bytes += len(raw)
            t = time.perf_counter()
            page = json.loads(raw)
            decode += time.perf_counter() - t
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
    return time.perf_counter() - start, decode, total_bytes


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a running process (Linux /proc), None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_report(kubeconfig: str, by: str, output: str, tree: Path | None = None) -> tuple[float, float, float, int, str]:
    """(wall seconds, CPU seconds, peak RSS MB, exit code, stderr) of one gpu-report process.

    ``tree``: run the package from that checkout instead of this one (for A/B runs).
    """
    args = [sys.executable, "-m", "kubectl_clearml", "gpu-report", "-o", output, "--no-clearml", "-f", str(VALUES)]
    if by != "default":
        args += ["--by", by]
    env = {**os.environ, "KUBECONFIG": kubeconfig, "HOME": tempfile.gettempdir()}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    start = time.perf_counter()
    # `python -m` puts the working directory first on sys.path: run from the tree being measured.
    cwd = tree if tree is not None else ROOT
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, err


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--by", default="default", choices=["default", "node", "product", "queue"])
    parser.add_argument("-o", "--output", default="table", choices=["table", "wide", "json", "yaml"])
    parser.add_argument("--compare", metavar="OTHER_TREE", help="alternate runs with this checkout's package (A/B)")
    parser.add_argument("--serve", metavar="READY_FILE", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.serve:
        serve(opts.nodes, opts.pods, opts.serve)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready.json"
        t = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(ready), "--nodes", str(opts.nodes), "--pods", str(opts.pods)]
        )
        try:
            while not ready.exists():
                if server.poll() is not None:
                    print("emulator failed to start", file=sys.stderr)
                    return 1
                time.sleep(0.2)
            info = json.loads(ready.read_text())
            print(f"seeded {opts.nodes} nodes, {opts.pods} pods in {time.perf_counter() - t:.1f} s")
            # A shared machine makes wall times swing: say how busy it was.
            print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)")
            cold, _, _ = baseline(info["url"])
            print(f"first listing (the emulator encodes every object once): fetch+json.loads {cold:.2f} s")
            fetch, decode, size = baseline(info["url"])
            print(f"baseline: fetch+json.loads {fetch:.2f} s (json.loads alone {decode:.2f} s), {size / 1e6:.0f} MB")
            trees: list[tuple[str, Path | None]] = [("this tree", None)]
            if opts.compare:
                trees.append((f"{opts.compare}", Path(opts.compare).resolve()))
            worst_wall = worst_rss = 0.0
            for run in range(1, opts.runs + 1):
                for label, tree in trees:
                    served_before = cpu_seconds(server.pid)
                    wall, cpu, rss, code, err = run_report(info["kubeconfig"], opts.by, opts.output, tree)
                    served_after = cpu_seconds(server.pid)
                    if code != 0:
                        print(f"gpu-report ({label}) failed with exit code {code}:\n{err}", file=sys.stderr)
                        return 1
                    served = (
                        f", emulator CPU {served_after - served_before:.2f} s"
                        if served_before is not None and served_after is not None
                        else ""
                    )
                    if tree is None:
                        worst_wall, worst_rss = max(worst_wall, wall), max(worst_rss, rss)
                    print(
                        f"run {run}{f' [{label}]' if opts.compare else ''}: gpu-report --by {opts.by} -o {opts.output}: "
                        f"wall {wall:.2f} s, CPU {cpu:.2f} s, peak RSS {rss:.0f} MB{served}, "
                        f"x{wall / fetch:.2f} of fetch+decode, x{wall / decode:.2f} of json.loads"
                    )
            ok = worst_wall <= TARGET_WALL and worst_rss <= TARGET_RSS_MB
            print(
                f"worst: wall {worst_wall:.2f} s (target {TARGET_WALL} s), peak RSS {worst_rss:.0f} MB "
                f"(target {TARGET_RSS_MB:.0f} MB): {'OK' if ok else 'OVER TARGET'}; "
                f"load average now {os.getloadavg()[0]:.1f}"
            )
            return 0 if ok else 1
        finally:
            server.kill()
            server.wait()


if __name__ == "__main__":
    sys.exit(main())
