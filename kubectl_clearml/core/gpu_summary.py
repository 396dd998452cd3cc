"""Summaries of the GPU model: per product (with the largest free block on one node) and cluster totals.

The cluster total is also checked against the agent's dashboard max-GPU setting (read from any of its three
key names by core/agent_config.py): the orchestration dashboard's discovery sums GFD's ``nvidia.com/gpu.count``
over GPU nodes, so that is the number the setting should match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.core.gpu import GPU, ClusterGpus


@dataclass
class ProductSummary:
    product: str
    resource: str
    nodes: list[str] = field(default_factory=list)
    allocatable: int = 0
    requested: int = 0
    free: int = 0
    largest_free: int = 0  # most free on one schedulable node: what a multi-GPU pod can get
    largest_free_node: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "resource": self.resource,
            "nodes": len(self.nodes),
            "nodeNames": self.nodes,
            "allocatable": self.allocatable,
            "requested": self.requested,
            "free": self.free,
            "largestFreeBlock": self.largest_free,
            "largestFreeBlockNode": self.largest_free_node,
        }


def products(cluster: ClusterGpus) -> list[ProductSummary]:
    """Per (product, resource): nodes, totals and the largest free block on one schedulable node."""
    out: dict[tuple[str, str], ProductSummary] = {}
    for node in cluster.nodes.values():
        for slot in node.slots.values():
            summary = out.setdefault((slot.product, slot.resource), ProductSummary(slot.product, slot.resource))
            summary.nodes.append(node.name)
            summary.allocatable += slot.allocatable
            summary.requested += slot.requested
            summary.free += max(slot.free, 0)
            if node.schedulable and slot.free > summary.largest_free:
                summary.largest_free, summary.largest_free_node = slot.free, node.name
    return sorted(out.values(), key=lambda s: (s.product, s.resource))


@dataclass(frozen=True)
class ClusterTotals:
    physical_gpus: int  # GFD's gpu.count (or the whole-GPU capacity) summed over GPU nodes
    allocatable: dict[str, int]  # per GPU resource
    requested: dict[str, int]
    free: dict[str, int]


def totals(cluster: ClusterGpus) -> ClusterTotals:
    allocatable: dict[str, int] = {}
    requested: dict[str, int] = {}
    free: dict[str, int] = {}
    physical = 0
    for node in cluster.nodes.values():
        physical += node.physical_gpus
        for slot in node.slots.values():
            allocatable[slot.resource] = allocatable.get(slot.resource, 0) + slot.allocatable
            requested[slot.resource] = requested.get(slot.resource, 0) + slot.requested
            free[slot.resource] = free.get(slot.resource, 0) + max(slot.free, 0)
    return ClusterTotals(physical, allocatable, requested, free)


def dashboard_check(total: ClusterTotals, report_max: int | None, key: str | None) -> str | None:
    """One line comparing the dashboard's max-GPU setting with what the cluster has (None: nothing to say)."""
    if report_max is None:
        return None
    whole = total.allocatable.get(GPU, 0)
    physical = total.physical_gpus
    setting = f"{key or 'reportMax'}={report_max}"
    if report_max == physical:
        return f"dashboard max GPUs ({setting}) matches the cluster's {physical} GPUs"
    relation = "below" if report_max < physical else "above"
    effect = "under-reports capacity" if report_max < physical else "shows GPUs that do not exist"
    detail = f"{physical} GPUs ({whole} allocatable as {GPU}"
    partitioned = physical - whole if physical > whole else 0
    detail += f", {partitioned} partitioned or shared)" if partitioned else ")"
    return f"dashboard max GPUs ({setting}) is {relation} the cluster's {detail}: the dashboard {effect}"
