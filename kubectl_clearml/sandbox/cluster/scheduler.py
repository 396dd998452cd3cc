"""A simulated kube-scheduler: binds Pending pods to nodes, or marks them Unschedulable with kube's message.

The decision (eligibility by nodeSelector, taints/tolerations and required node affinity; fit of cpu, memory,
GPUs and MIG slices against what the node's other pods request) is ``core.scheduling``'s, the same code
gpu-report uses, so the sandbox and the report always agree. This module only picks among the fitting nodes
and writes the outcome: a binding, a PodScheduled condition and Scheduled / FailedScheduling events.
Unschedulable pods are retried on every pass, i.e. whenever a pod or node changes (capacity freed).
"""

from __future__ import annotations

import json
from typing import Any

from kubectl_clearml.core.quantity import QuantityError
from kubectl_clearml.core.scheduling import (
    free_resources,
    pod_requests,
    requested_by_node,
    schedule,
)
from kubectl_clearml.sandbox.cluster.clock import utc_timestamp
from kubectl_clearml.sandbox.cluster.events import pod_event
from kubectl_clearml.sandbox.cluster.store import ClusterStore, Obj

SCHEDULER_NAME = "default-scheduler"


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _wants_scheduling(pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    return (
        not spec.get("nodeName")
        and (status.get("phase") or "Pending") == "Pending"
        and (spec.get("schedulerName") or SCHEDULER_NAME) == SCHEDULER_NAME
        and not (pod.get("metadata") or {}).get("deletionTimestamp")
    )


def _creation_order(pod: Obj) -> tuple[str, str]:
    meta = pod.get("metadata") or {}
    return (str(meta.get("creationTimestamp", "")), str(meta.get("resourceVersion", "")).zfill(20))


def _shape(pod: Obj) -> str:
    """What the scheduling decision depends on, besides the nodes and their use."""
    spec = pod.get("spec") or {}
    fields = [pod_requests(pod), spec.get("nodeSelector"), spec.get("tolerations"), spec.get("affinity")]
    return json.dumps(fields, sort_keys=True, default=str)


class Scheduler:
    def __init__(self, store: ClusterStore) -> None:
        self.store = store

    def step(self, pods: list[Obj], nodes: list[Obj]) -> int:
        """One scheduling pass over every waiting pod, oldest first; returns how many pods were bound.

        Bound pods are updated in ``pods`` too (nodeName, status), as the store now has them.
        """
        nodes = sorted(nodes, key=_name)
        used = requested_by_node(pods)
        bound = 0
        # Within a pass capacity only shrinks, so a pod shape that fitted nowhere fits nowhere later either:
        # hundreds of identical pending pods cost one evaluation.
        failed: dict[str, str] = {}
        for pod in sorted(filter(_wants_scheduling, pods), key=_creation_order):
            try:
                shape = _shape(pod)
                if shape in failed:
                    self._unschedulable(pod, failed[shape])
                    continue
                fitting, message = schedule(pod, nodes, used)
            except QuantityError as exc:
                self._unschedulable(pod, f"invalid resource quantity: {exc.one_line()}")
                continue
            if not fitting:
                failed[shape] = message or "no nodes available to schedule pods"
                self._unschedulable(pod, failed[shape])
                continue
            node = self._pick(pod, fitting, nodes, used)
            self._bind(pod, node)
            bucket = used.setdefault(node, {})
            for resource, amount in pod_requests(pod).items():
                bucket[resource] = bucket.get(resource, 0) + amount
            bucket["pods"] = bucket.get("pods", 0) + 1
            bound += 1
        return bound

    @staticmethod
    def _pick(pod: Obj, fitting: list[str], nodes: list[Obj], used: dict[str, dict[str, int]]) -> str:
        """Among fitting nodes, the one left with the least free of the scarcest resource the pod asks for.

        Packing GPU pods tightly (instead of kube's default spreading) keeps whole nodes free for the
        multi-GPU pods that need them; it is what GPU clusters usually configure (MostAllocated).
        """
        by_name = {_name(n): n for n in nodes}
        requests = pod_requests(pod)
        scarce = [r for r in requests if r not in ("cpu", "memory", "ephemeral-storage", "pods")]

        def leftover(name: str) -> tuple[int, ...]:
            free = free_resources(by_name[name], used.get(name))
            return (*(free.get(r, 0) - requests[r] for r in scarce), free.get("cpu", 0), free.get("memory", 0))

        return min(fitting, key=lambda name: (leftover(name), name))

    def _bind(self, pod: Obj, node: str) -> None:
        meta = pod["metadata"]
        namespace, name = meta.get("namespace", "default"), meta["name"]
        self.store.bind_pod(namespace, name, node)
        status = dict(pod.get("status") or {})
        status["phase"] = "Pending"
        status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"] + [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": utc_timestamp()}
        ]
        self.store.update_pod_status(namespace, name, status)
        # Keep the caller's copy in step, so the kubelet can start the pod in the same pass.
        pod.setdefault("spec", {})["nodeName"] = node
        pod["status"] = status
        message = f"Successfully assigned {namespace}/{name} to {node}"
        self.store.create_event(pod_event(pod, "Scheduled", message, component=SCHEDULER_NAME))

    def _unschedulable(self, pod: Obj, message: str) -> None:
        status: dict[str, Any] = dict(pod.get("status") or {})
        previous = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        if previous and previous.get("reason") == "Unschedulable" and previous.get("message") == message:
            return  # nothing new to say: no write, no event, no change notification loop
        status["phase"] = "Pending"
        status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"] + [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastTransitionTime": utc_timestamp(),
            }
        ]
        meta = pod["metadata"]
        self.store.update_pod_status(meta.get("namespace", "default"), meta["name"], status)
        self.store.create_event(pod_event(pod, "FailedScheduling", message, component=SCHEDULER_NAME, warning=True))
