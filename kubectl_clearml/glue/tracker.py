"""Pod tracking through ONE watch on the agent's label, resumed from the last resourceVersion.

After the single list at start, the cluster is never listed again in the loop (only when the watch
reports its resourceVersion expired). A background thread reads the watch stream and queues events;
the loop thread applies them, so every ClearML call is made from one thread, in order.

Decisions (what a Pending reason, an image-pull error, an ended pod or an aborted task mean) are the
pure functions of core/glue_policy.py; this module only feeds them and carries them out.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any

from kubectl_clearml.core import glue_policy as policy
from kubectl_clearml.core.glue_policy import PodAction, PodView
from kubectl_clearml.errors import (
    ClearmlQueueNotFound,
    ClearmlTaskNotFound,
    ConflictError,
    KubectlClearmlError,
    NotFoundError,
    ServerError,
    UnreachableError,
)
from kubectl_clearml.glue.clock import Clock
from kubectl_clearml.glue.metrics import Metrics
from kubectl_clearml.glue.podindex import PodIndex
from kubectl_clearml.glue.taskops import TaskOps

LOG = logging.getLogger("kubectl_clearml.glue.tracker")

TRANSIENT = (ServerError, UnreachableError)
STATUS_FIELDS = ("id", "status", "status_message", "execution.queue")


class PodTracker:
    def __init__(
        self,
        kube: Any,
        ops: TaskOps,
        namespace: str,
        label_selector: str,
        clock: Clock,
        metrics: Metrics,
        *,
        watch_timeout: int = 30,
    ) -> None:
        self.kube = kube
        self.ops = ops
        self.namespace = namespace
        self.selector = label_selector
        self.clock = clock
        self.metrics = metrics
        self.watch_timeout = watch_timeout
        self.pods = PodIndex()  # by task id; counts the active pods per queue as it changes
        self.resource_version = ""
        self.statuses: dict[str, tuple[str, str]] = {}  # task id -> (status, status_message)
        self._messages: dict[str, str] = {}  # last status message written per task
        self._queues: dict[str, str] = {}  # task id -> execution.queue, as last read
        self._deleting: set[str] = set()  # pod names we deleted: their DELETED event is expected
        self._changed: dict[str, PodView] = {}  # decided on the next step
        self._vanished: dict[str, PodView] = {}
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lists = 0  # full pod lists made (1 at start; more only after an expired watch)

    # ---- start / stop ----------------------------------------------------------------------------
    def load(self) -> None:
        """The one full list: current pods and the resourceVersion the watch resumes from."""
        items, version = self.kube.list_with_version("pods", self.namespace, label_selector=self.selector)
        self.lists += 1
        self._replace_all(items)
        self.resource_version = version

    def start_watch(self) -> None:
        self._thread = threading.Thread(target=self._watch_loop, name="glue-pod-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch_loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                for event in self.kube.watch(
                    "pods",
                    self.namespace,
                    label_selector=self.selector,
                    resource_version=self.resource_version or None,
                    timeout_seconds=self.watch_timeout,
                ):
                    if self._stop.is_set():
                        return
                    kind = event.get("type")
                    obj = event.get("object") or {}
                    if kind == "ERROR":
                        # 410 Gone: the resourceVersion is too old; list again, once.
                        raise ResourceVersionExpired(str(obj.get("message") or "watch error"))
                    failures = 0
                    version = (obj.get("metadata") or {}).get("resourceVersion")
                    if version:
                        self.resource_version = str(version)
                    if kind != "BOOKMARK":
                        self._events.put((str(kind), obj))
                self.metrics.inc("clearml_glue_watch_restarts_total", reason="timeout")
            except ResourceVersionExpired:
                self.metrics.inc("clearml_glue_watch_restarts_total", reason="expired")
                if not self._relist():
                    # The stale version would only expire again at once: wait as after a failed watch.
                    failures += 1
                    if self._pause(failures):
                        return
            except KubectlClearmlError as exc:
                failures += 1
                self.metrics.inc("clearml_glue_watch_restarts_total", reason="error")
                LOG.warning("pod watch failed (%s); resuming", exc.one_line())
                if self._pause(failures):
                    return
                if isinstance(exc, ServerError) and "410" in exc.what:
                    self._relist()

    def _pause(self, failures: int) -> bool:
        """Back off 0.4 s, 0.8 s, ... (at most 30 s) after the n-th failure in a row; True when stopped."""
        return self._stop.wait(min(30.0, 0.2 * 2 ** min(failures, 8)))

    def _relist(self) -> bool:
        try:
            items, version = self.kube.list_with_version("pods", self.namespace, label_selector=self.selector)
        except KubectlClearmlError as exc:
            LOG.warning("pod relist failed (%s)", exc.one_line())
            return False
        self.lists += 1
        self.resource_version = version
        self._events.put(("RELIST", items))
        return True

    # ---- cache -----------------------------------------------------------------------------------
    def _replace_all(self, items: Iterable[dict[str, Any]]) -> None:
        fresh = {v.task_id: v for v in (policy.pod_view(p) for p in items) if v.task_id}
        for tid, old in self.pods.items():
            if tid not in fresh and old.name not in self._deleting:
                self._vanished[tid] = old
        self._deleting.clear()
        self.pods = PodIndex(fresh)
        self._changed.update(fresh)

    def _apply_event(self, kind: str, obj: Any) -> None:
        if kind == "RELIST":
            self._replace_all(obj)
            return
        view = policy.pod_view(obj)
        if not view.task_id:
            return
        if kind == "DELETED":
            current = self.pods.get(view.task_id)
            if current is not None and current.name == view.name:
                del self.pods[view.task_id]
            self._changed.pop(view.task_id, None)
            if view.name in self._deleting:
                self._deleting.discard(view.name)
            elif view.active:
                self._vanished[view.task_id] = view
            return
        self.pods[view.task_id] = view
        self._changed[view.task_id] = view

    def note_created(self, pod: dict[str, Any]) -> None:
        """Count a pod we just created before its watch event arrives (capacity stays exact)."""
        view = policy.pod_view(pod)
        if view.task_id and view.task_id not in self.pods:
            self.pods[view.task_id] = view
        if view.task_id:
            # Known without asking: it was queued a moment ago (saves a read per launched pod).
            self.statuses[view.task_id] = ("queued", "")

    def forget(self, task_id: str, pod_name: str) -> None:
        """We are about to delete this pod ourselves."""
        self._deleting.add(pod_name)
        self.pods.pop(task_id, None)
        self._changed.pop(task_id, None)

    def has_active_pod(self, task_id: str) -> bool:
        view = self.pods.get(task_id)
        return view is not None and view.active

    def active(self) -> list[PodView]:
        return [v for v in self.pods.values() if v.active]

    def active_count(self) -> int:
        return self.pods.active_total

    def active_by_queue(self) -> dict[str, int]:
        return self.pods.active_by_queue()

    # ---- the loop's step -------------------------------------------------------------------------
    def step(self, check_tasks: bool = False) -> int:
        """Apply queued watch events and act on changed pods; returns the number of events applied.

        With ``check_tasks``, re-read the status of every task with an active pod (abort detection).
        """
        applied = 0
        while True:
            try:
                kind, obj = self._events.get_nowait()
            except queue.Empty:
                break
            self._apply_event(kind, obj)
            applied += 1
        self.metrics.set("clearml_glue_pods_active", self.active_count())
        self._confirm_vanished()  # raises on transient errors: nothing consumed yet
        changed = dict(self._changed)
        vanished = dict(self._vanished)
        needs_status = {tid for tid, v in changed.items() if v.finished or tid not in self.statuses}
        needs_status |= set(vanished)
        if check_tasks:
            needs_status |= {v.task_id for v in self.active()}
        if needs_status:
            self._refresh(needs_status)  # raises on transient errors: nothing consumed yet
        if check_tasks:
            for view in self.active():
                changed.setdefault(view.task_id, view)
        for tid, view in changed.items():
            status, message = self.statuses.get(tid, (None, None))
            again = view.finished and status == "queued" and self._in_its_queue(tid)
            action = policy.decide_pod(view, status, message, queued_again=again)
            self._settle(tid, functools.partial(self._act, view, action))
            self._changed.pop(tid, None)
        for tid, view in vanished.items():
            status, message = self.statuses.get(tid, (None, None))
            action = policy.decide_vanished(status, message)
            self._settle(tid, functools.partial(self._act_vanished, view, action))
            self._vanished.pop(tid, None)
        return applied

    def _confirm_vanished(self) -> None:
        """Ask for each vanished pod by name before acting on its absence.

        A relist (after 410 Gone) is served by the watch thread while this thread may be creating pods:
        a pod newer than the list is missing from it without being gone. Failing or re-queueing its task
        then would fail a running task, or queue it a second time. One GET per vanished pod (rare).
        """
        for task_id, view in list(self._vanished.items()):
            try:
                live = self.kube.get("pods", view.name, self.namespace)
            except NotFoundError:
                continue
            del self._vanished[task_id]
            current = policy.pod_view(live)
            if current.task_id == task_id and task_id not in self.pods:
                self.pods[task_id] = current
                self._changed[task_id] = current

    def _settle(self, task_id: str, action: Callable[[], None]) -> None:
        """Run one action; a task deleted in ClearML meanwhile is settled, not an error to retry forever."""
        try:
            action()
        except (ClearmlTaskNotFound, ClearmlQueueNotFound) as exc:
            LOG.info("task %s: %s; nothing more to do", task_id, exc.one_line())
            self.statuses[task_id] = ("", "")

    def _refresh(self, task_ids: Iterable[str]) -> None:
        ids = sorted(task_ids)
        tasks = self.ops.read(ids, STATUS_FIELDS)
        for tid in ids:
            task = tasks.get(tid)
            if task is None:
                self.statuses[tid] = ("", "")  # deleted in ClearML: nothing to report to
            else:
                self.statuses[tid] = (str(task.get("status") or ""), str(task.get("status_message") or ""))
                self._queues[tid] = str((task.get("execution") or {}).get("queue") or "")

    def _in_its_queue(self, task_id: str) -> bool:
        """Is the task waiting in its queue? Asked only for a queued task with a finished pod (rare):
        re-enqueued after a run whose pod is kept, or a crash between our create and our pop."""
        queue_id = self._queues.get(task_id, "")
        return bool(queue_id) and task_id in self.ops.queued_in([queue_id])

    # ---- actions ---------------------------------------------------------------------------------
    def _act(self, view: PodView, action: PodAction) -> None:
        tid = view.task_id
        if action.kind == policy.NOTHING:
            return
        if action.kind == policy.MESSAGE:
            if self._messages.get(tid) != action.reason:
                self.ops.message(tid, action.reason)
                self._messages[tid] = action.reason
                LOG.info("task %s: %s", tid, action.reason)
            return
        LOG.log(
            logging.INFO if action.kind == policy.COMPLETE else logging.WARNING,
            "task %s %s: %s",
            tid,
            _DONE.get(action.kind, action.kind),
            action.reason,
        )
        if action.kind == policy.FAIL_AND_DELETE:
            self.ops.fail(tid, action.reason)
            self.statuses[tid] = ("failed", action.reason)
            self._delete(view)
            self.metrics.inc("clearml_glue_tasks_failed_total", reason="image")
        elif action.kind == policy.DELETE:
            self._delete(view)
        elif action.kind == policy.ABORT:
            self._delete(view)
            if self.statuses.get(tid, ("", ""))[0] != "stopped":
                self.ops.stopped(tid, action.reason)
            self.statuses[tid] = ("stopped", "")
            self.metrics.inc("clearml_glue_tasks_aborted_total")
        elif action.kind == policy.COMPLETE:
            self.ops.complete(tid, action.reason)
            self.statuses[tid] = ("completed", action.reason)
        elif action.kind == policy.FAIL:
            self.ops.fail(tid, action.reason)
            self.statuses[tid] = ("failed", action.reason)
            self.metrics.inc("clearml_glue_tasks_failed_total", reason="pod")

    def _act_vanished(self, view: PodView, action: PodAction) -> None:
        tid = view.task_id
        if action.kind == policy.REQUEUE and view.queue_id:
            LOG.warning("task %s: %s", tid, action.reason)
            self.ops.to_queue_head(view.queue_id, tid)
        elif action.kind == policy.FAIL:
            self.ops.fail(tid, action.reason)
            self.statuses[tid] = ("failed", action.reason)
            self.metrics.inc("clearml_glue_tasks_failed_total", reason="pod-gone")
        elif action.kind == policy.ABORT:
            self.ops.stopped(tid, action.reason)
            self.statuses[tid] = ("stopped", "")

    def delete(self, view: PodView) -> bool:
        """Delete this pod (this very incarnation, by uid); False when a newer pod took its name."""
        try:
            self._delete(view, uid=view.uid or None)
        except ConflictError:
            self._deleting.discard(view.name)
            return False
        return True

    def _delete(self, view: PodView, uid: str | None = None) -> None:
        self.forget(view.task_id, view.name)
        try:
            self.kube.delete("pods", view.name, self.namespace, ignore_missing=True, uid=uid)
        except NotFoundError:
            pass
        except ConflictError:
            raise  # the uid precondition failed: the pod under this name is not the one we meant
        except KubectlClearmlError:
            # Not deleted after all: watch it again and retry on the next step.
            self._deleting.discard(view.name)
            self.pods[view.task_id] = view
            self._changed[view.task_id] = view
            raise


_DONE = {  # what the log says the glue did, per action
    policy.FAIL_AND_DELETE: "failed, its pod deleted",
    policy.DELETE: "already settled, its pod deleted",
    policy.ABORT: "aborted, its pod deleted",
    policy.COMPLETE: "completed",
    policy.FAIL: "failed",
}


class ResourceVersionExpired(Exception):
    pass
