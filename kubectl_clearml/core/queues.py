"""The queues view: ClearML queues side by side with the agent's Kubernetes view (pure).

Inputs are what the adapters fetched (each may be missing: ClearML unreachable, no cluster, no agent
configuration), output is one row per queue as plain dicts, ready for output.render.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.core.pod_labels import queue_label_values
from kubectl_clearml.core.podbuilder import (
    QUEUE_ID_LABEL,
    QUEUE_NAME_LABEL,
    TASK_ID_LABEL,
    task_id_from_pod_name,
)

HIDDEN_TAG = "k8s-glue"  # system tag the reference glue puts on its hidden k8s_scheduler queue
SHM_PATH = "/dev/shm"


@dataclass(frozen=True)
class AgentTemplates:
    """What the agent configuration says: the queues it serves and each queue's effective pod template."""

    served: tuple[str, ...]
    base: Mapping[str, Any]
    effective: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    reference_failures: tuple[str, ...] = ()  # "<where>: the reference agent would fail here: <why>"


def parse_time(value: Any) -> float | None:
    """ClearML and Kubernetes timestamps (ISO 8601, naive means UTC) to epoch seconds."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()


def human_age(seconds: float | None) -> str | None:
    """kubectl-style ages: 45s, 12m, 5h, 3d."""
    if seconds is None:
        return None
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    if s < 2 * 3600:
        return f"{s // 60}m"
    if s < 2 * 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def is_hidden(queue: Mapping[str, Any]) -> bool:
    return HIDDEN_TAG in (queue.get("system_tags") or [])


def pod_reason(pod: Mapping[str, Any]) -> str:
    """Why a pod is Pending: a waiting container's reason, else the scheduler's, else the phase."""
    status = pod.get("status") or {}
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return str(waiting["reason"])
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return str(condition.get("reason") or "Unschedulable")
    return str(status.get("phase") or "Pending")


def pod_status_reason(pod: Mapping[str, Any]) -> str | None:
    """The REASON a pod listing shows: why a Pending pod waits, else how its container ended or why it
    waits to restart ('Error (exit 1)', 'Completed (exit 0)', 'CrashLoopBackOff'), else the pod's own
    reason (Evicted); None for a pod running normally."""
    status = pod.get("status") or {}
    if status.get("phase") == "Pending":
        return pod_reason(pod)
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        detail = state.get("terminated") or state.get("waiting") or {}
        if detail.get("reason"):
            code = f" (exit {detail['exitCode']})" if "exitCode" in detail else ""
            return f"{detail['reason']}{code}"
    return str(status["reason"]) if status.get("reason") else None


def pod_message(pod: Mapping[str, Any]) -> str:
    status = pod.get("status") or {}
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return str(waiting.get("message") or waiting["reason"])
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return str(condition.get("message") or condition.get("reason") or "")
    return ""


def _limits(template: Mapping[str, Any]) -> Mapping[str, Any]:
    containers = ((template.get("spec") or {}).get("containers")) or [{}]
    resources = containers[0].get("resources") or {}
    return {**(resources.get("requests") or {}), **(resources.get("limits") or {})}


def gpus_per_pod(template: Mapping[str, Any]) -> str | None:
    """GPU-like resources one pod of this template asks for, e.g. '2' or 'mig-1g.5gb=1'."""
    parts: list[str] = []
    for key, value in _limits(template).items():
        if key == "nvidia.com/gpu":
            parts.insert(0, str(value))
        elif key.startswith("nvidia.com/"):
            parts.append(f"{key.split('/', 1)[1]}={value}")
    return ",".join(parts) or None


def gpu_resources(template: Mapping[str, Any]) -> dict[str, int]:
    """GPU-like resources one pod asks for, as numbers: ``{"nvidia.com/gpu": 2}`` (the shape gpu-report's
    gpusPerPod has); an amount that is no quantity is left out here (lint reports it)."""
    from kubectl_clearml.core.quantity import QuantityError, resource_amount

    found: dict[str, int] = {}
    for key, value in _limits(template).items():
        if key.startswith("nvidia.com/"):
            try:
                found[key] = resource_amount(key, value)
            except QuantityError:
                continue
    return found


def shm_size(template: Mapping[str, Any]) -> str | None:
    """sizeLimit of a Memory emptyDir mounted at /dev/shm ('Memory' when unlimited), else None."""
    spec = template.get("spec") or {}
    mounts = {
        m.get("name")
        for c in spec.get("containers") or []
        for m in c.get("volumeMounts") or []
        if m.get("mountPath") == SHM_PATH
    }
    for volume in spec.get("volumes") or []:
        empty_dir = volume.get("emptyDir")
        if volume.get("name") in mounts and isinstance(empty_dir, dict) and empty_dir.get("medium") == "Memory":
            return str(empty_dir.get("sizeLimit") or "Memory")
    return None


def template_summary(template: Mapping[str, Any] | None, base: Mapping[str, Any] | None) -> str | None:
    """'base' when the queue gets the base template, else a short summary such as 'gpu=2 mem=2Gi shm=16Gi'."""
    if template is None:
        return None
    if base is not None and template == base:
        return "base"
    limits = _limits(template)
    parts = []
    gpus = gpus_per_pod(template)
    if gpus:
        parts.append(f"gpu={gpus}")
    if limits.get("cpu"):
        parts.append(f"cpu={limits['cpu']}")
    if limits.get("memory"):
        parts.append(f"mem={limits['memory']}")
    shm = shm_size(template)
    if shm:
        parts.append(f"shm={shm}")
    selector = (template.get("spec") or {}).get("nodeSelector") or {}
    if selector:
        parts.append("node=" + ",".join(f"{k.rsplit('/', 1)[-1]}={v}" for k, v in selector.items()))
    return " ".join(parts) or "custom"


@dataclass
class PodCounts:
    running: int = 0
    pending: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    task_ids: set[str] = field(default_factory=set)


def count_pods(pods: Iterable[Mapping[str, Any]]) -> dict[str, PodCounts]:
    """Task pods per queue key: the queue id label, and the queue-name label as a second key."""
    counts: dict[str, PodCounts] = {}
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        keys = [k for k in (labels.get(QUEUE_ID_LABEL), "name:" + str(labels.get(QUEUE_NAME_LABEL) or "")) if k]
        phase = (pod.get("status") or {}).get("phase") or "Pending"
        task_id = labels.get(TASK_ID_LABEL) or task_id_from_pod_name(str((pod.get("metadata") or {}).get("name") or ""))
        for key in keys:
            entry = counts.setdefault(key, PodCounts())
            if task_id:
                entry.task_ids.add(task_id)
            if phase == "Running":
                entry.running += 1
            elif phase == "Pending":
                entry.pending += 1
                entry.reasons[pod_reason(pod)] += 1
    return counts


def build_rows(
    now: float,
    queues: Sequence[Mapping[str, Any]] | None,
    pods: Sequence[Mapping[str, Any]] | None = None,
    agent: AgentTemplates | None = None,
    workers: Sequence[Mapping[str, Any]] | None = None,
    include_hidden: bool = False,
) -> list[dict[str, Any]]:
    """One row per queue. ``None`` inputs mean "unknown" and give ``None`` cells, never zeros."""
    pod_counts = count_pods(pods) if pods is not None else None
    worker_counts: Counter[str] = Counter()
    for worker in workers or []:
        for q in worker.get("queues") or []:
            worker_counts[str(q.get("id") if isinstance(q, Mapping) else q)] += 1
    rows: list[dict[str, Any]] = []
    seen_names: set[str] = set()
    for queue in queues or []:
        hidden = is_hidden(queue)
        if hidden and not include_hidden:
            continue
        name = str(queue.get("name") or queue.get("id"))
        seen_names.add(name.lower())
        if queue.get("id"):
            seen_names.add(str(queue["id"]).lower())  # an agent may list a queue by its id
        rows.append(_row(now, queue, name, hidden, pod_counts, agent, worker_counts if workers is not None else None))
    if agent is not None:
        # Queues the agent serves that do not exist in ClearML (yet): `queues sync` creates them.
        for name in agent.served:
            if name.lower() not in seen_names and queues is not None:
                row = _row(now, {"name": name}, name, False, pod_counts, agent, None)
                row["exists"] = False
                rows.append(row)
        if queues is None:
            rows = [_row(now, {"name": n}, n, False, pod_counts, agent, None) for n in agent.served]
            for row in rows:
                row["exists"] = None
    return rows


def served_entry(served: Sequence[str], name: str, queue_id: Any = None) -> str | None:
    """The agent's entry for this ClearML queue, resolved as the agent does: the exact name, else the name
    in any case, else the queue's id (the agent takes an id-looking entry as an id)."""
    for entry in served:
        if entry == name:
            return entry
    for entry in served:
        if entry.lower() == name.lower():
            return entry
    for entry in served:
        if queue_id and entry == queue_id:
            return entry
    return None


