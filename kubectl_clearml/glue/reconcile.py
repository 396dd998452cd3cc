"""Restart safety: why a crash at any step neither duplicates nor strands a task, and the sweeps that
make it so.

The glue keeps no state of its own. The truth is in two places: the queues (ClearML) and the pods
carrying our agent label (Kubernetes). A task is *owned* by exactly one of them at a time, with a
short gap that the orphan sweep closes:

    queued in our queue ──(1) claim (pop)──▶ queued, in no queue, no pod ──(2) create pod──▶ has a pod

Claiming first is what makes a second consumer of the same queue (the reference glue, another
run-glue) harmless: the server gives an entry to one remover only (glue/dispatcher.py says why).

Dispatch order (glue/dispatcher.py), and what a crash (SIGKILL, node loss) at each point leaves:

  a. before the claim: the entry is still at the head of its queue and there is no pod. The next run
     reads the same head and launches it. Nothing to repair.
  b. claim sent, answer lost: the entry is gone or not. If it is still there, the next round claims it
     again; if it is gone, the task is queued in no queue without a pod: case c.
  c. after the claim, before the create: the task is queued, in no queue, without a pod. The orphan
     sweep below sees that twice in a row and puts it back at the head of its queue (a create that
     failed for a passing reason puts it back at once).
  d. create sent, answer lost (crash, timeout, 5xx after the write): the pod may or may not exist.
     The create is retried once at once; a 409 AlreadyExists means launched (pod names are
     clearml-id-<task id>, so a second pod for the task cannot exist in the namespace). After a crash,
     the pod exists (the tracker lists it, so the sweep leaves the task alone) or it does not (case c).
  e. after the create, before the status message: cosmetic; the tracker writes the pod's state later.
  f. a permanent failure: tasks.failed is written (after the claim, so no entry is left behind; a
     task that cannot even be built is failed before its entry is removed, which the dispatcher then
     removes as the entry of a task that is no longer queued).
  g. tracker actions (fail + delete on image errors, delete + stopped on aborts, completed/failed when
     a pod ends): each is re-derived from the pod and the task on the next start, because the start
     list marks every pod as changed and the decision functions are pure. An action half done (task
     failed, pod not yet deleted) is finished then: a terminal task with an image-error pod → delete.
     A finished pod of a task that is queued AND in its queue is a previous run's (or a launch that died
     before its agent started): it is left to the dispatcher, whose create answers 409 and replaces it.

The in-pod agent's own guard stays: ``clearml_agent execute --require-queue`` refuses a task that is
no longer queued, and the task stays queued until that agent starts it.

Two sweeps cover what the order above cannot, both every ``sweep_interval``:

* **Orphans.** A task of our queues that is ``queued`` but in no queue and has no pod was popped by
  someone who vanished (the reference glue between pop and park, a pod deleted while we were down).
  It goes back to the HEAD of its queue. An ``in_progress`` task whose last worker is one of our pods
  (``<worker id>:<task>``) but has no pod is failed (or marked stopped when it was being aborted).
  A task must be seen orphaned in two sweeps in a row: another agent that just popped it would have
  started it by then.
* **The reference glue's hidden queue** ``k8s_scheduler``: the reference parks tasks there before
  applying their pod and never pulls from it, so a crash strands them. Entries older than
  ``adopt_grace`` (a live reference glue finishes its apply within seconds) are adopted: if a pod
  clearml-id-<task> exists the entry is just removed; otherwise the task goes to the head of its
  original queue when that is one of ours (``execution.queue``, kept on advanced servers), else of our
  first queue, and only then leaves ``k8s_scheduler`` (add before remove: a crash between leaves it
  in both, which the next sweep and the dispatcher both handle).
"""

from __future__ import annotations

import logging
from typing import Any

from kubectl_clearml.core import glue_policy as policy
from kubectl_clearml.core.podbuilder import pod_name
from kubectl_clearml.errors import KubectlClearmlError, NotFoundError, UsageError
from kubectl_clearml.glue.clock import Clock, parse_time
from kubectl_clearml.glue.settings import RunSettings
from kubectl_clearml.glue.taskops import TaskOps
from kubectl_clearml.glue.tracker import PodTracker

LOG = logging.getLogger("kubectl_clearml.glue.reconcile")

SWEEP_FIELDS = ("id", "status", "status_message", "execution.queue", "last_worker")


