"""Deleting finished task pods once their tasks are settled, ``--delete-finished-after`` after they ended.

The reference glue deletes a pod as soon as it ends, so an OOM-killed task leaves nothing to
``kubectl describe``; never deleting piles pods up in etcd. The default here keeps a finished pod one
hour, long enough to read its exit reason and logs.

A pod is deleted only when all of these hold:
  * it carries our agent label (the tracker watches nothing else) and its phase is Succeeded/Failed;
  * its task is settled in ClearML (completed, failed, stopped, published..., or deleted), read again
    just before the delete, so a task queued again meanwhile keeps its pod (its next launch replaces it);
  * ``after`` seconds have passed since the container's ``finishedAt`` (or, when the kubelet wrote
    none or a time still ahead of ours, since this process first saw the pod finished).

Nothing here lists pods: candidates come from the tracker's cache (the start-up list, then the watch),
which after a restart already holds every old finished pod, so they are cleaned on schedule. The delete
names the pod's uid, so a newer pod that took the name in between is never the one removed.
"""

from __future__ import annotations

import logging

from kubectl_clearml.core import glue_policy as policy
from kubectl_clearml.core.glue_policy import PodView
from kubectl_clearml.errors import AuthError
from kubectl_clearml.glue.clock import Clock, parse_time
from kubectl_clearml.glue.metrics import Metrics
from kubectl_clearml.glue.taskops import TaskOps
from kubectl_clearml.glue.tracker import PodTracker

LOG = logging.getLogger("kubectl_clearml.glue.cleanup")

DEFAULT_AFTER = 3600.0  # one hour: time to debug an OOM kill before the pod goes


class FinishedPodCleaner:
    def __init__(
        self,
        tracker: PodTracker,
        ops: TaskOps,
        clock: Clock,
        metrics: Metrics,
        *,
        after: float | None,
        interval: float = 1.0,
    ) -> None:
        self.tracker = tracker
        self.ops = ops
        self.clock = clock
        self.metrics = metrics
        self.after = after
        self.interval = interval
        self.deleted = 0
        self._first_seen: dict[str, float] = {}  # pod uid (or name) -> wall time we first saw it finished
        self._next = 0.0

    def run_if_due(self) -> int:
        """At most once per ``interval``: delete what is due; returns the number of pods deleted."""
        if self.after is None:
            return 0
        now_mono = self.clock.monotonic()
        if now_mono < self._next:
            return 0
        self._next = now_mono + self.interval
        due = self.due(self.clock.wall())
        if not due:
            return 0
        # Read the tasks again: the cached status may predate a re-enqueue.
        fresh = self.ops.read([v.task_id for v in due], ("id", "status"))
        deleted = 0
        for view in due:
            task = fresh.get(view.task_id)
            status = str(task.get("status") or "") if task is not None else ""
            self.tracker.statuses[view.task_id] = (status, self.tracker.statuses.get(view.task_id, ("", ""))[1])
            if not policy.settled(status):
                continue
            try:
                gone = self.tracker.delete(view)
            except AuthError as exc:
                # Missing RBAC for deletes must not stop dispatching: say so once, stop cleaning.
                LOG.error("%s; finished pods are no longer deleted (grant 'delete' on pods)", exc.one_line())
                self.after = None
                raise
            if gone:
                deleted += 1
                self.metrics.inc("clearml_glue_pods_deleted_total", reason="finished")
                LOG.info("pod %s deleted: task %s is %s", view.name, view.task_id, status or "deleted in ClearML")
        self.deleted += deleted
        return deleted

    def due(self, now: float) -> list[PodView]:
        """Finished pods of settled tasks (by the cached status) whose keep time is over."""
        out: list[PodView] = []
        live: set[str] = set()
        for view in list(self.tracker.pods.values()):
            if not view.finished:
                continue
            key = view.uid or view.name
            live.add(key)
            seen = self._first_seen.setdefault(key, now)
            ended = parse_time(view.finished_at)
            # A finishedAt ahead of our clock (skew) counts from when we saw it: never later than that.
            ended = seen if ended is None else min(ended, seen)
            status = self.tracker.statuses.get(view.task_id, (None, None))[0]
            if policy.cleanup_due(view, status, ended, now, self.after):
                out.append(view)
        for key in [k for k in self._first_seen if k not in live]:
            del self._first_seen[key]
        return out