def _row(
    now: float,
    queue: Mapping[str, Any],
    name: str,
    hidden: bool,
    pod_counts: dict[str, PodCounts] | None,
    agent: AgentTemplates | None,
    worker_counts: Counter[str] | None,
) -> dict[str, Any]:
    entries = queue.get("entries")
    added = [t for t in (parse_time(e.get("added")) for e in entries or []) if t is not None]
    oldest = now - min(added) if added else None
    queue_id = queue.get("id")
    pods = None
    if pod_counts is not None:
        pods = pod_counts.get(str(queue_id)) if queue_id else None
        by_name = (pod_counts.get("name:" + label) for label in queue_label_values(name))
        pods = pods or next((p for p in by_name if p), None) or PodCounts()
    template = None
    base = None
    served = None
    if agent is not None:
        entry = served_entry(agent.served, name, queue_id)
        served = entry is not None
        template = agent.effective.get(entry) if entry is not None else agent.effective.get(name)
        base = agent.base
    reason = pods.reasons.most_common(1)[0][0] if pods and pods.reasons else None
    return {
        "name": name,
        "id": queue_id,
        "exists": True if queue_id else None,
        "hidden": hidden,
        "tags": list(queue.get("tags") or []),
        "systemTags": list(queue.get("system_tags") or []),
        "pending": len(entries) if entries is not None else None,
        "pendingTaskIds": [e.get("task") for e in entries] if entries is not None else None,
        "oldestPendingSeconds": oldest,
        "oldest": human_age(oldest),
        "running": pods.running if pods is not None else None,
        "podPending": pods.pending if pods is not None else None,
        "podPendingReason": reason,
        "served": served,
        "template": template_summary(template, base) if agent is not None else None,
        "gpusPerPod": gpu_resources(template) if template else None,
        "nodeSelector": ((template or {}).get("spec") or {}).get("nodeSelector") if template else None,
        "workers": worker_counts.get(str(queue_id), 0) if worker_counts is not None and queue_id else None,
    }


