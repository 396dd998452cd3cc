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
  A task must be seen orphaned in two sweeps in a row; while one waits for its second sighting, the
  next sweep comes ``orphan_confirm_after`` (10 s) later instead of a whole interval. Another consumer
  that just popped it would have parked, created or started it by then (the reference glue parks
  within a second, a run-glue creates its pod within milliseconds).
* **The reference glue's hidden queue** ``k8s_scheduler``: the reference parks tasks there before
  applying their pod and never pulls from it, so a crash strands them. An entry older than
  ``adopt_grace`` (a live reference glue finishes its apply within seconds) is adopted only when all of
  these hold (core/glue_policy.py ``adoptable``): the task is still queued and not in our queues; it
  came from a queue we serve (``execution.queue`` on advanced servers, else the reference's own "pulled
  from <queue>" log line), so it runs with that queue's template; no pod clearml-id-<task> exists
  (whatever its label: the reference's pods carry its own agent label); and no live reference glue
  serves that queue (its registered worker lists it: the entry is its own) unless the entry is over
  10 minutes old (the reference never pulls from k8s_scheduler again, so it is lost to it). Adopted: the task goes
  to the head of its origin queue, and only then leaves ``k8s_scheduler`` (add before remove: a crash
  between leaves it in both, which the next sweep and the dispatcher both handle). Every other entry
  is left alone: removing a live reference glue's entry makes it skip that task.
"""

from __future__ import annotations

import logging
from typing import Any

from kubectl_clearml.core import glue_policy as policy
from kubectl_clearml.core import podbuilder
from kubectl_clearml.core.podbuilder import pod_name
from kubectl_clearml.errors import KubectlClearmlError, NotFoundError, UsageError
from kubectl_clearml.glue.clock import Clock, parse_time
from kubectl_clearml.glue.settings import RunSettings
from kubectl_clearml.glue.taskops import TaskOps
from kubectl_clearml.glue.tracker import PodTracker

LOG = logging.getLogger("kubectl_clearml.glue.reconcile")

STRANDED_AFTER = 600.0  # seconds in k8s_scheduler with no pod: lost by the reference even while it runs
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
        scheduler = self.scheduler_queue()
        # A task parked in k8s_scheduler (advanced servers keep its origin in execution.queue) is the
        # reference glue's, not an orphan of ours.
        self._orphans(entries | {str(e.get("task")) for e in scheduler[1]})
        self._adopt_scheduler_queue(entries, scheduler)

    # ---- orphans ---------------------------------------------------------------------------------
    def pending_orphans(self) -> bool:
        """Candidates seen once, waiting for the sighting that confirms them."""
        return bool(self._candidates)

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
        if current:
            # Another glue on the same queues (a second run-glue, the reference) claimed these and has
            # their pods, under its own agent label: not orphans. Putting them back made both glues take
            # them again (409, pop, requeue: the churn of two glues). One list of every agent pod.
            current = {t: s for t, s in current.items() if t not in self._agent_pod_tasks()}
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

    def _agent_pod_tasks(self) -> set[str]:
        """Task ids of every glue's pods in the namespace (any ``CLEARML`` agent label), from one list."""
        pods = self.kube.list("pods", self.settings.namespace, label_selector=podbuilder.AGENT_LABEL)
        return {v.task_id for v in (policy.pod_view(p) for p in pods) if v.task_id}

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
    def _adopt_scheduler_queue(self, our_entries: set[str], scheduler: tuple[str, list[dict[str, Any]]]) -> None:
        for scheduler_id, task_id, target in self.adoption_plan(our_entries, scheduler):
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

    def scheduler_queue(self) -> tuple[str, list[dict[str, Any]]]:
        """(id, entries) of the reference glue's k8s_scheduler; ("", []) when there is none or adoption is off."""
        if not self.settings.scheduler_queue:
            return "", []  # adoption turned off (--k8s-pending-queue "")
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
            return "", []
        return str(matches[0]["id"]), list(matches[0].get("entries") or [])

    def adoption_plan(
        self, our_entries: set[str], scheduler: tuple[str, list[dict[str, Any]]] | None = None
    ) -> list[tuple[str, str, str]]:
        """Reads only: (k8s_scheduler id, task id, queue id to put it back at the head of) per entry to adopt."""
        scheduler_id, entries = scheduler if scheduler is not None else self.scheduler_queue()
        now = self.clock.wall()
        added = {str(e["task"]): parse_time(e.get("added")) or 0.0 for e in entries if e.get("task")}
        due = [task_id for task_id, when in added.items() if when + self.settings.adopt_grace <= now]
        if not due:
            return []
        tasks = self.ops.read(due, ("id", "status", "execution.queue"))
        owned: set[str] | None = None
        plan: list[tuple[str, str, str]] = []
        for task_id in due:
            task = tasks.get(task_id)
            if task is None or task.get("status") != "queued" or task_id in our_entries:
                continue
            origin = policy.origin_queue(task, scheduler_id, self._log_lines(task, scheduler_id))
            if origin not in self.settings.queue_ids():
                continue  # another glue's queue, or no record of where it came from: not ours to run
            owned = owned if owned is not None else self._foreign_glue_queues()
            # The reference glue never pulls from k8s_scheduler again (reference-glue.md §5): an entry it parked
            # long ago and never applied (no pod) stays there forever, even while it runs. Only recent entries
            # are a live reference glue's own, still being applied.
            lost = added[task_id] + STRANDED_AFTER <= now
            ours = task_id in our_entries
            has_pod = self._pod_exists(task_id)
            if policy.adoptable(
                task, origin, self.settings.queue_ids(), in_our_queues=ours, has_pod=has_pod,
                owned_queues=set() if lost else owned,
            ):
                plan.append((scheduler_id, task_id, origin))
        return plan

    def _log_lines(self, task: dict[str, Any], scheduler_id: str) -> list[str]:
        """The task's newest console lines, read only when ``execution.queue`` lost the origin (basic servers)."""
        queue = str((task.get("execution") or {}).get("queue") or "")
        if queue and queue != scheduler_id:
            return []
        try:
            data = self.clearml.call(
                "events.get_task_log", {"task": task["id"], "batch_size": 100, "navigate_earlier": True}
            )
        except KubectlClearmlError as exc:
            LOG.info("task %s: its log is unreadable (%s); not adopted", task["id"], exc.one_line())
            return []
        return [str(e.get("msg") or "") for e in data.get("events") or []]

    def _foreign_glue_queues(self) -> set[str]:
        data = self.clearml.call("workers.get_all", {"last_seen": 600})
        return policy.foreign_glue_queues(data.get("workers") or [], self.settings.worker_id)

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
