"""Pure decisions of the glue loop: what to do with a queue entry, a pod, an error, a lease.

Everything here takes plain data (dicts from the APIs, numbers, timestamps as floats) and returns
plain data, so the whole decision table is tested with hypothesis without a server or a clock.
The glue/ modules perform the I/O these functions decide on.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ACTIVE_PHASES = frozenset({"Pending", "Running"})
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
# Task statuses after which nothing runs any more: a pod still alive for such a task is not needed.
TERMINAL_STATUSES = frozenset({"completed", "failed", "stopped", "published", "publishing", "closed"})
# Waiting reasons that never heal on their own: the reference glue evicts on the last two only.
IMAGE_ERRORS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})
# Waiting reasons worth showing the user; ContainerCreating/PodInitializing are normal progress.
PROGRESS_REASONS = frozenset({"ContainerCreating", "PodInitializing"})
STOPPING_MESSAGE = "stopping"
REQUIRE_QUEUE = "--require-queue"


# ---- identity ------------------------------------------------------------------------------------
def default_worker_id(cluster: str, namespace: str, queues: Sequence[str]) -> str:
    """A worker id that survives restarts: the same cluster, namespace and set of queues give the same id.

    Never derived from the PID or the hostname (the reference glue's label changed on every restart).
    """
    digest = hashlib.sha256("|".join([cluster, namespace, *sorted(queues)]).encode()).hexdigest()[:8]
    safe_ns = re.sub(r"[^a-z0-9-]", "-", namespace.lower())[:40]
    return f"k8s-glue-{safe_ns}-{digest}"


def lease_name(agent_label_value: str) -> str:
    return f"clearml-glue-{agent_label_value}"[:63]


# ---- capacity ------------------------------------------------------------------------------------
def free_slots(
    queue: str,
    active_total: int,
    active_by_queue: Mapping[str, int],
    max_pods: int | None,
    queue_limits: Mapping[str, int],
) -> int:
    """How many more pods may start for ``queue`` now: min of the global and per-queue headroom."""
    room = 1 << 30
    if max_pods is not None:
        room = min(room, max_pods - active_total)
    limit = queue_limits.get(queue)
    if limit is not None:
        room = min(room, limit - active_by_queue.get(queue, 0))
    return max(0, room)


# ---- queue entries -------------------------------------------------------------------------------
LAUNCH = "launch"  # build and create the pod, then take the entry out of the queue
POP_ONLY = "pop"  # a pod exists already (earlier run crashed after create): just take the entry out
DROP_STALE = "drop"  # the task is no longer queued (failed, aborted, ...): remove the leftover entry
SKIP = "skip"  # unknown task (deleted between peek and read): leave it for the server to clean


def entry_action(task_status: str | None, has_pod: bool) -> str:
    """What to do with a queue entry, given the task's status and whether one of our pods runs it."""
    if task_status is None:
        return SKIP
    if has_pod:
        return POP_ONLY
    if task_status == "queued":
        return LAUNCH
    return DROP_STALE


# ---- errors --------------------------------------------------------------------------------------
FATAL = "fatal"  # the glue itself cannot work (RBAC, bad credentials): stop with a clear error
PERMANENT = "permanent"  # this task's pod can never be created: fail the task with the reason
TRANSIENT = "transient"  # try again later, the task stays at the head of its queue
ALREADY = "already"  # 409 AlreadyExists: the pod was created before (idempotent create)

_RBAC = re.compile(r"cannot (create|get|list|watch|delete|patch|update) resource", re.IGNORECASE)
_QUOTA = re.compile(r"exceeded quota|forbidden: exceeded|quota", re.IGNORECASE)


def classify_create_error(kind: str, message: str) -> str:
    """Sort a pod-creation failure. ``kind`` is the error class name family from errors.py.

    kinds: "conflict", "auth", "invalid", "server", "unreachable", "notfound".
    A 403 is an RBAC refusal (fatal for the glue) unless it is an admission or quota refusal, which
    concern this one pod: quota frees up (transient), an admission webhook or PodSecurity will refuse
    the same spec again (permanent).
    """
    if kind == "conflict":
        return ALREADY if "already exists" in message.lower() or not message else TRANSIENT
    if kind == "auth":
        if _QUOTA.search(message):
            return TRANSIENT
        if _RBAC.search(message) or "unauthorized" in message.lower() or not message:
            return FATAL
        return PERMANENT
    if kind == "invalid":
        return PERMANENT
    if kind == "notfound":
        # Only a missing namespace answers 404 to a create, and it is the glue's own (setup refuses
        # templates naming another): failing each task for it would fail every task of every queue.
        return FATAL
    return TRANSIENT


def backoff_delay(failures: int, base: float, cap: float, jitter: float) -> float:
    """Exponential backoff with jitter; ``jitter`` in [0, 1) comes from the caller's random source."""
    if failures <= 0:
        return 0.0
    delay = min(cap, base * float(2 ** min(failures - 1, 30)))
    return delay * (0.5 + jitter / 2)


# ---- pods ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PodView:
    name: str
    task_id: str
    queue_id: str
    phase: str
    waiting_reason: str = ""
    waiting_message: str = ""
    unschedulable: str = ""
    exit_code: int | None = None
    terminated_reason: str = ""
    deleting: bool = False
    finished_at: str = ""  # the main container's terminated.finishedAt, as the kubelet wrote it
    uid: str = ""
    requires_queued: bool = False  # its agent runs with --require-queue: it starts only a queued task

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE_PHASES

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED_PHASES


def pod_view(pod: Mapping[str, Any]) -> PodView:
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    name = str(meta.get("name") or "")
    status = pod.get("status") or {}
    task_id = str(labels.get("clearml-task-id") or "") or task_id_from_pod_name(name)
    waiting_reason = waiting_message = terminated_reason = ""
    exit_code: int | None = None
    finished_at = ""
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        waiting = state.get("waiting")
        if waiting and not waiting_reason:
            waiting_reason = str(waiting.get("reason") or "")
            waiting_message = str(waiting.get("message") or "")
    main = (status.get("containerStatuses") or [None])[0] or {}
    terminated = (main.get("state") or {}).get("terminated")
    if terminated:
        exit_code = int(terminated.get("exitCode") or 0)
        terminated_reason = str(terminated.get("reason") or "")
        finished_at = str(terminated.get("finishedAt") or "")
    unschedulable = ""
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            unschedulable = str(cond.get("message") or cond.get("reason") or "Unschedulable")
    return PodView(
        name=name,
        task_id=task_id,
        queue_id=str(labels.get("clearml-agent-queue") or ""),
        phase=str(status.get("phase") or "Pending"),
        waiting_reason=waiting_reason,
        waiting_message=waiting_message,
        unschedulable=unschedulable,
        exit_code=exit_code,
        terminated_reason=terminated_reason,
        deleting=bool(meta.get("deletionTimestamp")),
        finished_at=finished_at,
        uid=str(meta.get("uid") or ""),
        requires_queued=_requires_queued(pod),
    )


def _requires_queued(pod: Mapping[str, Any]) -> bool:
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    main = containers[0] if isinstance(containers[0], Mapping) else {}
    words = [str(w) for part in ("command", "args") for w in (main.get(part) or [])]
    return any(REQUIRE_QUEUE in w for w in words)


def task_id_from_pod_name(name: str) -> str:
    token = name.rsplit("-", 1)[-1]
    return token if len(token) > 4 else ""


def pending_message(view: PodView) -> str | None:
    """The status message for a Pending pod, or None when there is nothing worth telling."""
    if view.phase != "Pending":
        return None
    if view.unschedulable:
        return f"pending: {view.unschedulable}"
    if view.waiting_reason and view.waiting_reason not in PROGRESS_REASONS:
        detail = f": {view.waiting_message}" if view.waiting_message else ""
        return f"pending: {view.waiting_reason}{detail}"
    return None


# Tracker actions
NOTHING = "nothing"
MESSAGE = "message"  # tasks.update status_message
FAIL_AND_DELETE = "fail_and_delete"  # tasks.failed(reason), then delete the pod
DELETE = "delete"  # delete the pod only (the task is already settled)
ABORT = "abort"  # delete the pod, then tasks.stopped
COMPLETE = "complete"  # tasks.completed
FAIL = "fail"  # tasks.failed(reason)
REQUEUE = "requeue"  # back at the head of its queue (the pod vanished before the task started)


@dataclass(frozen=True)
class PodAction:
    kind: str
    reason: str = ""


def aborted(task_status: str | None, task_message: str | None) -> bool:
    return task_status == "stopped" or (task_status == "in_progress" and task_message == STOPPING_MESSAGE)


def decide_pod(
    view: PodView, task_status: str | None, task_message: str | None = None, *, queued_again: bool = False
) -> PodAction:
    """The tracker's decision for one pod, given its task's status (None when not known yet).

    ``queued_again``: the task has an entry in its queue. A finished pod of such a task is its previous
    run's (kept for its logs); the new run is the dispatcher's, which replaces the pod.

    An empty status means the task no longer exists in ClearML: nothing to report to, and the pod is
    left to end on its own (its agent finds no task), rather than deleted on the strength of one read.
    """
    if view.deleting or task_status == "":
        return PodAction(NOTHING)
    if view.active:
        if aborted(task_status, task_message):
            return PodAction(ABORT, f"task aborted in ClearML: pod {view.name} deleted")
        if task_status == "created" and view.requires_queued:
            # Dequeued in the UI (how a queued task is aborted) or reset: this pod's agent would refuse
            # the task, so it can only hold a slot and a GPU. The task's status is the user's: kept.
            return PodAction(DELETE, f"task dequeued in ClearML: pod {view.name} deleted")
        if view.waiting_reason in IMAGE_ERRORS:
            detail = f": {view.waiting_message}" if view.waiting_message else ""
            reason = f"{view.waiting_reason}{detail}"
            if task_status in TERMINAL_STATUSES:
                return PodAction(DELETE, reason)
            return PodAction(FAIL_AND_DELETE, f"pod {view.name} cannot pull its image: {reason}")
        message = pending_message(view)
        if message:
            return PodAction(MESSAGE, message)
        return PodAction(NOTHING)
    if view.finished:
        if task_status not in ("in_progress", "queued") or (task_status == "queued" and queued_again):
            return PodAction(NOTHING)
        code = view.exit_code if view.exit_code is not None else (0 if view.phase == "Succeeded" else 1)
        if task_status == "in_progress" and code == 0:
            return PodAction(COMPLETE, f"pod {view.name} exited with code 0")
        why = f" ({view.terminated_reason})" if view.terminated_reason else ""
        if task_status == "queued":
            return PodAction(FAIL, f"pod {view.name} ended with code {code}{why} before the task started")
        return PodAction(FAIL, f"pod {view.name} exited with code {code}{why}")
    return PodAction(NOTHING)


def decide_vanished(task_status: str | None, task_message: str | None = None) -> PodAction:
    """A pod of ours disappeared without us deleting it (evicted, deleted by hand, node lost)."""
    if task_status == "queued":
        return PodAction(REQUEUE, "pod deleted before the task started: back at the head of its queue")
    if task_status == "in_progress":
        if task_message == STOPPING_MESSAGE:
            return PodAction(ABORT, "task aborted in ClearML and its pod is gone")
        return PodAction(FAIL, "the task's pod was deleted while it ran")
    return PodAction(NOTHING)


def exit_outcome(exit_code: int) -> str:
    return "completed" if exit_code == 0 else "failed"


# ---- clean-up of finished pods -----------------------------------------------------------------------
NEVER = "never"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float | None:
    """``--delete-finished-after``: "0", "90s", "30m", "2h", "1h30m", "1d" or a bare number of seconds
    to seconds; "never" to None. Anything else raises ValueError with the accepted forms."""
    value = text.strip().lower()
    if value == NEVER:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
        if value and _DURATION_PART.sub("", value) == "":
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"{text!r} is not a duration: use e.g. 0, 90s, 30m, 2h, 1h30m, 1d or 'never'")
    return seconds


