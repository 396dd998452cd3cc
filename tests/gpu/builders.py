"""Plain-dict builders for GPU nodes, pods and queue templates (shared by the gpu-report tests)."""

from __future__ import annotations

from typing import Any

GPU = "nvidia.com/gpu"
MIG1 = "nvidia.com/mig-1g.5gb"
MIG3 = "nvidia.com/mig-3g.20gb"


def node(
    name: str,
    labels: dict[str, str] | None = None,
    res: dict[str, Any] | None = None,
    *,
    taints: list[dict[str, str]] | None = None,
    cordoned: bool = False,
    ready: str = "True",
) -> dict[str, Any]:
    alloc = {"cpu": "32", "memory": "256Gi", "pods": "110", **{k: str(v) for k, v in (res or {}).items()}}
    spec: dict[str, Any] = {"taints": taints} if taints else {}
    if cordoned:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": spec,
        "status": {"capacity": dict(alloc), "allocatable": alloc, "conditions": [{"type": "Ready", "status": ready}]},
    }


def gpu_labels(product: str, count: int, **extra: str) -> dict[str, str]:
    return {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": product,
        "nvidia.com/gpu.count": str(count),
        **extra,
    }


def pod(
    name: str,
    limits: dict[str, Any] | None = None,
    *,
    node_name: str | None = None,
    requests: dict[str, Any] | None = None,
    init_limits: dict[str, Any] | None = None,
    phase: str = "Running",
    queue: str | None = None,
) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if limits:
        resources["limits"] = limits
    if requests:
        resources["requests"] = requests
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "x", "resources": resources}]}
    if init_limits:
        spec["initContainers"] = [{"name": "init", "image": "x", "resources": {"limits": init_limits}}]
    if node_name:
        spec["nodeName"] = node_name
    labels: dict[str, str] = {}
    if queue:
        labels = {"CLEARML": "agent-12345678", "clearml-agent-queue-name": queue, "clearml-task-id": name}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "ml", "labels": labels},
        "spec": spec,
        "status": {"phase": phase},
    }


def template(gpus: Any = None, resource: str = GPU, **spec: Any) -> dict[str, Any]:
    limits = {"memory": "1Gi"}
    if gpus is not None:
        limits[resource] = gpus
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": {}},
        "spec": {"containers": [{"resources": {"limits": limits}}], **spec},
    }


A100 = gpu_labels("A100-SXM4-40GB", 8)
MIG_MIXED = gpu_labels(
    "A100-SXM4-40GB",
    4,
    **{
        "nvidia.com/mig.strategy": "mixed",
        "nvidia.com/mig-1g.5gb.product": "A100-SXM4-40GB-MIG-1g.5gb",
        "nvidia.com/mig-3g.20gb.product": "A100-SXM4-40GB-MIG-3g.20gb",
    },
)
