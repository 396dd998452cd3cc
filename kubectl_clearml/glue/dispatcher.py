"""One dispatch round: read the queue heads, claim each task by taking it out of its queue, create its pod.

    1. read the heads of every queue with free slots   queues.get_all(id=[...], max_task_entries=N)
    2. read those tasks                                 tasks.get_all(id=[...])
    3. per task, in queue order:
       a. claim it: take the entry out of the queue    queues.remove_task (400/703 = another consumer won)
       b. create the pod clearml-id-<task>              409 AlreadyExists = launched before
       c. say so in the task's status message          tasks.update

Steps 1-2 are shared by a whole batch, so the steady-state cost is 3 requests per task plus 2 per batch.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubectl_clearml.core import glue_policy as policy
from kubectl_clearml.core import podbuilder
from kubectl_clearml.errors import (
    AuthError,
    ConflictError,
    InvalidRequestError,
    KubectlClearmlError,
    NotFoundError,
    UnreachableError,
    UsageError,
)
from kubectl_clearml.glue.fit_gate import FitGate
from kubectl_clearml.glue.metrics import Metrics
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

ADOPTED = "adopted"  # the pod that exists is this run's (or replaced an earlier run's): launched
RUNNING = "running"  # the pod that exists is live and runs this task (submit-pod, an earlier run): not launched
OVER = "over"  # the pod that exists ended and its task is no longer queued: nothing to launch

Builder = Callable[[dict[str, Any], QueueSpec], podbuilder.BuiltPod]


class NamespaceNotFound(NotFoundError):
    """Pods cannot be created in the glue's namespace at all: the glue stops instead of failing each task."""


