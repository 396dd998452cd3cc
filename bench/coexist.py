"""Two glues on the same queues: run-glue beside the reference glue, beside a second run-glue, under a pause.

    python bench/coexist.py --with-reference [--tasks 200]        # run-glue + the real clearml-agent glue
    python bench/coexist.py --glues 2 [--queues 4]                   # two run-glues, different worker ids
    python bench/coexist.py --glues 2 --leader-elect [--pause-leader 25]   # replicas; SIGSTOP the leader
    python bench/coexist.py ... [--json] [--seed N] [--preload | --trickle S --burst N] [--glue-python PY]

Both emulators run in this process; every glue is a subprocess. ``--with-reference`` runs the real reference
glue (``clearml_agent.glue.k8s.K8sIntegration`` from the ``clearml-agent`` package, which must be installed
in this interpreter) with ``kubectl`` on PATH against the Kubernetes emulator, on the same queues. The pods
are not run (no kubelet): a pod stays Pending, so every pod ever created is a launch of its task.

Printed: tasks run twice (more than one pod ever created for one task, counted from the store's ADDED
events: a pod deleted and created again counts), tasks failed (nothing but a glue fails a task here: the
reference fails one when its ``kubectl apply`` prints an error), stranded (queued, in no queue at all, no
pod), left queued (entries still in the served queues), requeues (``queues.add_task`` calls, the churn of
two glues taking one entry), pod creations refused (409: the cost of the overlap). Exit 0 when the
first four are 0.
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
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from kubectl_clearml.sandbox.clearml import ClearmlEmulator
from kubectl_clearml.sandbox.kube import KubeEmulator

NAMESPACE = "clearml"
SECRET_NAME = "clearml-agent-ac"
REFERENCE_WORKER = "k8s-glue-reference"
# The reference glue's launcher: what examples/k8s_glue_example.py does with --queue, --namespace and
# --template-yaml (clearml-agent 3.0.3), in one line.
REFERENCE_LAUNCHER = (
    "import sys; from clearml_agent.glue.k8s import K8sIntegration; "
    "K8sIntegration(namespace=sys.argv[1], template_yaml=sys.argv[2]).k8s_daemon(sys.argv[3])"
)
TEMPLATE = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: main\n    image: python:3.11-slim\n"


def start_glue(env: dict[str, str], queues: list[str], log: Path, args: argparse.Namespace, n: int) -> Any:
    cmd = [args.glue_python, "-m", "kubectl_clearml", "run-glue", "--poll-interval", str(args.poll_interval)]
    cmd += ["--credentials-secret", SECRET_NAME, "--batch-size", str(args.batch_size), "-n", NAMESPACE, "-v"]
    if args.leader_elect:
        cmd += ["--leader-elect"]  # replicas: one worker id, so one lease
        if args.lease != 15.0:
            cmd += ["--lease-duration", str(args.lease)]
    else:
        cmd += ["--worker-id", f"glue-{n}"]
    if args.sweep_interval is not None:
        cmd += ["--sweep-interval", str(args.sweep_interval)]
    for queue in queues:
        cmd += ["--queue", queue]
    return subprocess.Popen(cmd, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)


def start_reference(env: dict[str, str], queues: list[str], workdir: Path, log: Path) -> Any:
    template = workdir / "reference-template.yaml"
    template.write_text(TEMPLATE)
    ref_env = dict(env, CLEARML_WORKER_ID=REFERENCE_WORKER, CLEARML_AGENT_QUEUE_POLL_FREQ_SEC="0.2")
    cmd = [sys.executable, "-c", REFERENCE_LAUNCHER, NAMESPACE, str(template), ",".join(queues)]
    return subprocess.Popen(cmd, env=ref_env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)


class PodRunner:
    """``--run-for S``: each pod runs S seconds, then ends with exit code 0, as its in-pod agent would:
    ``clearml_agent execute --require-queue`` starts the task only when it is still queued (then completes
    it); otherwise it refuses and the pod ends without running anything. ``runs`` counts real starts."""

    def __init__(self, clearml: ClearmlEmulator, kube: KubeEmulator, seconds: float) -> None:
        self.clearml, self.kube, self.seconds = clearml, kube, seconds
        self.born: dict[str, float] = {}  # pod uid -> when it was created
        self.runs: Counter[str] = Counter()
        self._stop = threading.Event()
        kube.store.subscribe(self._on_change)
        threading.Thread(target=self._loop, daemon=True).start()

    def _on_change(self, kind: str, plural: str, obj: dict[str, Any]) -> None:
        if (kind, plural) == ("ADDED", "pods"):
            self.born[obj["metadata"]["uid"]] = time.monotonic()

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            for pod in self.kube.store.list("pods", NAMESPACE):
                meta = pod["metadata"]
                born = self.born.get(meta.get("uid", ""))
                if born is None or time.monotonic() - born < self.seconds or pod["status"].get("phase") != "Pending":
                    continue
                task_id = (meta.get("labels") or {}).get("clearml-task-id", meta["name"].rsplit("-", 1)[-1])
                state = self.clearml.state
                with state.lock:
                    task = state.tasks.get(task_id)
                    if task is not None and task["status"] == "queued":
                        self.runs[task_id] += 1
                        queue = state.queues.get((task.get("execution") or {}).get("queue") or "")
                        if queue is not None:  # tasks.dequeue takes it out of its queue
                            queue["entries"] = [e for e in queue["entries"] if e["task"] != task_id]
                        state.change_status(task, "completed", force=True)
                finished = {
                    "phase": "Succeeded",
                    "containerStatuses": [
                        {"name": "main", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
                    ],
                }
                self.kube.store.update_pod_status(NAMESPACE, meta["name"], finished)

    def stop(self) -> None:
        self._stop.set()


def leader_of(kube: KubeEmulator, logs: list[Path]) -> int | None:
    """Index of the glue holding the lease (by the identity its log says it acquired the lease with)."""
    leases = kube.store.list("leases", NAMESPACE)
    holder = ((leases[0].get("spec") or {}).get("holderIdentity") if leases else "") or ""
    for n, log in enumerate(logs):
        if holder and f"acquired by {holder}" in log.read_text(errors="replace"):
            return n
    return None


def settled(clearml: ClearmlEmulator, kube: KubeEmulator, queues: list[str], task_ids: list[str]) -> bool:
    if any(clearml.state.queue_entries(q) for q in queues):
        return False
    names = {p["metadata"]["name"] for p in kube.store.list("pods", NAMESPACE)}
    return all(f"clearml-id-{t}" in names or clearml.state.task(t)["status"] != "queued" for t in task_ids)


def outcome(
    clearml: ClearmlEmulator, kube: KubeEmulator, queues: list[str], task_ids: list[str], creations: Counter[str]
) -> dict[str, Any]:
    pods = {p["metadata"]["name"] for p in kube.store.list("pods", NAMESPACE)}
    queued_anywhere = {t for q in clearml.state.queues.values() for t in (e["task"] for e in q["entries"])}
    tasks = {t: clearml.state.task(t) for t in task_ids}
    return {
        "tasks": len(task_ids),
        "run_twice": sum(1 for t in task_ids if creations[f"clearml-id-{t}"] > 1),
        "failed_by_a_glue": sum(1 for task in tasks.values() if task["status"] == "failed"),
        "stranded": sum(
            1
            for t, task in tasks.items()
            if task["status"] == "queued" and t not in queued_anywhere and f"clearml-id-{t}" not in pods
        ),
        "left_queued": sum(len(clearml.state.queue_entries(q)) for q in queues),
        "without_pod": sum(1 for t in task_ids if f"clearml-id-{t}" not in pods),
        "requeues": clearml.requests.count("queues.add_task"),
        # Every POST that created nothing (409 AlreadyExists, or a fault): the cost of the overlap.
        "pod_creates_refused": sum(1 for r in list(kube.requests) if r.method == "POST" and r.path.endswith("/pods"))
        - sum(creations.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--queues", type=int, default=1)
    parser.add_argument("--glues", type=int, default=1, help="run-glue processes")
    parser.add_argument("--with-reference", action="store_true", help="also run the real reference glue")
    parser.add_argument("--leader-elect", action="store_true")
    parser.add_argument("--lease", type=float, default=15.0, help="--lease-duration of run-glue, seconds")
    parser.add_argument("--pause-leader", type=float, default=0.0, metavar="S", help="SIGSTOP the leader S seconds")
    parser.add_argument("--poll-interval", type=float, default=0.2)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--sweep-interval", type=float, default=None)
    parser.add_argument("--run-for", type=float, default=0.0, help="pods run this long, then end (0: stay Pending)")
    parser.add_argument("--preload", action="store_true", help="queue every task before the glues start")
    parser.add_argument("--trickle", type=float, default=0.0, help="enqueue the tasks over this many seconds")
    parser.add_argument("--burst", type=int, default=1, help="with --trickle: enqueue this many at a time")
    parser.add_argument(
        "--create-latency", type=float, default=0.03, help="seconds each pod create takes (a real API server's)"
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--glue-python", default=sys.executable, help="interpreter of the run-glue processes (another install: before)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)

    workdir = Path(tempfile.mkdtemp(prefix="glue-coexist-"))
    clearml = ClearmlEmulator().start()
    kube = KubeEmulator(seed=seed).start()
    kube.store.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    creations: Counter[str] = Counter()
    kube.store.subscribe(
        lambda kind, plural, obj: (
            creations.update([obj["metadata"]["name"]]) if (kind, plural) == ("ADDED", "pods") else None
        )
    )
    if args.create_latency:
        kube.inject("POST", r"/pods$", status=None, latency=args.create_latency)
    runner = PodRunner(clearml, kube, args.run_for) if args.run_for else None
    queues = [f"shared-{i}" for i in range(args.queues)]
    for name in queues:
        clearml.state.create_queue(name)

    env = dict(os.environ)
    env.update(clearml.env())
    env["KUBECONFIG"] = kube.write_kubeconfig(workdir / "kubeconfig", namespace=NAMESPACE)
    env["HOME"] = str(workdir)

    def enqueue(n: int) -> str:
        return str(
            clearml.state.create_task(
                f"coexist task {n}",
                queue=queues[n % len(queues)],
                container={"image": "python:3.11-slim", "arguments": ""},
            )
        )

    task_ids = [enqueue(n) for n in range(args.tasks)] if args.preload else []
    logs: list[Path] = []
    procs: list[Any] = []
    if args.with_reference:
        procs.append(start_reference(env, queues, workdir, workdir / "reference.log"))
    for n in range(args.glues):
        logs.append(workdir / f"glue-{n}.log")
        procs.append(start_glue(env, queues, logs[-1], args, n))
    deadline = time.monotonic() + 60
    # Every glue started; with --leader-elect, the leader started (a standby logs nothing until it leads).
    wanted = 1 if args.leader_elect else len(logs)
    while time.monotonic() < deadline and sum(b"run-glue started" in p.read_bytes() for p in logs) < wanted:
        time.sleep(0.05)
    if args.with_reference:
        while time.monotonic() < deadline and b"No tasks in Queues" not in (workdir / "reference.log").read_bytes():
            time.sleep(0.05)

    started = time.monotonic()
    paused: int | None = None

    def pause() -> int | None:
        """SIGSTOP the leader (the first glue without --leader-elect) for --pause-leader seconds."""
        index = leader_of(kube, logs) if args.leader_elect else 0
        if index is not None:
            procs[-args.glues + index].send_signal(signal.SIGSTOP)
            time.sleep(args.pause_leader)
            procs[-args.glues + index].send_signal(signal.SIGCONT)
        return index

    pause_at = rng.randrange(max(1, args.tasks // 4), max(2, args.tasks // 2)) if args.pause_leader else -1
    for n in range(0 if args.preload else args.tasks):
        task_ids.append(enqueue(n))
        if args.trickle and (n + 1) % args.burst == 0:
            time.sleep(args.trickle * args.burst / args.tasks)
        if n == pause_at:
            paused = pause()
    if args.preload and args.pause_leader:
        # A backlog keeps the leader busy: the pause lands in the middle of a round, with heads read before it.
        while len(kube.store.list("pods", NAMESPACE)) < pause_at and time.monotonic() < started + args.timeout:
            time.sleep(0.02)
        paused = pause()
    deadline = time.monotonic() + args.timeout
    while not settled(clearml, kube, queues, task_ids) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(max(1.0, 3 * args.poll_interval))  # what a glue does right after the last pop counts too
    elapsed = time.monotonic() - started
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    result = outcome(clearml, kube, queues, task_ids, creations)
    if runner is not None:
        runner.stop()
        result["started_twice"] = sum(1 for n in runner.runs.values() if n > 1)
    result.update(
        scenario=("reference+" if args.with_reference else "")
        + f"{args.glues} run-glue"
        + (" leader-elect" if args.leader_elect else "")
        + (f" pause {args.pause_leader:g}s (glue {paused})" if args.pause_leader else ""),
        seconds=round(elapsed, 1),
        seed=seed,
        workdir=str(workdir),
    )
    ok = all(result[k] == 0 for k in ("run_twice", "failed_by_a_glue", "stranded", "left_queued"))
    result["ok"] = ok
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:18} {value}")
    clearml.stop()
    kube.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
