"""GPU accounting per node and per GPU product, from plain node and pod dicts in one pass.

What counts (kubectl-plugins.md §4 "GPU reports"):
- GPU resources: ``nvidia.com/gpu`` (whole GPUs; MIG *single* devices when the product label ends in
  ``-MIG-<profile>``; time-slices when it ends in ``-SHARED``), ``nvidia.com/gpu.shared`` (time-slicing with
  ``renameByDefault``), ``nvidia.com/mig-<profile>`` (MIG *mixed*), and other vendors' ``<domain>/gpu``.
- Requested = the sum of the effective requests (core/scheduling.py) of the non-terminal pods bound to the
  node; free = allocatable - requested. ClearML task pods (label ``CLEARML`` or ``clearml-task-id``) are
  counted apart from other pods.
- A node's product per resource: ``nvidia.com/gpu.product`` for ``nvidia.com/gpu``; the GFD per-profile label
  ``nvidia.com/mig-<profile>.product`` (else ``<product>-MIG-<profile>``) for MIG mixed; ``<product>-SHARED``
  for ``nvidia.com/gpu.shared``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.core.scheduling import (
    BLOCKING_EFFECTS,
    PODS,
    TERMINAL_PHASES,
    Resources,
    node_allocatable,
    node_capacity,
    node_ready,
    pod_request_items,
)

Obj = Mapping[str, Any]

GPU = "nvidia.com/gpu"
GPU_SHARED = "nvidia.com/gpu.shared"
MIG_PREFIX = "nvidia.com/mig-"
PRODUCT_LABEL = "nvidia.com/gpu.product"
COUNT_LABEL = "nvidia.com/gpu.count"
REPLICAS_LABEL = "nvidia.com/gpu.replicas"
MIG_STRATEGY_LABEL = "nvidia.com/mig.strategy"
SHARING_LABEL = "nvidia.com/gpu.sharing-strategy"
PRESENT_LABEL = "nvidia.com/gpu.present"
TASK_POD_LABELS = ("CLEARML", "clearml-task-id")
QUEUE_NAME_LABEL = "clearml-agent-queue-name"
QUEUE_ID_LABEL = "clearml-agent-queue"
UNKNOWN_PRODUCT = "unknown"


def is_gpu_resource(name: str) -> bool:
    return name in (GPU, GPU_SHARED) or name.startswith(MIG_PREFIX) or name.endswith("/gpu")


def is_task_pod(pod: Obj) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return any(label in labels for label in TASK_POD_LABELS)


def gpu_requests(requests: Mapping[str, int]) -> Resources:
    return {name: amount for name, amount in requests.items() if is_gpu_resource(name)}


def _int_label(labels: Mapping[str, str], key: str) -> int | None:
    try:
        return int(labels[key])
    except (KeyError, TypeError, ValueError):
        return None


def gpu_mode(labels: Mapping[str, str], resources: Iterable[str]) -> str:
    """whole | mig-mixed | mig-single | time-sliced | none (how the node's GPUs are handed out)."""
    names = set(resources)
    product = labels.get(PRODUCT_LABEL, "")
    if any(n.startswith(MIG_PREFIX) for n in names) or labels.get(MIG_STRATEGY_LABEL) == "mixed":
        return "mig-mixed"
    if labels.get(MIG_STRATEGY_LABEL) == "single" or "-MIG-" in product:
        return "mig-single"
    replicas = _int_label(labels, REPLICAS_LABEL) or 1
    if (
        GPU_SHARED in names
        or product.endswith("-SHARED")
        or replicas > 1
        or labels.get(SHARING_LABEL) in ("time-slicing", "mps")
    ):
        return "time-sliced"
    if any(is_gpu_resource(n) for n in names) or labels.get(PRESENT_LABEL) == "true":
        return "whole"
    return "none"


def resource_product(resource: str, labels: Mapping[str, str]) -> str:
    base = labels.get(PRODUCT_LABEL) or UNKNOWN_PRODUCT
    if resource.startswith(MIG_PREFIX):
        profile = resource[len(MIG_PREFIX) :]
        return labels.get(f"{resource}.product") or f"{base}-MIG-{profile}"
    if resource == GPU_SHARED:
        return base if base.endswith("-SHARED") else f"{base}-SHARED"
    if resource != GPU and not resource.startswith("nvidia.com/"):
        return labels.get(f"{resource.split('/', 1)[0]}/gpu.product") or resource
    return base


@dataclass
class GpuSlot:
    """One GPU resource on one node."""

    resource: str
    product: str
    capacity: int
    allocatable: int
    requested: int = 0
    clearml: int = 0  # requested by ClearML task pods
    other: int = 0  # requested by every other pod

    @property
    def free(self) -> int:
        return self.allocatable - self.requested

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "product": self.product,
            "capacity": self.capacity,
            "allocatable": self.allocatable,
            "requested": self.requested,
            "free": self.free,
            "requestedByClearml": self.clearml,
            "requestedByOthers": self.other,
        }