class TransientDispatchError(Exception):
    """A step failed for a reason that may pass (5xx, timeout, quota); the round stops, the loop backs off."""

    def __init__(self, step: str, cause: KubectlClearmlError) -> None:
        super().__init__(f"{step}: {cause.one_line()}")
        self.step = step
        self.cause = cause
        self.result: RoundResult | None = None  # what the round did before it stopped


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

    def _build(self, task: dict[str, Any], queue: QueueSpec) -> podbuilder.BuiltPod:
        return podbuilder.build_task_pod(
            task, podbuilder.QueueRef(queue.id, queue.name), queue.template, self.settings.pod_settings
        )

    # ---- reading ---------------------------------------------------------------------------------
    def free_slots(self, queue: QueueSpec, planned: dict[str, int] | None = None) -> int:
        """Room for ``queue`` now; ``planned`` adds pods a dry run would have created (by queue id)."""
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
            raise _transient_or_raise("read queues", exc) from None
        for queue in open_queues:
            task_ids = heads.get(queue.id) or []
            if not task_ids:
                continue
            result.heads += len(task_ids)
            try:
                tasks = self.ops.read(task_ids, TASK_FIELDS)
            except KubectlClearmlError as exc:
                raise _transient_or_raise("read tasks", exc) from None
            waiting_head: str | None = None  # --fit-check: the first task of this queue that cannot start now
            for task_id in task_ids:
                if should_stop():
                    return result
                task = tasks.get(task_id)
                action = policy.entry_action(
                    str(task.get("status")) if task else None, self.tracker.has_active_pod(task_id)
                )
                if action == policy.LAUNCH:
                    if self.free_slots(queue) <= 0:
                        break
                    assert task is not None
                    started = self._launch(queue, task, result, should_stop)
                    if self.fit is None:
                        continue
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
            if result.progressed:
                return result
            # Nothing this queue holds can start now (unknown tasks only): the next queue gets its turn.
        return result

    # ---- one task --------------------------------------------------------------------------------
    def _launch(
        self,
        queue: QueueSpec,
        task: dict[str, Any],
        result: RoundResult,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Launch (or fail) the task; False when the fit check keeps it queued because its pod cannot run now."""
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
        try:
            self._create(built, namespace)
        except KubectlClearmlError as exc:
            verdict = policy.classify_create_error(_kind(exc), _message(exc))
            if verdict == policy.PERMANENT:
                self._fail(queue, task_id, f"Kubernetes refused pod {built.name}: {_message(exc)}", result, pop=False)
                return True
            outcome = self._adopt_existing(built, namespace) if verdict == policy.ALREADY else ""
            if outcome == OVER:
                result.popped += 1
                return True
            if not outcome:
                self._unclaim(queue, task_id)
                self._raise_create_error(verdict, exc, built.name, namespace)
            if outcome == RUNNING:
                # submit-pod (or an earlier run) made this task's pod and it runs: one pod per task, so the
                # claimed entry stays out and nothing is launched; said, since the count of launches does not show it.
                self.tracker.note_created(built.manifest)
                result.popped += 1
                LOG.info("task %s from queue %s: pod %s already exists and runs it (submit-pod or an earlier "
                         "run): entry removed, nothing launched", task_id, queue.name, built.name)
                return True
        self.tracker.note_created(built.manifest)
        if self.fit is not None:
            self.fit.launched(task_id, built.manifest, namespace)
        result.launched += 1
        self.metrics.inc("clearml_glue_tasks_launched_total", queue=queue.name)
        note = "; ".join(n for n in (built.status_message(), fit_note) if n)
        text = f"launched: pod {built.name} in namespace {namespace}" + (f"; {note}" if note else "")
        self.side.submit(self._say, task_id, text)
        LOG.info("task %s from queue %s: %s", task_id, queue.name, text)
        return True

    def _say(self, task_id: str, text: str) -> None:
        try:
            self.ops.message(task_id, text)
        except KubectlClearmlError as exc:
            LOG.info("task %s: status message not written (%s)", task_id, exc.one_line())

    def _raise_create_error(self, verdict: str, exc: KubectlClearmlError, name: str, namespace: str) -> None:
        if verdict == policy.FATAL and isinstance(exc, NotFoundError):
            raise NamespaceNotFound(
                f"namespace {namespace!r} not found",
                "Kubernetes",
                f"create it (kubectl create namespace {namespace}) or run the glue with -n NAMESPACE of the "
                "agent; the task stays queued",
            ) from None
        if verdict == policy.FATAL:
            raise exc
        if verdict == policy.TRANSIENT:
            self.metrics.inc("clearml_glue_errors_total", step="create")
            raise TransientDispatchError(f"create pod {name}", exc) from None
        raise TransientDispatchError(f"replace the earlier pod {name}", exc) from None

    def _claim(self, queue: QueueSpec, task_id: str) -> bool:
        """Take the entry out of its queue; False when another consumer took it first."""
        try:
            return self.ops.pop(queue.id, task_id)
        except KubectlClearmlError as exc:
            raise _transient_or_raise(f"claim task {task_id}", exc) from None

    def _unclaim(self, queue: QueueSpec, task_id: str) -> None:
        """The pod was not created: the task gets its place back at the head of its queue."""
        try:
            self.ops.to_queue_head(queue.id, task_id)
        except KubectlClearmlError as exc:
            # The orphan sweep puts it back (queued, in no queue, no pod), one sweep interval later.
            LOG.warning("task %s: not put back in queue %s yet (%s)", task_id, queue.name, exc.one_line())

    def _create(self, built: podbuilder.BuiltPod, namespace: str) -> None:
        """Create the pod; one immediate second try after a transient failure. Repeating is safe: if the
        first attempt did reach the server, the second answers 409 AlreadyExists, which means launched."""
        try:
            self.kube.create("pods", built.manifest, namespace, reply=False)
        except KubectlClearmlError as exc:
            if policy.classify_create_error(_kind(exc), _message(exc)) != policy.TRANSIENT:
                raise
            self.metrics.inc("clearml_glue_errors_total", step="create-retried")
            self.kube.create("pods", built.manifest, namespace, reply=False)

    def _adopt_existing(self, built: podbuilder.BuiltPod, namespace: str) -> str:
        """409: the pod exists. Live, it runs this task already (RUNNING); finished, it is an earlier run of
        a task that was queued again, so it makes room for the new one (ADOPTED), unless the task is no
        longer queued (OVER: that run ended, nothing to launch). "": retry later."""
        try:
            existing = self.kube.get("pods", built.name, namespace)
        except NotFoundError:
            return ""
        view = policy.pod_view(existing)
        if view.deleting:
            # An earlier run's pod in its grace period (we deleted it on an abort): it runs nothing of
            # this run, and once it is gone the task would have no pod. Wait at the head of the queue.
            LOG.info("pod %s of an earlier run is still terminating; the task waits", built.name)
            return ""
        if view.finished:
            # A pod that ended is never created again for the same run: only a task queued again (a new run)
            # replaces it. Read now, not at the start of the round: a glue that was paused holds a stale view.
            fresh = self.ops.read([view.task_id], ("id", "status")).get(view.task_id)
            if fresh is None or fresh.get("status") != "queued":
                LOG.warning(
                    "pod %s ended and its task is %s: that run is over, the pod is not created again",
                    built.name,
                    (fresh or {}).get("status", "deleted"),
                )
                return OVER
            self.tracker.forget(view.task_id, view.name)
            try:
                self.kube.delete("pods", built.name, namespace, ignore_missing=True)
                self.kube.create("pods", built.manifest, namespace)
            except KubectlClearmlError as exc:
                LOG.info("pod %s: replacing the finished pod failed (%s)", built.name, exc.one_line())
                return ""
            return ADOPTED
        return RUNNING

    def _pop(self, queue: QueueSpec, task_id: str, step: str) -> None:
        try:
            self.ops.pop(queue.id, task_id)
        except KubectlClearmlError as exc:
            raise _transient_or_raise(f"{step} task {task_id}", exc) from None

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
            raise _transient_or_raise(f"fail task {task_id}", exc) from None
        if pop:
            self._pop(queue, task_id, "remove failed")
        result.failed += 1
        self.metrics.inc("clearml_glue_tasks_failed_total", reason=reason_label)

    # ---- dry run ---------------------------------------------------------------------------------
    def preview(self, adopted: Mapping[str, list[str]] | None = None) -> list[dict[str, Any]]:
        """What the next rounds would launch, pulling nothing: one row per queue head within the limits.

        ``adopted``: per queue id, tasks the start-up sweep would first put back at its head (from the
        reference glue's k8s_scheduler), so the preview shows them where the real run launches them.
        """
        rows: list[dict[str, Any]] = []
        planned: dict[str, int] = {}
        heads = self.peek(list(self.settings.queues), max(1, self.settings.batch_size))
        adopted = adopted or {}
        for queue in self.settings.queues:
            from_scheduler = adopted.get(queue.id) or []
            task_ids = [*from_scheduler, *(t for t in heads.get(queue.id) or [] if t not in from_scheduler)]
            tasks = self.ops.read(task_ids, TASK_FIELDS) if task_ids else {}
            for task_id in task_ids:
                task = tasks.get(task_id)
                action = policy.entry_action(
                    str(task.get("status")) if task else None, self.tracker.has_active_pod(task_id)
                )
                row = {"queue": queue.name, "task": task_id, "name": (task or {}).get("name", ""), "pod": ""}
                if action != policy.LAUNCH or task is None:
                    row["action"] = {"pop": "already launched", "drop": "stale entry"}.get(action, "skip")
                elif self.free_slots(queue, planned) <= 0:
                    row["action"] = "wait (pod limit)"
                else:
                    planned[queue.id] = planned.get(queue.id, 0) + 1
                    try:
                        built = self.build(task, queue)
                        action = "launch (adopted from k8s_scheduler)" if task_id in from_scheduler else "launch"
                        verdict = self.fit.verdict(built.manifest) if self.fit is not None else None
                        if verdict is not None and not verdict.fits:
                            planned[queue.id] -= 1
                            action = f"wait ({verdict.message()})"
                        row.update(action=action, pod=built.name, image=_image(built.manifest))
                    except UsageError as exc:
                        row["action"] = f"fail: {exc.one_line()}"
                rows.append(row)
        return rows


def _image(pod: dict[str, Any]) -> str:
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return str(containers[0].get("image") or "")


def _kind(exc: KubectlClearmlError) -> str:
    if isinstance(exc, ConflictError):
        return "conflict"
    if isinstance(exc, AuthError):
        return "auth"
    if isinstance(exc, InvalidRequestError):
        return "invalid"
    if isinstance(exc, NotFoundError):
        return "notfound"
    if isinstance(exc, UnreachableError):
        return "unreachable"
    return "server"


def _message(exc: KubectlClearmlError) -> str:
    return " ".join(str(part) for part in (exc.what, exc.obj) if part)


def _transient_or_raise(step: str, exc: KubectlClearmlError) -> Exception:
    """Server failures and timeouts pass; anything else (auth, bad request) is the caller's to see."""
    from kubectl_clearml.errors import ServerError

    if isinstance(exc, (ServerError, UnreachableError)) and not isinstance(exc, ConflictError):
        return TransientDispatchError(step, exc)
    return exc
