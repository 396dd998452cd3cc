"""The glue loop: track pods, sweep, report, dispatch; sleep only when there is nothing to do.

One thread makes every API call (the pod watch reads in the background and only queues events), so
the order of effects is the order written here. Time and sleep come from an injectable Clock; stop is
a threading.Event the CLI sets from SIGINT/SIGTERM and tests set directly.

Per iteration:
  1. leader election (with --leader-elect): a standby does nothing else;
  2. tracker: apply watch events; every poll interval also re-read the tasks of live pods (aborts);
  3. every sweep interval: orphans and the reference glue's k8s_scheduler (glue/reconcile.py);
  4. every second: delete finished pods whose task is settled and whose keep time is over
     (glue/cleanup.py, from the tracker's cache: no listing);
  5. every 30 s: workers.status_report;
  6. one dispatch round; when it launched something, loop at once (no sleep), when every queue is
     empty or full sleep the poll interval, after an error sleep an exponential backoff with jitter.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.core import glue_policy as policy
from kubectl_clearml.core import podbuilder
from kubectl_clearml.errors import AuthError, KubectlClearmlError
from kubectl_clearml.glue.cleanup import FinishedPodCleaner
from kubectl_clearml.glue.clock import Clock, SystemClock
from kubectl_clearml.glue.dispatcher import Builder, Dispatcher, RoundResult
from kubectl_clearml.glue.leader import LeaderElector
from kubectl_clearml.glue.metrics import Metrics
from kubectl_clearml.glue.pod_create import NamespaceNotFound, TransientDispatchError
from kubectl_clearml.glue.preview import preview
from kubectl_clearml.glue.reconcile import Reconciler
from kubectl_clearml.glue.settings import RunSettings
from kubectl_clearml.glue.tracker import PodTracker
from kubectl_clearml.glue.worker import WorkerReporter

LOG = logging.getLogger("kubectl_clearml.glue")


@dataclass
class RunSummary:
    launched: int = 0
    failed: int = 0
    rounds: int = 0
    errors: int = 0
    idle_sleeps: int = 0
    led: bool = False
    error_steps: dict[str, int] = field(default_factory=dict)


class GlueEngine:
    def __init__(
        self,
        clearml: Any,
        kube: Any,
        settings: RunSettings,
        *,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        build: Builder | None = None,
        identity: str | None = None,
        rand: Callable[[], float] = random.random,
        reload_templates: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.clearml = clearml
        self.kube = kube
        self.settings = settings
        self.clock = clock or SystemClock()
        self.metrics = metrics or Metrics()
        self.rand = rand
        # Templates come from a ConfigMap or files users edit: re-read them every sweep, no restart needed.
        self.reload_templates = reload_templates
        self.stop_event = threading.Event()
        self.label = podbuilder.agent_label(settings.worker_id)
        self.tracker = PodTracker(
            kube,
            _ops(clearml),
            settings.namespace,
            f"{podbuilder.AGENT_LABEL}={self.label}",
            self.clock,
            self.metrics,
            watch_timeout=settings.watch_timeout,
        )
        self.dispatcher = Dispatcher(clearml, kube, self.tracker, settings, self.metrics, build)
        if settings.fit_check is not False:  # True, or None: on where the glue may read the cluster
            self.dispatcher.fit = _fit_gate(kube, clearml, settings, self.clock, self.metrics)
        self.reconciler = Reconciler(clearml, kube, self.tracker, settings, self.clock)
        self.cleaner = FinishedPodCleaner(
            self.tracker,
            _ops(clearml),
            self.clock,
            self.metrics,
            after=settings.delete_finished_after,
            interval=settings.cleanup_interval,
        )
        self.worker = WorkerReporter(
            clearml,
            settings.worker_id,
            settings.queue_ids(),
            self.clock,
            interval=settings.report_interval,
            gpu_count=settings.gpu_count,
            running=lambda: sorted(v.task_id for v in self.tracker.active()),
        )
        self.leader = (
            LeaderElector(
                kube,
                settings.namespace,
                policy.lease_name(self.label),
                self.clock,
                identity=identity,
                duration=settings.lease_duration,
            )
            if settings.leader_elect
            else None
        )
        self.started = False
        self.summary = RunSummary()
        self._failures = 0
        self._next_check = 0.0
        self._next_sweep = 0.0
        self._next_templates = 0.0

    # ---- control ---------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Stop pulling; the current task's dispatch finishes, running pods are left alone."""
        self.stop_event.set()

    @property
    def stopping(self) -> bool:
        return self.stop_event.is_set()

    def _sleep(self, seconds: float) -> None:
        self.clock.sleep(seconds, self.stop_event)

    # ---- run -------------------------------------------------------------------------------------
    def run(self, once: bool = False) -> RunSummary:
        """Loop until stopped (or, with ``once``, until the queues are drained or full)."""
        try:
            while not self.stopping:
                if self.leader is not None and not self.leader.ensure():
                    self.metrics.set("clearml_glue_leader", 0)
                    if self.started:
                        LOG.warning("lost the lease: standing by")
                        self._stand_down()
                    self._sleep(min(self.settings.poll_interval, self.leader.duration / 3))
                    continue
                self.metrics.set("clearml_glue_leader", 1)
                self.summary.led = True
                if not self.started and not self._start(watch=not once):
                    continue
                result = self._iterate(idle_sleep=not once)
                if once and result is not None and not result.progressed:
                    break
        finally:
            self._shutdown()
            # Every failure, the dispatcher's and the tracker's (image pull, pod exit, pod gone), is counted there.
            self.summary.failed = int(self.metrics.total("clearml_glue_tasks_failed_total"))
        return self.summary

    def _start(self, watch: bool) -> bool:
        """List our pods once, start the watch, register, reconcile. False after a transient error."""
        try:
            self.tracker.load()
            self._load_fit_view()
            self.worker.register()
            self.reconciler.sweep()
        except AuthError:
            raise
        except KubectlClearmlError as exc:
            self._backoff("start", exc)
            return False
        if watch:
            self.tracker.start_watch()
            if self.dispatcher.fit is not None:
                self.dispatcher.fit.view.start_watch()
        self.started = True
        self._next_sweep = self.clock.monotonic() + self._sweep_pause()
        self._next_templates = self.clock.monotonic() + self.settings.template_interval
        LOG.info(  # a normal start is not a warning
            "run-glue started: worker %s, label %s=%s, queues %s, %d pods of ours",
            self.settings.worker_id,
            podbuilder.AGENT_LABEL,
            self.label,
            ", ".join(q.name for q in self.settings.queues),
            len(self.tracker.pods),
        )
        return True

    def _sweep_pause(self) -> float:
        """Until the next sweep: sooner while orphans wait for their confirming second sighting (a claim
        whose pod was never created, e.g. the glue was killed in between, is back in its queue seconds later,
        not a whole sweep interval later)."""
        if self.reconciler.pending_orphans():
            return min(self.settings.sweep_interval, self.settings.orphan_confirm_after)
        return self.settings.sweep_interval

    def _may_lead(self) -> bool:
        """Fencing: with --leader-elect, act only while the lease is surely ours (see glue/leader.py)."""
        return self.leader is None or self.leader.valid()

    def _iterate(self, idle_sleep: bool = True) -> RoundResult | None:
        if not self._may_lead():
            return None  # woke up after a pause: the next ensure() renews or stands down first
        now = self.clock.monotonic()
        errors = 0
        check = now >= self._next_check
        if check:
            self._next_check = now + max(self.settings.poll_interval, self.settings.abort_check_interval)
        errors += self._guard("track", lambda: self.tracker.step(check_tasks=check))
        if now >= self._next_sweep and self._may_lead():
            self._next_sweep = now + self.settings.sweep_interval
            errors += self._guard("sweep", self.reconciler.sweep)
            self._next_sweep = now + self._sweep_pause()
        if self.reload_templates is not None and now >= self._next_templates:
            # On its own clock: a short --sweep-interval must not re-read the agent's release every second.
            self._next_templates = now + self.settings.template_interval
            errors += self._guard("templates", self._reload_templates)
        errors += self._guard("cleanup", self.cleaner.run_if_due, fatal=False)
        self.worker.report_if_due()
        result: RoundResult | None = None
        try:
            result = self.dispatcher.round(lambda: self.stopping or not self._may_lead())
        except TransientDispatchError as exc:
            self._count_error(exc.step.split(" ")[0], exc.cause)
            errors += 1
            result = exc.result
        except (AuthError, NamespaceNotFound):
            raise
        except KubectlClearmlError as exc:
            self._count_error("dispatch", exc)
            errors += 1
        self.summary.rounds += 1
        if result is not None:
            self.summary.launched += result.launched
        if result is not None and result.progressed:
            # Work got done: whatever failed on the side is retried on the next pass, without a pause.
            self._failures = 0
            return result
        if errors:
            self._failures += 1
            self._sleep(
                policy.backoff_delay(self._failures, self.settings.backoff_base, self.settings.backoff_cap, self.rand())
            )
            return result
        self._failures = 0
        if idle_sleep and not self.stopping:
            self.summary.idle_sleeps += 1
            self._sleep(self.settings.poll_interval)
        return result

    def _reload_templates(self) -> None:
        """Adopt edited templates; one that no longer makes a pod is refused and the old one kept."""
        from kubectl_clearml.glue.setup import check_template

        assert self.reload_templates is not None
        fresh = self.reload_templates()
        for queue in self.settings.queues:
            template = fresh.get(queue.name, fresh.get("*"))
            if template is None or template == queue.template:
                continue
            try:
                check_template(queue.name, template, self.settings.pod_settings)
            except KubectlClearmlError as exc:
                LOG.error("%s; keeping the previous template", exc.one_line())
                continue
            LOG.warning("queue %s: pod template changed, new pods use it", queue.name)
            queue.template = dict(template)

    def _guard(self, step: str, action: Callable[[], object], fatal: bool = True) -> int:
        """Run one step; an AuthError stops the glue unless the step is optional (``fatal=False``)."""
        try:
            action()
        except AuthError as exc:
            if fatal:
                raise
            self._count_error(step, exc)
            return 1
        except KubectlClearmlError as exc:
            self._count_error(step, exc)
            return 1
        return 0

    def _count_error(self, step: str, exc: KubectlClearmlError) -> None:
        self.summary.errors += 1
        self.summary.error_steps[step] = self.summary.error_steps.get(step, 0) + 1
        self.metrics.inc("clearml_glue_errors_total", step=step)
        LOG.info("%s failed: %s", step, exc.one_line())

    def _backoff(self, step: str, exc: KubectlClearmlError) -> None:
        self._count_error(step, exc)
        self._failures += 1
        self._sleep(
            policy.backoff_delay(self._failures, self.settings.backoff_base, self.settings.backoff_cap, self.rand())
        )

    def _stand_down(self) -> None:
        self.tracker.stop()
        if self.dispatcher.fit is not None:
            self.dispatcher.fit.stop()
            self.dispatcher.fit = _fit_gate(self.kube, self.clearml, self.settings, self.clock, self.metrics)
        self.worker.unregister()
        self.started = False
        self.tracker = PodTracker(
            self.kube,
            _ops(self.clearml),
            self.settings.namespace,
            self.tracker.selector,
            self.clock,
            self.metrics,
            watch_timeout=self.settings.watch_timeout,
        )
        self.dispatcher.tracker = self.tracker
        self.reconciler.tracker = self.tracker
        self.cleaner.tracker = self.tracker

    def _shutdown(self) -> None:
        self.dispatcher.close()
        self.tracker.stop()
        if self.dispatcher.fit is not None:
            self.dispatcher.fit.stop()
        self.worker.unregister()
        if self.leader is not None:
            self.leader.release()
        LOG.info("run-glue stopped: %d launched, running pods left alone", self.summary.launched)

    def _load_fit_view(self) -> None:
        """The fit check's first list of nodes and pods. By default (no --fit-check/--no-fit-check) it is on only
        where it can judge: a glue that may not read nodes and pods cluster-wide (the chart's namespaced Role),
        or sees no node at all, pops as the reference glue does, and says so once."""
        fit = self.dispatcher.fit
        if fit is None:
            return
        try:
            fit.view.load()
        except AuthError as exc:
            if self.settings.fit_check:
                raise  # asked for explicitly: a permission to grant, as every other forbidden step
            LOG.warning("fit check off: %s (grant get/list/watch on nodes and pods, or pass --no-fit-check)",
                        exc.one_line())
            self.dispatcher.fit = None
            return
        if self.settings.fit_check is None and not fit.view.node_names():
            LOG.warning("fit check off: no node is visible to judge pods against (pass --fit-check to insist)")
            fit.stop()
            self.dispatcher.fit = None

    # ---- dry run ---------------------------------------------------------------------------------
    def preview(self) -> list[dict[str, Any]]:
        """What would be launched now; reads only (one pod list, the queue heads, those tasks, and the
        reference glue's k8s_scheduler, whose stranded tasks the real start-up sweep adopts first)."""
        self.tracker.load()
        self._load_fit_view()
        if self.dispatcher.fit is not None:
            self.dispatcher.fit.begin_round()
        adopted: dict[str, list[str]] = {}
        for _, task_id, target in self.reconciler.adoption_plan(self.reconciler.queued_ids()):
            if target:
                adopted.setdefault(target, []).insert(0, task_id)  # each goes to the front: the last ends first
        return preview(self.dispatcher, adopted)


def _fit_gate(kube: Any, clearml: Any, settings: RunSettings, clock: Clock, metrics: Metrics) -> Any:
    from kubectl_clearml.glue.cluster_view import ClusterView
    from kubectl_clearml.glue.fit_gate import FitGate, FitOptions

    view = ClusterView(kube, watch_timeout=settings.watch_timeout)
    return FitGate(view, _ops(clearml), clock, metrics, settings.fit_options or FitOptions())


def _ops(clearml: Any) -> Any:
    from kubectl_clearml.glue.taskops import TaskOps

    return TaskOps(clearml)
