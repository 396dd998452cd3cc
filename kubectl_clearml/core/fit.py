"""Fit-aware dispatch: may this task's pod start now, and if not, what does the task's status say?

The answer is gpu-report's queue verdict (core/gpu_queues.queue_report) for the one pod the glue built, on a
model of the cluster (core/gpu.build_cluster) in which every pod that is not bound yet (the glue's own pods
the scheduler has not placed, pods created this round) is reserved on the first node that would take it:
two launches in a row never count the same free GPU twice. No scheduling rule is written twice: eligibility
and resource fit are core/scheduling's filters, the vocabulary is gpu-report's.

``UnfitClock`` times how long a task has been unable to fit anywhere (NO ELIGIBLE NODE / MISCONFIGURED), so
the glue fails it after ``--unschedulable-after`` instead of leaving it queued forever; a new node (an
autoscaler's) restarts every clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.core.gpu import ClusterGpus, build_cluster
from kubectl_clearml.core.gpu_queues import MISCONFIGURED, NO_ELIGIBLE_NODE, OK, WAITING, QueueInput, queue_report
from kubectl_clearml.core.quantity import QuantityError
from kubectl_clearml.core.scheduling import PODS, eligibility_reasons, is_terminal, pod_requests, resource_reasons

Obj = Mapping[str, Any]

PREFIX = {WAITING: "waiting for GPUs", NO_ELIGIBLE_NODE: "no eligible node", MISCONFIGURED: "cannot be scheduled"}
NEVER_NOW = frozenset({NO_ELIGIBLE_NODE, MISCONFIGURED})  # no amount of waiting for pods to end helps


@dataclass(frozen=True)
class FitVerdict:
    verdict: str  # gpu-report's OK / WAITING FOR GPUS / NO ELIGIBLE NODE / MISCONFIGURED
    why: str

    @property
    def fits(self) -> bool:
        return self.verdict == OK

    @property
    def never_now(self) -> bool:
        return self.verdict in NEVER_NOW

    def message(self) -> str:
        """The task's status message while it waits (WAITING: without the scheduler's "0/N nodes" noise)."""
        if self.verdict == WAITING and self.why.startswith("0/"):
            return f"waiting for room: {self.why}"
        return f"{PREFIX.get(self.verdict, self.verdict.lower())}: {self.why}"


def place(cluster: ClusterGpus, pod: Obj) -> str | None:
    """Reserve the pod's requests on the first node (by name) that would take it now; its name, or None."""
    try:
        requests = pod_requests(pod)
    except QuantityError:
        return None
    for name in sorted(cluster.nodes):
        node = cluster.nodes[name]
        if not node.schedulable or eligibility_reasons(pod, node.node):
            continue
        if resource_reasons(requests, node.allocatable, node.used):
            continue
        for resource, amount in requests.items():
            node.used[resource] = node.used.get(resource, 0) + amount
        node.used[PODS] = node.used.get(PODS, 0) + 1
        return name
    return None


def _bound(pod: Obj) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


def cluster_model(nodes: Iterable[Obj], pods: Iterable[Obj]) -> ClusterGpus:
    """gpu-report's cluster, plus a reservation for every live pod the scheduler has not bound yet."""
    pods = list(pods)
    cluster = build_cluster(nodes, pods)
    for pod in pods:
        if not _bound(pod) and not is_terminal(pod) and not (pod.get("metadata") or {}).get("deletionTimestamp"):
            place(cluster, pod)
    return cluster


def decide(pod: Obj, cluster: ClusterGpus) -> FitVerdict:
    report = queue_report(QueueInput(name="", template=pod), cluster)
    return FitVerdict(report.verdict, report.why)


@dataclass
class UnfitClock:
    """Since when each task has had no node that could ever take it; node additions restart the count."""

    since: dict[str, float] = field(default_factory=dict)
    nodes_seen: frozenset[str] = frozenset()

    def observe_nodes(self, names: Iterable[str]) -> None:
        current = frozenset(names)
        if current - self.nodes_seen:  # a node appeared (autoscaler, a repaired node): hope again
            self.since.clear()
        self.nodes_seen = current

    def waited(self, task_id: str, verdict: FitVerdict, now: float) -> float:
        """Seconds the task has been unable to fit anywhere (0 while it only waits for room)."""
        if not verdict.never_now:
            self.since.pop(task_id, None)
            return 0.0
        return now - self.since.setdefault(task_id, now)

    def forget(self, task_id: str) -> None:
        self.since.pop(task_id, None)


@dataclass
class BackfillBudget:
    """With --backfill, how many later tasks of a queue may start past its waiting head.

    The rule: while the head of a queue waits, at most ``limit`` later tasks of that queue that fit may
    start; then the queue waits for its head. A head that starts (or leaves the queue) resets the count.
    So a large task is passed at most ``limit`` times per wait and is never starved by a stream of
    small ones.
    """

    limit: int
    heads: dict[str, str] = field(default_factory=dict)  # queue id -> the waiting head's task id
    used: dict[str, int] = field(default_factory=dict)

    def head_waits(self, queue_id: str, task_id: str) -> None:
        if self.heads.get(queue_id) != task_id:
            self.heads[queue_id] = task_id
            self.used[queue_id] = 0

    def head_started(self, queue_id: str, task_id: str) -> None:
        if self.heads.get(queue_id) == task_id:
            self.heads.pop(queue_id, None)
            self.used.pop(queue_id, None)

    def may_pass(self, queue_id: str) -> bool:
        return queue_id not in self.heads or self.used.get(queue_id, 0) < self.limit

    def passed(self, queue_id: str) -> None:
        if queue_id in self.heads:
            self.used[queue_id] = self.used.get(queue_id, 0) + 1
