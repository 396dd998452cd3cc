"""One dispatch round: read the queue heads, claim each task by taking it out of its queue, create its pod.

    1. read the heads of every queue with free slots   queues.get_all(id=[...], max_task_entries=N)
    2. read those tasks                                 tasks.get_all(id=[...])
    3. per task, in queue order:
       a. claim it: take the entry out of the queue    queues.remove_task (400/703 = another consumer won)
       b. create the pod clearml-id-<task>              409 AlreadyExists = launched before
       c. say so in the task's status message          tasks.update

Steps 1-2 are shared by a whole batch, so the steady-state cost is 3 requests per task plus 2 per batch.
Overlapped, not reordered (issue 17): task N's pod is created on a helper thread while task N+1 is claimed
here, and 3c runs on another; task N's outcome is settled before task N+1's create starts, and claimed
tasks that go back to their queue go back in queue order. The pod create itself is glue/pod_create.py.

Why claim first. Every other consumer of a queue (the reference glue, a second run-glue, an agent) takes
a task with an atomic pop (``queues.get_next_task``); the server hands each entry to exactly one remover.
Creating the pod first left a window in which the reference glue popped a task whose pod we had just
created: its ``kubectl apply`` then hit our pod (immutable fields, and the missing last-applied
annotation, both on stderr), and it failed the task while our pod ran it (reference k8s.py 3.0.3,
``apply_template_and_handle_result``: any stderr text -> ``_set_task_failed_while_applying``). After a
successful claim nobody else can pop the task, so nobody else launches it.

The claim is recoverable: a claimed task is still ``queued`` with ``execution.queue`` naming our queue.
If the create fails for a reason that may pass, the entry is put back at the head at once; if the glue
dies between claim and create, the orphan sweep (glue/reconcile.py) finds a queued task in no queue and
without a pod and puts it back at the head. Why each crash point is safe is written out there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kubectl_clearml.core import glue_policy as policy
from kubectl_clearml.core import podbuilder
from kubectl_clearml.errors import KubectlClearmlError, UsageError
from kubectl_clearml.glue.fit_gate import FitGate
from kubectl_clearml.glue.metrics import Metrics
from kubectl_clearml.glue.pod_create import (
    OVER,
    RUNNING,
    TransientDispatchError,
    adopt_existing,
    create_error,
    create_pod,
    kind_of,
    message_of,
    transient_or_raise,
)
from kubectl_clearml.glue.settings import QueueSpec, RunSettings
from kubectl_clearml.glue.sidecalls import SideCalls
from kubectl_clearml.glue.taskops import TaskOps
from kubectl_clearml.glue.tracker import PodTracker

LOG = logging.getLogger("kubectl_clearml.glue.dispatch")

TASK_FIELDS = (
    "id",
    "name",
    "status",
    "project",
    "parent",
    "container",
    "execution.queue",
    "execution.docker_cmd",
)

Builder = Callable[[dict[str, Any], QueueSpec], podbuilder.BuiltPod]


@dataclass
class RoundResult:
    launched: int = 0
    popped: int = 0  # entries taken out without a launch (pod existed, or the task was stale)
    failed: int = 0  # tasks failed for a permanent reason
    full: bool = False  # every queue with work is at its pod limit
    heads: int = 0  # entries seen

    @property
    def progressed(self) -> bool:
        return bool(self.launched or self.popped or self.failed)


@dataclass
class Claim:
    """A task taken out of its queue whose pod is to be created (or is being created: ``create``)."""

    queue: QueueSpec
    task_id: str
    built: podbuilder.BuiltPod
    namespace: str
    fit_note: str | None
    create: Future[None] | None = None
    given_back: bool = False  # put back at the head of its queue


class Dispatcher:
    def __init__(
        self,
        clearml: Any,
        kube: Any,
        tracker: PodTracker,
        settings: RunSettings,
        metrics: Metrics,
        build: Builder | None = None,
    ) -> None:
        self.clearml = clearml
        self.kube = kube
        self.tracker = tracker
        self.settings = settings
        self.metrics = metrics
        self.ops = TaskOps(clearml)
        self.build = build or self._build
        self.fit: FitGate | None = None  # --fit-check: launch only pods that can run now
        self.side = SideCalls()  # launch messages, written while the next pod is created
        self._creates: ThreadPoolExecutor | None = None  # pod creates, one in flight while the next is claimed

    def close(self) -> None:
        try:
            self.side.close()
        finally:
            if self._creates is not None:
                self._creates.shutdown(wait=True)
                self._creates = None

    def _build(self, task: dict[str, Any], queue: QueueSpec) -> podbuilder.BuiltPod:
        return podbuilder.build_task_pod(
            task, podbuilder.QueueRef(queue.id, queue.name), queue.template, self.settings.pod_settings
        )

    # ---- reading ---------------------------------------------------------------------------------
    def free_slots(self, queue: QueueSpec, planned: dict[str, int] | None = None) -> int:
        """Room for ``queue`` now; ``planned`` adds pods the tracker does not count yet, by queue id (a dry run's
        plan, a create in flight)."""
        by_queue = self.tracker.active_by_queue()
        extra = planned or {}
        for queue_id, count in extra.items():
            by_queue[queue_id] = by_queue.get(queue_id, 0) + count
        return policy.free_slots(
            queue.id,
            self.tracker.active_count() + sum(extra.values()),
            by_queue,
            self.settings.max_pods,
            self.settings.queue_limits(),
        )

    def peek(self, queues: list[QueueSpec], limit: int) -> dict[str, list[str]]:
        """Task ids at the head of each queue (head first), one request for all queues."""
        if not queues:
            return {}
        data = self.clearml.call(
            "queues.get_all",
            {"id": [q.id for q in queues], "max_task_entries": limit, "only_fields": ["id", "entries"]},
        )
        heads: dict[str, list[str]] = {q.id: [] for q in queues}
        for record in data.get("queues") or []:
            entries = record.get("entries") or []
            heads[str(record.get("id"))] = [str(e.get("task")) for e in entries[:limit] if e.get("task")]
        return heads

    # ---- a round ---------------------------------------------------------------------------------
    def round(self, should_stop: Callable[[], bool] = lambda: False) -> RoundResult:
        """Serve the highest-priority queue that has work and room; one batch, then return.

        Returning after each batch restarts the scan at the first queue, so strict priority holds
        even while a lower queue is being drained.
        """
        result = RoundResult()
        try:
            return self._round(result, should_stop)
        except TransientDispatchError as exc:
            exc.result = result
            raise
        finally:
            self.side.drain()

    def _round(self, result: RoundResult, should_stop: Callable[[], bool]) -> RoundResult:
        open_queues = [q for q in self.settings.queues if self.free_slots(q) > 0]
        if not open_queues:
            result.full = True
            return result
        batch = max(1, self.settings.batch_size)
        if self.fit is not None:
            self.fit.begin_round()
        try:
            heads = self.peek(open_queues, batch)
        except KubectlClearmlError as exc:
            raise transient_or_raise("read queues", exc) from None
        for queue in open_queues:
            task_ids = heads.get(queue.id) or []
            if not task_ids:
                continue
            result.heads += len(task_ids)
            try:
                tasks = self.ops.read(task_ids, TASK_FIELDS)
            except KubectlClearmlError as exc:
                raise transient_or_raise("read tasks", exc) from None
            in_flight: list[Claim] = []  # at most one: the pod being created while the next task is claimed
            try:
                stopped = self._serve(queue, task_ids, tasks, result, should_stop, in_flight)
            except BaseException:
                self._settle_quietly(in_flight, result)
                raise
            if in_flight:
                self._finish(in_flight.pop(), result)
            if stopped or result.progressed:
                return result
            # Nothing this queue holds can start now (unknown tasks only): the next queue gets its turn.
        return result

    def _serve(
        self,
        queue: QueueSpec,
        task_ids: list[str],
        tasks: dict[str, dict[str, Any]],
        result: RoundResult,
        should_stop: Callable[[], bool],
        in_flight: list[Claim],
    ) -> bool:
        """Launch or drop the queue's head entries in order; True when asked to stop.

        Pipelined by one (issue 17): the pod of task N is created on a helper thread while task N+1 is built
        and claimed here. The claim still comes first for every task, and task N's outcome is settled here,
        in queue order, before task N+1's pod is created (so a failed create gives both back in order).
        """
        waiting_head: str | None = None  # --fit-check: the first task of this queue that cannot start now
        for task_id in task_ids:
            if should_stop():
                return True
            task = tasks.get(task_id)
            action = policy.entry_action(
                str(task.get("status")) if task else None, self.tracker.has_active_pod(task_id)
            )
            if action == policy.LAUNCH:
                if self.free_slots(queue, {queue.id: len(in_flight)}) <= 0:
                    break
                assert task is not None
                if self.fit is None:
                    claimed = self._claim_for_launch(queue, task, result, should_stop)
                    if isinstance(claimed, Claim):
                        if in_flight:
                            self._finish(in_flight.pop(), result, behind=claimed)
                        self._begin_create(claimed)
                        in_flight.append(claimed)
                    continue
                # --fit-check decides on what has launched: each task is launched whole, with no overlap.
                started = self._launch(queue, task, result, should_stop)
                if not started and waiting_head is None:
                    waiting_head = task_id
                    self.fit.backfill.head_waits(queue.id, task_id)
                elif started and waiting_head is None:
                    self.fit.backfill.head_started(queue.id, task_id)
                elif started:
                    self.fit.backfill.passed(queue.id)
                if waiting_head is not None and not self.fit.backfill.may_pass(queue.id):
                    break  # queue order: nothing passes the waiting head (or no more, with --backfill)
            elif action in (policy.POP_ONLY, policy.DROP_STALE):
                self._pop(queue, task_id, "pop")
                result.popped += 1
                # Said, not silent: the entry of a task `submit-pod` ran (or an earlier run launched)
                # goes without a second pod, and a task no longer runnable leaves its queue.
                why = (f"pod {podbuilder.pod_name(task_id)} already exists (submit-pod or an earlier run): "
                       "entry removed, nothing launched") if action == policy.POP_ONLY else (
                       f"task is {task.get('status') if task else 'gone'}, not queued: stale entry removed")
                LOG.info("task %s from queue %s: %s", task_id, queue.name, why)
        return False

    def _settle_quietly(self, in_flight: list[Claim], result: RoundResult) -> None:
        """The round is ending on an error: the pod already being created is settled (launched, or its task
        given back), and what that says is logged, so the error that ended the round is the one reported."""
        while in_flight:
            try:
                self._finish(in_flight.pop(), result)
            except Exception as exc:  # the error that ended the round is the one raised
                LOG.warning("while stopping the round: %s", exc)

    # ---- one task --------------------------------------------------------------------------------
    def _launch(
        self,
        queue: QueueSpec,
        task: dict[str, Any],
        result: RoundResult,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Launch (or fail) the task; False when the fit check keeps it queued because its pod cannot run now."""
        claimed = self._claim_for_launch(queue, task, result, should_stop)
        if isinstance(claimed, Claim):
            self._begin_create(claimed)
            self._finish(claimed, result)
            return True
        return claimed

    def _claim_for_launch(
        self,
        queue: QueueSpec,
        task: dict[str, Any],
        result: RoundResult,
        should_stop: Callable[[], bool],
    ) -> Claim | bool:
        """Build the pod and claim the task: a Claim whose pod is to be created, True when the task was dealt
        with otherwise (failed, lost to another consumer, given back), False when the fit check keeps it."""
        task_id = str(task["id"])
        try:
            built = self.build(task, queue)
        except UsageError as exc:
            # The task itself cannot become a pod (bad image name, bad docker arguments).
            self._fail(queue, task_id, f"cannot build the pod: {exc.one_line()}", result)
            return True
        fit_note = None
        if self.fit is not None:
            decision = self.fit.decide(task_id, built.manifest)
            if decision.fail_reason:
                self._fail(queue, task_id, decision.fail_reason, result, reason_label="unschedulable")
                return True
            if not decision.launch:
                return False
            fit_note = decision.note
        namespace = built.namespace or self.settings.namespace
        if not self._claim(queue, task_id):
            LOG.info("task %s: taken from queue %s by another consumer first; not launched", task_id, queue.name)
            result.popped += 1
            self.metrics.inc("clearml_glue_claims_lost_total", queue=queue.name)
            return True
        if should_stop():
            # Frozen between the claim and the create for longer than the lease allows (fencing): the new
            # leader may be serving this queue already. The task gets its place back; whoever leads launches it.
            self._unclaim(queue, task_id)
            return True
        return Claim(queue, task_id, built, namespace, fit_note)

    def _begin_create(self, claim: Claim) -> None:
        if self._creates is None:
            self._creates = ThreadPoolExecutor(max_workers=1, thread_name_prefix="glue-pod-create")
        claim.create = self._creates.submit(create_pod, self.kube, self.metrics, claim.built, claim.namespace)

    def _finish(self, claim: Claim, result: RoundResult, behind: Claim | None = None) -> None:
        """Wait for the claim's pod create and act on its outcome. ``behind``: the next task, claimed already;
        whenever this one goes back to its queue, that one goes back first, so the queue keeps its order."""
        try:
            self._settle(claim, result, behind)
        except BaseException:
            if behind is not None:
                self._give_back(behind)
            raise

    def _settle(self, claim: Claim, result: RoundResult, behind: Claim | None) -> None:
        queue, task_id, built, namespace = claim.queue, claim.task_id, claim.built, claim.namespace
        assert claim.create is not None
        try:
            claim.create.result()
        except KubectlClearmlError as exc:
            verdict = policy.classify_create_error(kind_of(exc), message_of(exc))
            if verdict == policy.PERMANENT:
                self._fail(queue, task_id, f"Kubernetes refused pod {built.name}: {message_of(exc)}", result, pop=False)
                return
            outcome = adopt_existing(self.kube, self.ops, self.tracker, built, namespace) if verdict == policy.ALREADY else ""
            if outcome == OVER:
                result.popped += 1
                return
            if not outcome:
                if behind is not None:
                    self._give_back(behind)
                self._give_back(claim)
                raise create_error(verdict, exc, built.name, namespace, self.metrics)
            if outcome == RUNNING:
                # submit-pod (or an earlier run) made this task's pod and it runs: one pod per task, so the
                # claimed entry stays out and nothing is launched; said, since the count of launches does not show it.
                self.tracker.note_created(built.manifest)
                result.popped += 1
                LOG.info("task %s from queue %s: pod %s already exists and runs it (submit-pod or an earlier "
                         "run): entry removed, nothing launched", task_id, queue.name, built.name)
                return
        self.tracker.note_created(built.manifest)
        if self.fit is not None:
            self.fit.launched(task_id, built.manifest, namespace)
        result.launched += 1
        self.metrics.inc("clearml_glue_tasks_launched_total", queue=queue.name)
        note = "; ".join(n for n in (built.status_message(), claim.fit_note) if n)
        text = f"launched: pod {built.name} in namespace {namespace}" + (f"; {note}" if note else "")
        self.side.submit(self._say, task_id, text)
        LOG.info("task %s from queue %s: %s", task_id, queue.name, text)

    def _give_back(self, claim: Claim) -> None:
        if not claim.given_back:
            claim.given_back = True
            self._unclaim(claim.queue, claim.task_id)

    def _say(self, task_id: str, text: str) -> None:
        try:
            self.ops.message(task_id, text)
        except KubectlClearmlError as exc:
            LOG.info("task %s: status message not written (%s)", task_id, exc.one_line())

    def _claim(self, queue: QueueSpec, task_id: str) -> bool:
        """Take the entry out of its queue; False when another consumer took it first."""
        try:
            return self.ops.pop(queue.id, task_id)
        except KubectlClearmlError as exc:
            raise transient_or_raise(f"claim task {task_id}", exc) from None

    def _unclaim(self, queue: QueueSpec, task_id: str) -> None:
        """The pod was not created: the task gets its place back at the head of its queue."""
        try:
            self.ops.to_queue_head(queue.id, task_id)
        except KubectlClearmlError as exc:
            # The orphan sweep puts it back (queued, in no queue, no pod), one sweep interval later.
            LOG.warning("task %s: not put back in queue %s yet (%s)", task_id, queue.name, exc.one_line())

    def _pop(self, queue: QueueSpec, task_id: str, step: str) -> None:
        try:
            self.ops.pop(queue.id, task_id)
        except KubectlClearmlError as exc:
            raise transient_or_raise(f"{step} task {task_id}", exc) from None

    def _fail(
        self,
        queue: QueueSpec,
        task_id: str,
        reason: str,
        result: RoundResult,
        *,
        reason_label: str = "pod-refused",
        pop: bool = True,
    ) -> None:
        LOG.warning("task %s failed: %s", task_id, reason)
        try:
            self.ops.fail(task_id, reason)
        except KubectlClearmlError as exc:
            raise transient_or_raise(f"fail task {task_id}", exc) from None
        if pop:
            self._pop(queue, task_id, "remove failed")
        result.failed += 1
        self.metrics.inc("clearml_glue_tasks_failed_total", reason=reason_label)
