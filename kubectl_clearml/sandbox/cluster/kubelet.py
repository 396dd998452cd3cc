"""A simulated kubelet for every node: bound pods go Pending → Running → Succeeded/Failed.

Per pod it pulls images (or fails to: ErrImagePull, then ImagePullBackOff with a doubling back-off), starts
the containers, serves their log and terminates them when the pod's run plan (workload.py) says so. Status,
events and logs are written the way a real kubelet reports them, so clients see the same fields they would
read on a cluster (phase, conditions, containerStatuses[].state, exit codes, reasons).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.sandbox.cluster.clock import utc_timestamp
from kubectl_clearml.sandbox.cluster.events import pod_event
from kubectl_clearml.sandbox.cluster.in_pod_agent import PodHooks, configuration_lines
from kubectl_clearml.sandbox.cluster.store import ClusterStore, Obj
from kubectl_clearml.sandbox.cluster.workload import (
    KubeletSettings,
    RunPlan,
    image_fails,
    plan_run,
    pull_error_message,
    stop_seconds,
)

COMPONENT = "kubelet"
TERMINATION_LOG_LINES = 80
TERMINATION_LOG_BYTES = 2048
LOG = logging.getLogger("kubectl_clearml.sandbox.cluster")


@dataclass
class _PodLife:
    namespace: str
    name: str
    node: str
    stage: str  # pulling | pull-error | backoff | running | terminating | done
    due: float  # simulated time of the next transition (inf: none)
    plan: RunPlan | None = None
    started_at: str | None = None
    backoff: float = 0.0
    log: list[str] = field(default_factory=list)
    process: bool = False  # runs for real (processes.py)


def _key(pod: Obj) -> str:
    return str(pod["metadata"].get("uid") or f"{pod['metadata'].get('namespace')}/{pod['metadata']['name']}")


def _images(pod: Obj) -> list[str]:
    spec = pod.get("spec") or {}
    return [str(c.get("image", "")) for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]


class Kubelet:
    def __init__(
        self,
        store: ClusterStore,
        settings: KubeletSettings | None = None,
        hooks: PodHooks | None = None,
        processes: Any = None,
    ) -> None:
        self.store = store
        self.settings = settings or KubeletSettings()
        self.hooks = hooks  # what the processes in the pods report elsewhere (in_pod_agent.py)
        self.processes = processes  # ProcessPods: pods of kubectl-clearml's own image run for real
        self._lives: dict[str, _PodLife] = {}

    # ---- the loop's entry point ----------------------------------------------------------------------
    def step(self, now: float, pods: list[Obj]) -> float:
        """Advance every bound pod to ``now``; returns the simulated time of the next transition."""
        seen: set[str] = set()
        for pod in pods:
            spec = pod.get("spec") or {}
            node = spec.get("nodeName")
            if not node:
                continue
            key = _key(pod)
            seen.add(key)
            life = self._lives.get(key)
            if life is None:
                life = self._adopt(pod, node, now)
                if life is None:
                    continue
                self._lives[key] = life
            if pod["metadata"].get("deletionTimestamp") and life.stage != "terminating":
                self._terminate(pod, life, now)
            if life.process:
                self._follow(pod, life, now)
            while life.due <= now and life.stage != "done":
                self._advance(pod, life, now)
        for gone in set(self._lives) - seen:  # deleted pods
            if self._lives.pop(gone).process:
                self.processes.forget(gone)
        return min((life.due for life in self._lives.values()), default=math.inf)

    # ---- transitions ---------------------------------------------------------------------------------
    def _adopt(self, pod: Obj, node: str, now: float) -> _PodLife | None:
        meta, status = pod["metadata"], pod.get("status") or {}
        phase = status.get("phase") or "Pending"
        life = _PodLife(meta.get("namespace", "default"), meta["name"], node, "pulling", now)
        if phase in ("Succeeded", "Failed"):
            life.stage, life.due = "done", math.inf
            return life
        if phase == "Running":
            # Already running (seeded, or set through the store backdoor): just let it finish on plan.
            life.plan = plan_run(pod, node, self.settings)
            life.stage, life.started_at = "running", status.get("startTime") or utc_timestamp()
            life.due = now + life.plan.run_seconds
            return life
        for image in _images(pod)[:1]:
            self._event(pod, "Pulling", f'Pulling image "{image}"', node)
        life.due = now + self.settings.pull_seconds
        self._write_status(pod, life, "Pending", self._waiting(pod, "ContainerCreating", None))
        return life

    def _advance(self, pod: Obj, life: _PodLife, now: float) -> None:
        if life.stage in ("pulling", "backoff"):
            failing = next((image for image in _images(pod) if image_fails(image, self.settings)), None)
            if failing is None:
                self._start(pod, life, now)
            else:
                self._pull_failed(pod, life, failing, now)
        elif life.stage == "pull-error":
            image = next(image for image in _images(pod) if image_fails(image, self.settings))
            self._event(pod, "BackOff", f'Back-off pulling image "{image}"', life.node, warning=True)
            self._event(pod, "Failed", "Error: ImagePullBackOff", life.node, warning=True)
            message = f'Back-off pulling image "{image}"'
            self._write_status(pod, life, "Pending", self._waiting(pod, "ImagePullBackOff", message, image))
            life.stage, life.due = "backoff", now + life.backoff
        elif life.stage == "running":
            self._finish(pod, life)
        elif life.stage == "terminating":
            # The containers have stopped: the kubelet removes the pod for good (a delete with grace 0).
            self.store.delete("pods", life.name, life.namespace)
            life.stage, life.due = "done", math.inf

    def _follow(self, pod: Obj, life: _PodLife, now: float) -> None:
        """A real process: its output is the log, its exit ends the container (or the termination)."""
        key = _key(pod)
        self.processes.sync(key, pod)
        lines = self.processes.log(key)
        if lines != life.log:
            life.log = lines
            self.store.set_pod_log(life.namespace, life.name, "\n".join(lines) + "\n")
        code = self.processes.exit_code(key)
        if code is None or life.plan is None:
            return
        if life.stage == "running":
            life.plan = dataclasses.replace(life.plan, exit_code=code if code >= 0 else 128 - code)
            life.due = now
        elif life.stage == "terminating":
            life.due = now

    def _terminate(self, pod: Obj, life: _PodLife, now: float) -> None:
        """A graceful delete: SIGTERM now, the pod goes once the process exits or the grace period ends."""
        if life.process:
            # A real process gets its grace period in real seconds (processes.py): the pod goes when it exits.
            self.processes.terminate(_key(pod), float((pod.get("spec") or {}).get("terminationGracePeriodSeconds") or 30))
            for container in (pod.get("spec") or {}).get("containers") or []:
                self._event(pod, "Killing", f"Stopping container {container.get('name', '')}", life.node)
            life.stage, life.due = "terminating", math.inf
            return
        grace = stop_seconds(pod, self.settings)
        for container in (pod.get("spec") or {}).get("containers") or []:
            self._event(pod, "Killing", f"Stopping container {container.get('name', '')}", life.node)
        life.stage, life.due = "terminating", now + (grace if life.stage == "running" else 0.0)

    def _pull_failed(self, pod: Obj, life: _PodLife, image: str, now: float) -> None:
        message = pull_error_message(image)
        self._event(pod, "Failed", f'Failed to pull image "{image}": {message}', life.node, warning=True)
        self._event(pod, "Failed", "Error: ErrImagePull", life.node, warning=True)
        self._write_status(pod, life, "Pending", self._waiting(pod, "ErrImagePull", message, image))
        life.backoff = min(
            self.settings.max_pull_backoff_seconds,
            life.backoff * 2 if life.backoff else self.settings.pull_backoff_seconds,
        )
        # kubelet retries right away once, reporting ErrImagePull, then backs off.
        life.stage, life.due = "pull-error", now + min(1.0, life.backoff)

    def _start(self, pod: Obj, life: _PodLife, now: float) -> None:
        seconds = self.settings.pull_seconds
        for image in _images(pod)[:1]:
            self._event(pod, "Pulled", f'Successfully pulled image "{image}" in {seconds:.3f}s', life.node)
        for container in (pod.get("spec") or {}).get("containers") or []:
            self._event(pod, "Created", f"Created container {container.get('name', '')}", life.node)
            self._event(pod, "Started", f"Started container {container.get('name', '')}", life.node)
        life.plan = plan_run(pod, life.node, self.settings)
        if self.processes is not None and self.processes.claims(pod):
            self.processes.start(_key(pod), pod)
            life.process = True
            life.plan = dataclasses.replace(life.plan, run_seconds=math.inf, start_lines=(), end_lines=())
        life.started_at = utc_timestamp()
        life.stage, life.due = "running", now + life.plan.run_seconds
        life.log.extend(life.plan.start_lines)
        if ((pod.get("metadata") or {}).get("labels") or {}).get("clearml-task-id"):
            life.log.extend(configuration_lines(pod, self.store.list("secrets")))
        self.store.set_pod_log(life.namespace, life.name, "\n".join(life.log) + "\n")
        running = {"running": {"startedAt": life.started_at}}
        self._write_status(pod, life, "Running", self._states(pod, running, ready=True))
        self._hook("started", pod)

    def _finish(self, pod: Obj, life: _PodLife) -> None:
        assert life.plan is not None
        code = life.plan.exit_code
        life.log.extend(life.plan.end_lines)
        self.store.set_pod_log(life.namespace, life.name, "\n".join(life.log) + "\n")
        terminated = {
            "terminated": {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": life.started_at,
                "finishedAt": utc_timestamp(),
                "containerID": f"containerd://{_key(pod).replace('-', '')}",
            }
        }
        statuses = self._states(pod, terminated, ready=False)
        if code != 0:
            self._fallback_to_logs(pod, statuses, life.log)
        phase = "Succeeded" if code == 0 else "Failed"
        self._hook("finished", pod, code)  # the process reports before the container is seen terminated
        self._write_status(pod, life, phase, statuses)
        life.stage, life.due = "done", math.inf

    @staticmethod
    def _fallback_to_logs(pod: Obj, statuses: list[Obj], log: list[str]) -> None:
        """``terminationMessagePolicy: FallbackToLogsOnError``: a failed container's message is its log tail
        (the last 80 lines, at most 2048 bytes), as kubelet reports it."""
        policies = {
            c.get("name"): c.get("terminationMessagePolicy") for c in (pod.get("spec") or {}).get("containers") or []
        }
        tail = "\n".join(log[-TERMINATION_LOG_LINES:]).encode()[-TERMINATION_LOG_BYTES:].decode(errors="ignore")
        for status in statuses:
            if policies.get(status["name"]) == "FallbackToLogsOnError":
                status["state"]["terminated"]["message"] = tail

    def _hook(self, name: str, pod: Obj, *args: int) -> None:
        if self.hooks is None:
            return
        try:
            getattr(self.hooks, name)(pod, *args)
        except Exception:  # a hook failing must not stop the node
            LOG.exception("pod hook %s failed for %s", name, pod["metadata"].get("name"))

    # ---- status building -----------------------------------------------------------------------------
    def _waiting(self, pod: Obj, reason: str, message: str | None, image: str | None = None) -> list[Obj]:
        waiting: dict[str, Any] = {"reason": reason}
        if message:
            waiting["message"] = message
        statuses = self._states(pod, {"waiting": waiting}, ready=False)
        if image is not None:  # only the failing container is stuck on the pull; the others wait too
            for status in statuses:
                if status["image"] != image:
                    status["state"] = {"waiting": {"reason": "ContainerCreating"}}
        return statuses

    @staticmethod
    def _states(pod: Obj, state: Obj, *, ready: bool) -> list[Obj]:
        out = []
        for container in (pod.get("spec") or {}).get("containers") or []:
            status: dict[str, Any] = {
                "name": container.get("name", ""),
                "image": container.get("image", ""),
                "imageID": "",
                "ready": ready,
                "restartCount": 0,
                "started": "running" in state,
                "state": copy.deepcopy(state),
                "lastState": {},
            }
            if "running" in state or "terminated" in state:
                status["imageID"] = f"{container.get('image', '')}@sha256:{'0' * 64}"
                status["containerID"] = f"containerd://{_key(pod).replace('-', '')}{container.get('name', '')}"
            out.append(status)
        return out

    def _write_status(self, pod: Obj, life: _PodLife, phase: str, containers: list[Obj]) -> None:
        status = dict(pod.get("status") or {})
        now = utc_timestamp()
        status["phase"] = phase
        status.setdefault("startTime", now)
        status["hostIP"] = _node_ip(life.node)
        if phase != "Pending" or "podIP" in status:
            status["podIP"] = _pod_ip(_key(pod))
        status["qosClass"] = status.get("qosClass") or "BestEffort"
        status["containerStatuses"] = containers
        init = (pod.get("spec") or {}).get("initContainers") or []
        if init and phase != "Pending":
            status["initContainerStatuses"] = [
                {
                    "name": c.get("name", ""),
                    "image": c.get("image", ""),
                    "ready": True,
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
                }
                for c in init
            ]
        ready = all(c.get("ready") for c in containers) and bool(containers)
        reason = "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        conditions["Initialized"] = {"type": "Initialized", "status": "True", "lastTransitionTime": now}
        for kind in ("Ready", "ContainersReady"):
            previous = conditions.get(kind) or {}
            value = "True" if ready else "False"
            condition: dict[str, Any] = {
                "type": kind,
                "status": value,
                "lastTransitionTime": previous.get("lastTransitionTime", now)
                if previous.get("status") == value
                else now,
            }
            if not ready:
                condition["reason"] = reason
            conditions[kind] = condition
        order = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
        status["conditions"] = sorted(
            conditions.values(), key=lambda c: order.index(c["type"]) if c["type"] in order else 99
        )
        self.store.update_pod_status(life.namespace, life.name, status)
        pod["status"] = status  # later transitions in this step build on it

    def _event(self, pod: Obj, reason: str, message: str, node: str, *, warning: bool = False) -> None:
        self.store.create_event(pod_event(pod, reason, message, component=COMPONENT, warning=warning, host=node))


def _node_ip(node: str) -> str:
    return "10.0.0." + str(sum(node.encode()) % 250 + 2)


def _pod_ip(key: str) -> str:
    digest = sum(key.encode()) + len(key) * 31
    return f"10.244.{digest % 250 + 1}.{(digest // 250) % 250 + 2}"