def settled(task_status: str | None) -> bool:
    """The task will never need its pod again: it reached a final status, or was deleted in ClearML ("").
    None (not read yet), queued (re-enqueued: its next run replaces the pod) and in_progress are not."""
    return task_status == "" or task_status in TERMINAL_STATUSES


def cleanup_due(
    view: PodView, task_status: str | None, finished_epoch: float | None, now: float, after: float | None
) -> bool:
    """Delete this pod now? Only a finished pod of a settled task, ``after`` seconds past its end."""
    if after is None or finished_epoch is None or not view.finished or view.deleting:
        return False
    return settled(task_status) and finished_epoch + after <= now


# ---- orphans -------------------------------------------------------------------------------------
def orphan_candidates(
    tasks: Sequence[Mapping[str, Any]],
    queue_ids: Sequence[str],
    queued_ids: set[str],
    tasks_with_pods: set[str],
    worker_prefix: str,
) -> dict[str, str]:
    """Tasks that belong to our queues but are neither in a queue nor in a pod: {task id: status}.

    A queued task in no queue was popped by someone who then vanished. An in_progress task is ours only
    when its last worker is one of our pods (``<worker id>:<task id>``); others run elsewhere.
    """
    ours = set(queue_ids)
    out: dict[str, str] = {}
    for task in tasks:
        tid = str(task.get("id") or "")
        status = str(task.get("status") or "")
        queue = str(((task.get("execution") or {}).get("queue")) or "")
        if not tid or tid in queued_ids or tid in tasks_with_pods or queue not in ours:
            continue
        if status == "queued" or (
            status == "in_progress" and str(task.get("last_worker") or "").startswith(worker_prefix + ":")
        ):
            out[tid] = status
    return out