@dataclass
class NodeGpus:
    name: str
    node: Obj  # the raw node, for eligibility checks
    mode: str
    product: str
    physical_gpus: int
    replicas: int
    ready: bool | None
    cordoned: bool
    taints: list[str]  # "key=value:Effect" of the blocking taints
    allocatable: Resources
    slots: dict[str, GpuSlot]
    used: Resources = field(default_factory=dict)  # every resource requested on the node, plus "pods"
    task_pods: int = 0  # ClearML task pods bound here (any resources)
    gpu_task_pods: int = 0  # ...of which request a GPU resource
    gpu_other_pods: int = 0  # non-ClearML pods requesting a GPU resource

    @property
    def has_gpus(self) -> bool:
        return bool(self.slots) or self.mode != "none"

    @property
    def schedulable(self) -> bool:
        # A Ready=Unknown node carries the lifecycle controller's unreachable NoSchedule taint: no new pod
        # lands there, so its free GPUs are not a block anyone can use (the queue view agrees, via
        # scheduling.node_taints). A node with no Ready condition at all is taken as schedulable.
        if self.cordoned or self.ready is False:
            return False
        return self.ready is True or not _has_ready_condition(self.node)

    def flags(self) -> list[str]:
        out = []
        if self.ready is False:
            out.append("NotReady")
        elif self.ready is None and _has_ready_condition(self.node):
            out.append("Unknown")
        if self.cordoned:
            out.append("cordoned")
        if self.taints:
            out.append("tainted")
        return out

    def free(self) -> Resources:
        return {name: amount - self.used.get(name, 0) for name, amount in self.allocatable.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "product": self.product,
            "mode": self.mode,
            "physicalGpus": self.physical_gpus,
            "replicas": self.replicas,
            "ready": self.ready,
            "cordoned": self.cordoned,
            "taints": self.taints,
            "flags": self.flags(),
            "gpuPods": {"clearml": self.gpu_task_pods, "other": self.gpu_other_pods},
            "resources": [slot.to_dict() for slot in self.slots.values()],
        }


def _has_ready_condition(node: Obj) -> bool:
    return any(c.get("type") == "Ready" for c in (node.get("status") or {}).get("conditions") or ())


def node_gpus(node: Obj) -> NodeGpus:
    metadata = node.get("metadata") or {}
    labels: Mapping[str, str] = metadata.get("labels") or {}
    allocatable = node_allocatable(node)
    capacity = node_capacity(node) or dict(allocatable)
    gpu_names = [n for n in {**capacity, **allocatable} if is_gpu_resource(n)]
    mode = gpu_mode(labels, gpu_names)
    slots: dict[str, GpuSlot] = {}
    for name in sorted(gpu_names):
        if name == GPU and mode == "mig-mixed" and not capacity.get(name) and not allocatable.get(name):
            continue  # every GPU is partitioned: the zero nvidia.com/gpu adds nothing but noise
        slots[name] = GpuSlot(name, resource_product(name, labels), capacity.get(name, 0), allocatable.get(name, 0))
    replicas = _int_label(labels, REPLICAS_LABEL) or 1
    counted = _int_label(labels, COUNT_LABEL)
    if counted is None:
        whole = capacity.get(GPU, 0) or capacity.get(GPU_SHARED, 0)
        counted = whole // replicas if mode == "time-sliced" else whole
    spec = node.get("spec") or {}
    taints = [
        f"{t.get('key', '')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect', '')}"
        for t in spec.get("taints") or ()
        if t.get("effect") in BLOCKING_EFFECTS
    ]
    return NodeGpus(
        name=metadata.get("name", ""),
        node=node,
        mode=mode,
        product=labels.get(PRODUCT_LABEL) or ("-" if mode == "none" else UNKNOWN_PRODUCT),
        physical_gpus=counted if mode != "none" else 0,
        replicas=replicas,
        ready=node_ready(node),
        cordoned=bool(spec.get("unschedulable")),
        taints=taints,
        allocatable=allocatable,
        slots=slots,
    )


