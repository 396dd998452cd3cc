"""Per agent queue: what one task pod asks for, where it may run, how many more fit now, and a verdict.

A queue's pod is its effective template (core/agent_config.py). Eligible nodes pass the scheduler's
node filters (cordon, taints vs tolerations, nodeSelector and required node affinity) and could hold one
pod when empty. "Fit now" packs pods greedily into the current free capacity of each eligible node (every
requested resource, plus the node's pod slots): exact for identical pods, since a node takes
floor(free / request) of them whatever the order.

Verdicts:
- MISCONFIGURED: the template cannot be built or parsed, asks for a GPU resource no node advertises,
  sets an extended-resource request different from its limit or a fractional GPU (the API rejects such a
  pod), or the queue does not exist on the ClearML server.
- NO ELIGIBLE NODE: no node could ever take the pod; the why is the scheduler's own message for an empty
  cluster ("0/7 nodes are available: ...").
- WAITING FOR GPUS: eligible nodes exist but none has room now.
- OK: at least one more pod fits now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.core.gpu import ClusterGpus, NodeGpus, PendingTaskPod, gpu_requests, is_gpu_resource
from kubectl_clearml.core.pod_labels import queue_label_values
from kubectl_clearml.core.quantity import QuantityError, format_resource, parse_quantity, resource_amount
from kubectl_clearml.core.scheduling import (
    PODS,
    Resources,
    eligibility_reasons,
    pod_requests,
    pod_spec,
    resource_reasons,
    unschedulable_message,
)

Obj = Mapping[str, Any]

OK = "OK"
WAITING = "WAITING FOR GPUS"
NO_ELIGIBLE_NODE = "NO ELIGIBLE NODE"
MISCONFIGURED = "MISCONFIGURED"


@dataclass(frozen=True)
class QueueInput:
    name: str
    template: Obj | None  # the effective pod template (a Pod dict or a bare pod spec)
    error: str | None = None  # why there is no template
    pending_tasks: int | None = None  # tasks waiting in the ClearML queue; None = unknown
    queue_id: str | None = None
    exists_in_clearml: bool | None = None  # False: the server has no such queue


@dataclass
class QueueReport:
    name: str
    verdict: str
    why: str
    requests: Resources = field(default_factory=dict)
    eligible_nodes: list[str] = field(default_factory=list)
    fit_by_node: dict[str, int] = field(default_factory=dict)
    pending_tasks: int | None = None
    running_pods: int = 0
    pending_pods: list[PendingTaskPod] = field(default_factory=list)

    @property
    def gpus_per_pod(self) -> Resources:
        return gpu_requests(self.requests)

    @property
    def fit_now(self) -> int:
        return sum(self.fit_by_node.values())

    def gpus_cell(self) -> str:
        return format_gpus(self.gpus_per_pod)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "gpusPerPod": self.gpus_per_pod,
            "requests": {name: format_resource(name, amount) for name, amount in self.requests.items()},
            "eligibleNodes": self.eligible_nodes,
            "fitNow": self.fit_now,
            "fitByNode": {node: n for node, n in self.fit_by_node.items() if n},
            "pendingTasks": self.pending_tasks,
            "runningPods": self.running_pods,
            "pendingPods": [
                {"name": p.name, "namespace": p.namespace, "taskId": p.task_id, "reason": p.reason}
                for p in self.pending_pods
            ],
            "verdict": self.verdict,
            "why": self.why,
        }


def format_gpus(gpus: Mapping[str, int]) -> str:
    """``{"nvidia.com/gpu": 2}`` -> "2"; other GPU resources are named: "1 mig-1g.5gb"."""
    if not gpus:
        return "0"
    parts = []
    for name, amount in sorted(gpus.items()):
        parts.append(str(amount) if name == "nvidia.com/gpu" else f"{amount} {name.removeprefix('nvidia.com/')}")
    return "+".join(parts)


def pods_that_fit(requests: Mapping[str, int], node: NodeGpus) -> int:
    """How many more identical pods the node takes now (free capacity and free pod slots)."""
    used = node.used
    allocatable = node.allocatable
    room = allocatable.get(PODS, 0) - used.get(PODS, 0)
    for name, amount in requests.items():
        if amount > 0:
            room = min(room, (allocatable.get(name, 0) - used.get(name, 0)) // amount)
    return max(room, 0)


def _extended_mismatch(template: Obj) -> str | None:
    # For extended resources (GPUs, MIG slices) the API requires request == limit when both are set.
    for container in list(pod_spec(template).get("containers") or ()) + list(
        pod_spec(template).get("initContainers") or ()
    ):
        resources = container.get("resources") or {}
        limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
        for name, value in [*limits.items(), *requests.items()]:
            # The API wants whole numbers for extended resources ("must be an integer"); the scheduler would
            # round 0.5 up to a whole GPU anyway. Sharing a GPU takes MIG or time-slicing instead.
            if value is not None and is_gpu_resource(str(name)) and parse_quantity(value).denominator != 1:
                return (
                    f"{name}: {value} is not a whole number (the API rejects the pod; "
                    "share GPUs with MIG or time-slicing instead)"
                )
        for name, value in requests.items():
            if not is_gpu_resource(str(name)):
                continue
            if name not in limits:
                return f"{name} is requested without a limit (extended resources must set limits)"
            if resource_amount(str(name), limits[name]) != resource_amount(str(name), value):
                return f"{name} request {value} differs from its limit {limits[name]} (the API rejects the pod)"
    return None


def largest_free(resource: str, nodes: Iterable[NodeGpus]) -> tuple[int, str | None]:
    best, where = 0, None
    for node in nodes:
        free = node.allocatable.get(resource, 0) - node.used.get(resource, 0)
        if free > best:
            best, where = free, node.name
    return best, where


def _pending_note(pending: int | None, pods: int) -> str:
    parts = []
    if pending:
        parts.append(f"{pending} task(s) queued")
    if pods:
        parts.append(f"{pods} task pod(s) pending")
    return "; " + ", ".join(parts) if parts else ""


def queue_report(queue: QueueInput, cluster: ClusterGpus) -> QueueReport:
    labels = queue_label_values(queue.name)  # the glue's clearml-agent-queue-name values (k8s.py:1573-1581)
    report = QueueReport(queue.name, MISCONFIGURED, "", pending_tasks=queue.pending_tasks)
    report.running_pods = sum(cluster.running_task_pods.get(label, 0) for label in labels)
    report.pending_pods = [
        p
        for p in cluster.pending_task_pods
        if p.queue_name in labels or (queue.queue_id and p.queue_id == queue.queue_id)
    ]
    if queue.template is None:
        report.why = queue.error or "no pod template for this queue"
        return report
    try:
        report.requests = pod_requests(queue.template)
        mismatch = _extended_mismatch(queue.template)
    except QuantityError as exc:
        report.why = f"template: {exc.one_line()}"
        return report
    if mismatch:
        report.why = mismatch
        return report
    nodes = list(cluster.nodes.values())
    for name in report.gpus_per_pod:
        if not any(node.allocatable.get(name, 0) > 0 for node in nodes):
            report.why = f"asks for {name}, which no node advertises"
            return report
    if queue.exists_in_clearml is False:
        report.why = "the queue does not exist on the ClearML server (no task can be enqueued to it)"
        return report

    eligible: list[NodeGpus] = []
    empty_cluster_reasons: list[list[str]] = []
    for node, reasons in zip(nodes, node_reasons(queue.template, report.requests, nodes, now=False), strict=True):
        if reasons:
            empty_cluster_reasons.append(reasons)
        else:
            eligible.append(node)
    report.eligible_nodes = [n.name for n in eligible]
    for pending in report.pending_pods:
        if pending.reason is None:
            pending.reason = _scheduler_view(pending.pod, nodes)
    if not eligible:
        report.verdict = NO_ELIGIBLE_NODE
        report.why = unschedulable_message(empty_cluster_reasons)
        return report

    report.fit_by_node = {node.name: pods_that_fit(report.requests, node) for node in eligible}
    note = _pending_note(queue.pending_tasks, len(report.pending_pods))
    if report.fit_now > 0:
        placed = sum(1 for n in report.fit_by_node.values() if n)
        report.verdict = OK
        report.why = f"room for {report.fit_now} more pod(s) on {placed} of {len(eligible)} eligible node(s){note}"
        return report
    report.verdict = WAITING
    gpus = report.gpus_per_pod
    if gpus:
        resource, amount = max(gpus.items(), key=lambda item: item[1])
        best, where = largest_free(resource, eligible)
        where_text = f" ({where})" if where else ""
        report.why = f"needs {amount} {resource} per pod, at most {best} free on one eligible node{where_text}{note}"
    else:
        current = [resource_reasons(report.requests, n.allocatable, n.used) for n in eligible]
        report.why = unschedulable_message(current) + note
    return report


def _scheduler_view(pod: Obj, nodes: list[NodeGpus]) -> str | None:
    """The message the scheduler would give a pending pod now (when the pod carries none yet)."""
    reasons = node_reasons(pod, pod_requests(pod), nodes, now=True)
    if any(not found for found in reasons):
        return None  # it fits somewhere: the scheduler has simply not bound it yet
    return unschedulable_message(reasons)


def _selector_keys(pod: Obj) -> tuple[list[str], bool]:
    """The node label keys the pod's nodeSelector and required affinity read; whether it matches by name."""
    spec = pod_spec(pod)
    keys = list((spec.get("nodeSelector") or {}).keys())
    by_name = False
    affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    for term in (affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or ():
        keys.extend(str(e.get("key", "")) for e in term.get("matchExpressions") or ())
        by_name = by_name or bool(term.get("matchFields"))
    return sorted(set(keys)), by_name


def node_reasons(pod: Obj, requests: Resources, nodes: list[NodeGpus], *, now: bool) -> list[list[str]]:
    """The scheduler's filter reasons per node: against empty nodes, or (``now``) against current use.

    Thousands of nodes share a few shapes, so each distinct shape is evaluated once: the labels the pod's
    selectors read, cordon/readiness/taints, and the amounts of the requested resources.
    """
    keys, by_name = _selector_keys(pod)
    resources = [*sorted(requests), PODS]
    memo: dict[tuple[Any, ...], list[str]] = {}
    out = []
    for node in nodes:
        labels = (node.node.get("metadata") or {}).get("labels") or {}
        shape = (
            tuple(labels.get(k) for k in keys),
            node.name if by_name else None,
            tuple(node.flags()),
            tuple(node.taints),
            tuple(node.allocatable.get(r, 0) for r in resources),
            tuple(node.used.get(r, 0) for r in resources) if now else None,
        )
        reasons = memo.get(shape)
        if reasons is None:
            used = node.used if now else {}
            reasons = eligibility_reasons(pod, node.node) or resource_reasons(requests, node.allocatable, used)
            memo[shape] = reasons
        out.append(reasons)
    return out


def queue_reports(queues: Iterable[QueueInput], cluster: ClusterGpus) -> list[QueueReport]:
    return [queue_report(queue, cluster) for queue in queues]