class Reconciler:
    def __init__(self, clearml: Any, kube: Any, tracker: PodTracker, settings: RunSettings, clock: Clock) -> None:
        self.clearml = clearml
        self.kube = kube
        self.tracker = tracker
        self.settings = settings
        self.clock = clock
        self.ops = TaskOps(clearml)
        self._candidates: dict[str, str] = {}
        self.requeued = 0
        self.adopted = 0

    def sweep(self) -> None:
        """Both sweeps; transient errors propagate (the loop logs them and tries next interval)."""
        entries = self.queued_ids()
        self._orphans(entries)
        self._adopt_scheduler_queue(entries)

    # ---- orphans ---------------------------------------------------------------------------------
    def queued_ids(self) -> set[str]:
        return self.ops.queued_in(self.settings.queue_ids())

    def _orphans(self, queued: set[str]) -> None:
        tasks = self._tasks_of_our_queues()
        current = policy.orphan_candidates(
            tasks,
            self.settings.queue_ids(),
            queued,
            set(self.tracker.pods),
            self.settings.worker_id,
        )
        confirmed = policy.confirmed_orphans(self._candidates, current)
        self._candidates = {t: s for t, s in current.items() if t not in confirmed}
        by_id = {str(t.get("id")): t for t in tasks}
        for task_id, status in confirmed.items():
            task = by_id[task_id]
            queue_id = str((task.get("execution") or {}).get("queue") or "")
            if status == "queued":
                LOG.warning("task %s was popped from its queue but never got a pod: back at the head", task_id)
                self.ops.to_queue_head(queue_id, task_id)
                self.requeued += 1
            elif task.get("status_message") == policy.STOPPING_MESSAGE:
                self.ops.stopped(task_id, "task aborted; its pod is gone")
            else:
                self.ops.fail(task_id, "the task's pod is gone (deleted while the glue was not watching)")

    def _tasks_of_our_queues(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 0
        while True:
            data = self.clearml.call(
                "tasks.get_all",
                {
                    "status": ["queued", "in_progress"],
                    "execution.queue": self.settings.queue_ids(),
                    "only_fields": list(SWEEP_FIELDS),
                    "page": page,
                    "page_size": 500,
                },
            )
            batch = data.get("tasks") or []
            out.extend(batch)
            if len(batch) < 500:
                return out
            page += 1

    # ---- the reference glue's k8s_scheduler --------------------------------------------------------
    def _adopt_scheduler_queue(self, our_entries: set[str]) -> None:
        for scheduler_id, task_id, target in self.adoption_plan(our_entries):
            if target:
                spec = self.settings.queue_by_id(target)
                LOG.warning(
                    "task %s stranded in the reference glue's queue %s: back at the head of queue %s",
                    task_id,
                    self.settings.scheduler_queue,
                    spec.name if spec is not None else target,
                )
                self.ops.to_queue_head(target, task_id)
                self.adopted += 1
            self.ops.pop(scheduler_id, task_id)

    def adoption_plan(self, our_entries: set[str]) -> list[tuple[str, str, str]]:
        """Reads only: (k8s_scheduler id, task id, queue id to put it back at the head of, or "" when
        the entry is only to be removed: its pod exists, the task is no longer queued, or it is ours)."""
        if not self.settings.scheduler_queue:
            return []  # adoption turned off (--k8s-pending-queue "")
        data = self.clearml.call(
            "queues.get_all",
            {
                "name": f"^{self.settings.scheduler_queue}$",
                "search_hidden": True,
                "only_fields": ["id", "name", "entries"],
            },
        )
        matches = [q for q in data.get("queues") or [] if q.get("name") == self.settings.scheduler_queue]
        if not matches or matches[0].get("id") in self.settings.queue_ids():
            return []
        scheduler_id = str(matches[0]["id"])
        now = self.clock.wall()
        entries = [
            str(e["task"])
            for e in matches[0].get("entries") or []
            if (parse_time(e.get("added")) or 0.0) + self.settings.adopt_grace <= now
        ]
        if not entries:
            return []
        tasks = self.ops.read(entries, ("id", "status", "execution.queue"))
        return [(scheduler_id, tid, self._adoption_target(tid, tasks.get(tid), our_entries)) for tid in entries]

    def _adoption_target(self, task_id: str, task: dict[str, Any] | None, ours: set[str]) -> str:
        stranded = task is not None and task.get("status") == "queued" and task_id not in ours
        if not stranded or task is None or self._pod_exists(task_id):
            return ""
        origin = str((task.get("execution") or {}).get("queue") or "")
        return origin if origin in self.settings.queue_ids() else self.settings.queues[0].id

    def _pod_exists(self, task_id: str) -> bool:
        if task_id in self.tracker.pods:
            return True
        try:
            self.kube.get("pods", pod_name(task_id), self.settings.namespace)
        except NotFoundError:
            return False
        except UsageError:
            return False  # not a task id a pod could be named after
        except KubectlClearmlError:
            raise
        return True