@dataclass
class PendingTaskPod:
    name: str
    namespace: str
    queue_name: str | None  # the (sanitised) clearml-agent-queue-name label
    queue_id: str | None
    task_id: str | None
    pod: Obj
    reason: str | None  # the scheduler's message from the PodScheduled condition, when there is one


@dataclass
class ClusterGpus:
    nodes: dict[str, NodeGpus]
    pending_task_pods: list[PendingTaskPod] = field(default_factory=list)
    running_task_pods: dict[str, int] = field(default_factory=dict)  # queue label -> bound task pods
    pods_seen: int = 0
    pods_on_other_nodes: int = 0  # bound to nodes outside the node selection

    def gpu_nodes(self) -> list[NodeGpus]:
        return [n for n in self.nodes.values() if n.has_gpus]


def _scheduler_message(pod: Obj) -> str | None:
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return str(condition.get("message") or condition.get("reason") or "") or None
    return None


def _pending(pod: Obj, labels: Mapping[str, str]) -> PendingTaskPod:
    metadata = pod.get("metadata") or {}
    return PendingTaskPod(
        name=metadata.get("name", ""),
        namespace=metadata.get("namespace", ""),
        queue_name=labels.get(QUEUE_NAME_LABEL),
        queue_id=labels.get(QUEUE_ID_LABEL),
        task_id=labels.get("clearml-task-id"),
        pod=pod,
        reason=_scheduler_message(pod),
    )


def _in_namespace(pod: Obj, namespace: str | None) -> bool:
    return namespace is None or (pod.get("metadata") or {}).get("namespace") == namespace


def build_cluster(nodes: Iterable[Obj], pods: Iterable[Obj], *, queue_namespace: str | None = None) -> ClusterGpus:
    """One pass over the nodes, then one over the pods (which may be a stream of pages).

    Every pod counts towards GPU use; only task pods in ``queue_namespace`` (None: any) are attributed to
    their queue (running / pending), so another agent's pods in another namespace do not mix in.
    """
    cluster = ClusterGpus(nodes={})
    for node in nodes:
        gpus = node_gpus(node)
        cluster.nodes[gpus.name] = gpus
    by_name = cluster.nodes
    running = cluster.running_task_pods
    pending = cluster.pending_task_pods
    gpu_names: dict[str, bool] = {}  # resource name -> is a GPU resource (a handful of names, 100,000 pods)
    empty: Mapping[str, Any] = {}
    seen = other_nodes = 0
    for pod in pods:
        seen += 1
        status = pod.get("status")
        if status and status.get("phase") in TERMINAL_PHASES:
            continue  # the server filters these out already; a plain list may still carry them
        labels = (pod.get("metadata") or empty).get("labels") or empty
        task = "CLEARML" in labels or "clearml-task-id" in labels
        # submit-pod's ad-hoc pods use ClearML's GPUs (clearml vs other), though no queue's task runs in them
        ours = task or "clearml-adhoc" in labels
        node_name = (pod.get("spec") or empty).get("nodeName")
        if not node_name:
            if task and _in_namespace(pod, queue_namespace):
                pending.append(_pending(pod, labels))
            continue
        if task:
            # Bound task pods run for their queue wherever they are: -l narrows the nodes shown, not the
            # queue's RUNNING count.
            queue = labels.get(QUEUE_NAME_LABEL)
            if queue and _in_namespace(pod, queue_namespace):
                running[queue] = running.get(queue, 0) + 1
        model = by_name.get(node_name)
        if model is None:
            other_nodes += 1
            continue
        used = model.used
        used[PODS] = used.get(PODS, 0) + 1
        uses_gpu = False
        for name, amount in pod_request_items(pod):
            used[name] = used.get(name, 0) + amount
            is_gpu = gpu_names.get(name)
            if is_gpu is None:
                is_gpu = gpu_names[name] = is_gpu_resource(name)
            if not is_gpu:
                continue
            uses_gpu = True
            slot = model.slots.get(name)
            if slot is None:  # bound beyond what the node advertises (device plugin gone): still show it
                slot = model.slots[name] = GpuSlot(name, resource_product(name, _labels(model.node)), 0, 0)
            slot.requested += amount
            if ours:
                slot.clearml += amount
            else:
                slot.other += amount
        if ours:
            model.task_pods += 1
            if uses_gpu:
                model.gpu_task_pods += 1
        elif uses_gpu:
            model.gpu_other_pods += 1
    cluster.pods_seen += seen
    cluster.pods_on_other_nodes += other_nodes
    return cluster


def _labels(node: Obj) -> Mapping[str, str]:
    labels: Mapping[str, str] = (node.get("metadata") or {}).get("labels") or {}
    return labels