def confirmed_orphans(previous: Mapping[str, str], current: Mapping[str, str]) -> dict[str, str]:
    """Orphans seen in two sweeps in a row with the same status: a pop that never got a pod.

    One sighting is not enough: another agent may have popped the task a moment ago and be about to
    start it; after a whole sweep interval it would have changed the status.
    """
    return {tid: status for tid, status in current.items() if previous.get(tid) == status}


# ---- adoption from the reference glue's k8s_scheduler ----------------------------------------------
# The reference glue logs this to the task before parking it (clearml-agent 3.0.3 k8s.py run_tasks_loop,
# events.add_batch "task <id> pulled from <queue id> by worker <worker id>").
_PULLED = re.compile(r"task ([0-9a-f]+) pulled from ([0-9a-f]+) by worker")
RUN_GLUE_TAG = "k8s-glue"  # run-glue registers its worker with this tag; the reference glue does not


def origin_queue(task: Mapping[str, Any], scheduler_id: str, log_lines: Sequence[str] = ()) -> str:
    """The queue a task parked in k8s_scheduler was pulled from, or "" when nothing says.

    ``execution.queue`` names it where the server kept it (advanced servers: the reference enqueues into
    k8s_scheduler with ``update_execution_queue: false``); on a basic server it names k8s_scheduler, and
    the reference's own log line (newest first in ``log_lines``) is the only record left.
    """
    queue = str((task.get("execution") or {}).get("queue") or "")
    if queue and queue != scheduler_id:
        return queue
    task_id = str(task.get("id") or "")
    for line in log_lines:
        found = _PULLED.search(line)
        if found and found.group(1) == task_id:
            return found.group(2)
    return ""