def stranded_tasks(
    queues: Sequence[Mapping[str, Any]] | None, pods: Sequence[Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """Tasks waiting in a hidden queue (the reference glue's k8s_scheduler) with no task pod: nobody will
    ever pull them. Without pod data every such task is reported (it is stranded unless a pod exists)."""
    with_pods = {tid for counts in count_pods(pods or []).values() for tid in counts.task_ids}
    stranded = []
    for queue in queues or []:
        if not is_hidden(queue):
            continue
        for entry in queue.get("entries") or []:
            task = str(entry.get("task"))
            if task not in with_pods:
                stranded.append({"queue": queue.get("name"), "queueId": queue.get("id"), "task": task})
    return stranded


def unserved_waiting(queues: Iterable[Mapping[str, Any]], served: Iterable[str]) -> list[tuple[str, int]]:
    """(name, pending) of the visible queues with tasks waiting that no configured agent serves: nothing
    here will ever run those tasks (the open-source chart serves one template's queues only)."""
    names = {str(s).lower() for s in served}
    return [
        (str(q.get("name")), len(q.get("entries") or []))
        for q in queues
        if q.get("entries") and not is_hidden(q)
        and str(q.get("name", "")).lower() not in names and str(q.get("id")) not in names
    ]


def unserved_note(waiting: list[tuple[str, int]]) -> str:
    total = sum(n for _, n in waiting)
    return (f"{total} task(s) wait in queue(s) {', '.join(n for n, _ in waiting)} that the agent does not serve: "
            "nothing here will run them (add them to the agent's queues, or check another agent serves them)")


def pod_pending_cell(row: Mapping[str, Any]) -> str | None:
    count = row.get("podPending")
    if count is None:
        return None
    reason = row.get("podPendingReason")
    return f"{count} ({reason})" if count and reason else str(count)
