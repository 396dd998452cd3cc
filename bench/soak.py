"""Reliability soak of run-glue: faults on both servers and SIGKILLs at random points.

    /work/venv/bin/python bench/soak.py [--tasks 1000] [--kills 10] [--error-rate 0.1] [--seed N] [--json]

Both emulators run in this process with ``--error-rate`` of their requests failing (ClearML: 5xx answers,
hangs, dropped connections, and requests processed whose answer is lost; Kubernetes: 5xx, dropped
connections, and slow requests the glue gives up on but the server still carries out). The glue runs as
``kubectl-clearml run-glue`` in a subprocess, killed with SIGKILL ``--kills`` times at random moments and
restarted at once; after the last restart it runs until the queues are drained and is stopped with SIGTERM.

Checked afterwards: every task has exactly one pod; none is stranded (queued, in no queue, without a pod);
none is left in a queue; no secret value in any pod spec, glue log line, or task status message/reason.
Exit status 0 only when all of that holds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from kubectl_clearml.sandbox.clearml import ClearmlEmulator
from kubectl_clearml.sandbox.kube import KubeEmulator

NAMESPACE = "clearml"
SECRET_NAME = "clearml-agent-ac"
CLEARML_FAULTS = ("500", "502", "504", "timeout", "drop", "drop_after", "timeout_after")


def start_glue(env: dict[str, str], queues: list[str], log: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "kubectl_clearml", "run-glue", "--poll-interval", "0.2", "--request-timeout", "1"]
    args += ["--credentials-secret", SECRET_NAME, "--batch-size", "50", "-n", NAMESPACE]
    for queue in queues:
        args += ["--queue", queue]
    handle = open(log, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT)


def wait_started(log: Path, glue: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and glue.poll() is None:
        if b"run-glue started" in log.read_bytes():
            return
        time.sleep(0.02)


def wait_pods(kube: KubeEmulator, count: int, glue: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and glue.poll() is None:
        if len(kube.store.list("pods", NAMESPACE)) >= count:
            return
        time.sleep(0.05)


def drained(clearml: ClearmlEmulator, kube: KubeEmulator, queues: list[str], task_ids: list[str]) -> bool:
    if any(clearml.state.queue_entries(q) for q in queues):
        return False
    names = {p["metadata"]["name"] for p in kube.store.list("pods", NAMESPACE)}
    return all(f"clearml-id-{t}" in names for t in task_ids)


def check(
    clearml: ClearmlEmulator, kube: KubeEmulator, queues: list[str], task_ids: list[str], logs: list[Path]
) -> dict[str, Any]:
    pods = kube.store.list("pods", NAMESPACE)
    per_task = Counter(str((p["metadata"].get("labels") or {}).get("clearml-task-id")) for p in pods)
    queued_anywhere = {t for q in clearml.state.queues.values() for t in (e["task"] for e in q["entries"])}
    tasks = {t: clearml.state.task(t) for t in task_ids}
    stranded = [
        t for t, task in tasks.items() if task["status"] == "queued" and t not in queued_anywhere and per_task[t] == 0
    ]
    secret = clearml.secret_key
    leaks = {
        "pod specs": sum(secret in json.dumps(p) for p in pods),
        "log lines": sum(line.count(secret) for log in logs for line in log.read_text(errors="replace").splitlines()),
        "status texts": sum(
            secret in (task.get("status_message") or "") + (task.get("status_reason") or "") for task in tasks.values()
        ),
    }
    return {
        "tasks": len(task_ids),
        "pods": len(pods),
        "tasks_with_exactly_one_pod": sum(1 for t in task_ids if per_task[t] == 1),
        "tasks_with_no_pod": sum(1 for t in task_ids if per_task[t] == 0),
        "tasks_with_several_pods": sum(1 for t in task_ids if per_task[t] > 1),
        "pods_of_unknown_tasks": sum(n for t, n in per_task.items() if t not in tasks),
        "stranded": len(stranded),
        "left_in_queues": sum(len(clearml.state.queue_entries(q)) for q in queues),
        "failed_tasks": sum(1 for task in tasks.values() if task["status"] == "failed"),
        "secret_leaks": leaks,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--queues", type=int, default=4)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--error-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--max-kill-delay", type=float, default=3.0, help="seconds the loop runs before a kill, at most"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="give up draining after this many seconds")
    parser.add_argument("--json", action="store_true", help="print the counts as one JSON object")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)

    workdir = Path(tempfile.mkdtemp(prefix="glue-soak-"))
    clearml = ClearmlEmulator(hang_seconds=1.5).start()
    kube = KubeEmulator(seed=seed).start()
    kube.store.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    # Every pod ever created, by name: a pod deleted and created again is a second launch of its task,
    # which the final listing alone (one pod per name) cannot show.
    creations: Counter[str] = Counter()
    kube.store.subscribe(
        lambda kind, plural, obj: (
            creations.update([obj["metadata"]["name"]]) if (kind, plural) == ("ADDED", "pods") else None
        )
    )
    queues = [f"soak-{i}" for i in range(args.queues)]
    for name in queues:
        clearml.state.create_queue(name)
    task_ids = [
        clearml.state.create_task(
            f"soak task {n}", queue=queues[n % len(queues)], container={"image": "python:3.11-slim", "arguments": ""}
        )
        for n in range(args.tasks)
    ]
    clearml.inject(".*", error_rate=args.error_rate, kinds=CLEARML_FAULTS, seed=seed)
    third = args.error_rate / 3
    kube.inject("*", r".*", status=500, error_rate=third)
    kube.inject("*", r".*", status=None, drop=True, error_rate=third / (1 - third))
    # Slower than the glue's 1 s read timeout: the glue gives up, the server still does it.
    kube.inject("*", r".*", status=None, latency=1.5, error_rate=third / (1 - 2 * third))

    env = dict(os.environ)
    env.update(clearml.env())
    env["KUBECONFIG"] = kube.write_kubeconfig(workdir / "kubeconfig", namespace=NAMESPACE)
    env["HOME"] = str(workdir)
    logs: list[Path] = []
    started = time.monotonic()
    kill_points: list[int] = []  # pods existing when each kill happened
    targets = sorted(rng.randrange(args.tasks) for _ in range(args.kills))
    for run in range(args.kills + 1):
        log = workdir / f"glue-{run}.log"
        logs.append(log)
        glue = start_glue(env, queues, log)
        if run < args.kills:
            # Kill at a random moment of the loop itself (not during the interpreter's start-up), spread over
            # the whole drain: once a random number of pods exists, plus a random fraction of a second.
            wait_started(log, glue, 60.0)
            wait_pods(kube, targets[run], glue, 120.0)
            time.sleep(rng.uniform(0.0, args.max_kill_delay))
            glue.send_signal(signal.SIGKILL)
            glue.wait()
            kill_points.append(len(kube.store.list("pods", NAMESPACE)))
            continue
        deadline = time.monotonic() + args.timeout
        while not drained(clearml, kube, queues, task_ids) and time.monotonic() < deadline:
            if glue.poll() is not None:
                break
            time.sleep(0.2)
        glue.send_signal(signal.SIGTERM)
        try:
            glue.wait(30)
        except subprocess.TimeoutExpired:
            glue.kill()
    elapsed = time.monotonic() - started
    clearml_faults = sum(r.injected for r in clearml.faults._rules)
    kube_faults = sum(f.fired for f in kube.faults._faults)
    clearml_requests, kube_requests = clearml.requests.total, len(kube.requests)
    clearml.clear_faults()
    kube.clear_faults()
    result = check(clearml, kube, queues, task_ids, logs)
    result["tasks_launched_twice"] = sum(1 for n in creations.values() if n > 1)
    result.update(
        seed=seed,
        kills=args.kills,
        pods_at_each_kill=kill_points,
        error_rate=args.error_rate,
        seconds=round(elapsed, 1),
        clearml_faults_injected=f"{clearml_faults} of {clearml_requests} requests",
        kube_faults_injected=f"{kube_faults} of {kube_requests} requests",
        workdir=str(workdir),
    )
    ok = (
        result["tasks_with_exactly_one_pod"] == args.tasks
        and result["pods_of_unknown_tasks"] == 0
        and result["tasks_launched_twice"] == 0
        and result["stranded"] == 0
        and result["left_in_queues"] == 0
        and not any(result["secret_leaks"].values())
    )
    result["ok"] = ok
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:28} {value}")
    clearml.stop()
    kube.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
