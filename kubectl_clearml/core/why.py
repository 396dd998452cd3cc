"""`why TASK_ID`: one verdict line for a task, then the evidence, from facts fetched by cli/why.py (pure).

The rules are the other commands': served-queue matching, hidden queues and the pod's pending reason
(core/queues), GPU fit verdicts (core/gpu_queues), node fit per node (core/scheduling), /dev/shm failure lines
(core/shm). Only the crash signatures that are not /dev/shm (OOMKilled, CUDA) are new here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.core.queues import human_age, pod_message, pod_reason

IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})
DONE = frozenset({"completed", "closed", "published"})
# Crash signatures besides /dev/shm (core/shm.py has those): CUDA's own error lines.
CUDA_PATTERNS = (
    (re.compile(r"CUDA out of memory"), "CUDA out of memory"),
    (re.compile(r"no CUDA-capable device is detected|cudaErrorNoDevice"), "no CUDA device visible"),
    (re.compile(r"CUDA error: (.+)"), "CUDA error"),
)


@dataclass
class Position:
    queue_id: str
    queue_name: str
    index: int  # 1-based
    length: int
    added_seconds_ago: float | None
    hidden: bool


@dataclass
class NodeFit:
    node: str
    reasons: list[str]  # empty: the pod fits there now


@dataclass
class TaskFacts:
    task: dict[str, Any]
    position: Position | None = None  # where the task waits, when it is enqueued
    queue_name: str | None = None  # execution.queue's name
    served_entry: str | None = None  # the agent's entry for that queue (None: not served)
    agent_known: bool = False  # whether we know the agent's served queues at all
    polled: bool | None = None  # a ClearML worker listens on the queue (None: unknown)
    template: str | None = None  # the queue's template summary
    pod: dict[str, Any] | None = None
    pod_unknown: str | None = None  # why pods could not be read
    node_fit: list[NodeFit] = field(default_factory=list)
    gpu_verdict: str | None = None  # core.gpu_queues verdict for the queue
    gpu_why: str | None = None
    gpus_needed: int | None = None
    largest_free: int | None = None
    log_lines: list[str] = field(default_factory=list)  # the tail of the pod's log
    shm_failures: list[Any] = field(default_factory=list)  # core.shm.FailureMatch


@dataclass(frozen=True)
class Verdict:
    line: str
    fix: str
    settled: bool  # running or ended: --watch stops here


def container_terminated(pod: Mapping[str, Any] | None) -> dict[str, Any]:
    for status in ((pod or {}).get("status") or {}).get("containerStatuses") or ():
        state = status.get("state") or {}
        if state.get("terminated"):
            return dict(state["terminated"])
        last = (status.get("lastState") or {}).get("terminated")
        if last:
            return dict(last)
    return {}


def crash_cause(facts: TaskFacts) -> tuple[str | None, str]:
    """(what killed the task, the fix) from the pod's termination and its log's last lines."""
    terminated = container_terminated(facts.pod)
    if facts.shm_failures:
        queue = facts.served_entry or facts.queue_name or "QUEUE"
        return "NCCL /dev/shm too small", f"kubectl clearml shm-fix {queue} --live (a Memory-backed /dev/shm)"
    if terminated.get("reason") == "OOMKilled":
        return "OOMKilled", "raise the memory limit in the queue's template, or lower the batch size"
    for line in reversed(facts.log_lines):
        for pattern, meaning in CUDA_PATTERNS:
            match = pattern.search(line)
            if match:
                detail = match.group(1).strip() if match.groups() else ""
                return (f"{meaning}: {detail}" if detail else meaning), "see the task's log in the ClearML UI"
    return None, "see the task's log: kubectl clearml why shows its last lines; the ClearML UI has all of it"


def verdict(facts: TaskFacts) -> Verdict:
    task = facts.task
    status = str(task.get("status") or "")
    pod = facts.pod
    if status in DONE:
        return Verdict("completed", "", True)
    if status == "stopped":
        why = task.get("status_reason") or task.get("status_message") or ""  # e.g. "Stopped by user"
        return Verdict(f"aborted{f' ({why})' if why else ''}", "enqueue it again to rerun it", True)
    if status == "failed" or (pod and (pod.get("status") or {}).get("phase") == "Failed"):
        code = container_terminated(pod).get("exitCode")
        cause, fix = crash_cause(facts)
        head = f"failed: exit {code}" if code is not None else f"failed: {task.get('status_reason') or 'no pod left'}"
        return Verdict(f"{head} ({cause})" if cause else head, fix, True)
    if pod is not None:
        phase = (pod.get("status") or {}).get("phase")
        reason = pod_reason(pod)
        if reason in IMAGE_PULL_REASONS:
            return Verdict(f"image pull failed ({reason}: {pod_message(pod)})",
                           "fix the task's container image (or the template's imagePullSecrets)", False)
        if phase == "Running":
            return Verdict("running", "", True)
        if phase == "Succeeded":
            return Verdict("completed", "", True)
        if reason == "Unschedulable" or pod_message(pod):
            return Verdict(f"pod pending: {pod_message(pod) or reason}", _pending_fix(facts), False)
        return Verdict(f"pod pending ({reason})", "wait: the pod is being scheduled or started", False)
    if status == "in_progress":
        return Verdict("running", "", True)
    position = facts.position
    if status == "queued" and position is not None:
        where = f"position {position.index} of {position.length}"
        if position.hidden:
            return Verdict(f"stranded in {position.queue_name}", "the reference glue left it there when it "
                           "restarted: dequeue it and enqueue it to a served queue", False)
        if facts.agent_known and facts.served_entry is None:
            return Verdict(f"queued ({where}, queue not served)", f"add {position.queue_name} to the agent's "
                           "queues, or enqueue the task to a served queue", False)
        if facts.gpu_verdict == "WAITING FOR GPUS" and facts.gpus_needed:
            return Verdict(f"queued (waiting for GPUs: largest free block {facts.largest_free or 0}, needs "
                           f"{facts.gpus_needed})", "wait for running GPU pods to end, or add GPU nodes", False)
        if facts.gpu_verdict in ("NO ELIGIBLE NODE", "MISCONFIGURED"):
            return Verdict(f"queued ({where}, {facts.gpu_verdict.lower()}: {facts.gpu_why})",
                           "kubectl clearml gpu-report --by queue shows why", False)
        if facts.polled is False:
            return Verdict(f"queued ({where}, no worker polls the queue)", "the agent is not running or cannot "
                           "log in: kubectl clearml doctor", False)
        return Verdict(f"queued ({where})", "wait: the agent takes queued tasks in order", False)
    if status == "queued":
        return Verdict("queued (in no queue the server lists)", "enqueue it again", False)
    return Verdict(f"not enqueued ({status or 'unknown status'})", "enqueue it to a served queue", True)


def _pending_fix(facts: TaskFacts) -> str:
    if any(any("taint" in r for r in fit.reasons) for fit in facts.node_fit):
        return "add a toleration for the taint to the queue's template, or point its nodeSelector elsewhere"
    return "kubectl clearml gpu-report --by queue shows what the queue's pods fit on"


def evidence(facts: TaskFacts, now: float | None = None) -> list[tuple[str, str]]:
    """(label, value) lines after the verdict, in the order a person would check them."""
    task = facts.task
    out = [("task", f"{task.get('id')} {task.get('name') or ''}".strip()),
           ("clearml status", str(task.get("status") or "")
            + (f" ({task['status_message']})" if task.get("status_message") else ""))]
    if task.get("status_reason"):
        out.append(("status reason", str(task["status_reason"])))
    position = facts.position
    if position is not None:
        age = human_age(position.added_seconds_ago)
        out.append(("queue", f"{position.queue_name} (position {position.index} of {position.length}"
                    + (f", enqueued {age} ago" if age else "") + ")"))
    elif facts.queue_name:
        out.append(("queue", facts.queue_name))
    if facts.agent_known and (position is not None or facts.queue_name) and not (position and position.hidden):
        out.append(("served", f"yes, template {facts.template}" if facts.served_entry is not None and facts.template
                    else "yes" if facts.served_entry is not None else "no (the agent does not serve this queue)"))
    if facts.gpu_verdict:
        out.append(("gpu fit", f"{facts.gpu_verdict}: {facts.gpu_why}"))
    pod = facts.pod
    if pod is not None:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        node = (pod.get("spec") or {}).get("nodeName")
        out.append(("pod", f"{meta.get('namespace')}/{meta.get('name')} {status.get('phase', '')}"
                    + (f" on {node}" if node else "") + (f" ({pod_reason(pod)})" if status.get("phase") == "Pending"
                                                         else "")))
        if pod_message(pod):
            out.append(("message", pod_message(pod)))
        for cs in status.get("containerStatuses") or ():
            state = cs.get("state") or {}
            kind = next(iter(state), "unknown")
            detail = state.get(kind) or {}
            extra = ", ".join(f"{k} {v}" for k, v in (detail or {}).items() if k in ("reason", "exitCode"))
            out.append(("container", f"{cs.get('name')} {kind}{f' ({extra})' if extra else ''}, "
                        f"{cs.get('restartCount', 0)} restart(s), image {cs.get('image', '')}"))
    elif facts.pod_unknown:
        out.append(("pod", f"unknown ({facts.pod_unknown})"))
    elif str(task.get("status")) in ("queued", "in_progress"):
        out.append(("pod", "none yet"))
    fits = [f.node for f in facts.node_fit if not f.reasons]
    if facts.node_fit:
        out.append(("eligible nodes", ", ".join(fits) or "none"))
        for fit in facts.node_fit:
            if fit.reasons:
                out.append((f"  {fit.node}", "; ".join(fit.reasons)))
    for match in facts.shm_failures:
        out.append(("log", match.line))
    if not facts.shm_failures and facts.log_lines:
        for line in facts.log_lines[-5:]:
            out.append(("log", line))
    return out


def resolve_prefix(prefix: str, candidates: Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any] | None,
                                                                                      list[Mapping[str, Any]]]:
    """The one task whose id starts with ``prefix`` (as the ClearML UI resolves a short id), else the candidates."""
    exact = [c for c in candidates if str(c.get("id")) == prefix]
    if exact:
        return exact[0], []
    matching = [c for c in candidates if str(c.get("id", "")).startswith(prefix)]
    if len(matching) == 1:
        return matching[0], []
    return None, matching