def foreign_glue_queues(workers: Sequence[Mapping[str, Any]], me: str) -> set[str]:
    """Queue ids that a live glue other than run-glue serves (the reference glue registers its worker with
    its queues): its k8s_scheduler entries are its own, which it may still be applying."""
    out: set[str] = set()
    for worker in workers:
        if str(worker.get("id") or "") == me or RUN_GLUE_TAG in (worker.get("tags") or []):
            continue
        for queue in worker.get("queues") or []:
            queue_id = queue.get("id") if isinstance(queue, Mapping) else queue
            if queue_id:
                out.add(str(queue_id))
    return out


def adoptable(
    task: Mapping[str, Any] | None, origin: str, served: Sequence[str], *, in_our_queues: bool, has_pod: bool,
    owned_queues: set[str],
) -> bool:
    """Put this k8s_scheduler entry's task back at the head of ``origin``? Only a task still queued, from a
    queue we serve (so it gets that queue's template), that has no pod under its name (any glue's), is not
    waiting in our queues already, and whose origin queue no live reference glue serves."""
    if task is None or task.get("status") != "queued" or in_our_queues or has_pod:
        return False
    return bool(origin) and origin in served and origin not in owned_queues


# ---- leader election -----------------------------------------------------------------------------
@dataclass(frozen=True)
class LeaseDecision:
    acquire: bool
    transitions: int


def lease_record(spec: Mapping[str, Any] | None) -> tuple[str, ...]:
    """What identifies one version of the lease record: any change of it is the holder being alive."""
    spec = spec or {}
    keys = ("holderIdentity", "renewTime", "acquireTime", "leaseTransitions", "leaseDurationSeconds")
    return tuple(str(spec.get(key) or "") for key in keys)


def decide_lease(spec: Mapping[str, Any] | None, me: str, now: float, observed_at: float) -> LeaseDecision:
    """Take or renew the lease when it is free, ours, or expired.

    Expired, as client-go's leaderelection judges it: the record has not changed for leaseDurationSeconds
    of *our* monotonic clock since we last saw it change (``observed_at``, on the same clock as ``now``).
    The record's renewTime comes from the holder's clock and is never compared with ours: a replica whose
    clock ran 20 s ahead took a healthy leader's lease that way, and one 20 s behind waited 35 s.
    """
    if not spec:
        return LeaseDecision(True, 0)
    holder = spec.get("holderIdentity") or ""
    transitions = int(spec.get("leaseTransitions") or 0)
    if holder == me:
        return LeaseDecision(True, transitions)
    duration = float(spec.get("leaseDurationSeconds") or 15)
    if not holder or observed_at + duration <= now:
        return LeaseDecision(True, transitions + 1)
    return LeaseDecision(False, transitions)
