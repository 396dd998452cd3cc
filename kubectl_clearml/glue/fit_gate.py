"""``run-glue --fit-check``: take a task only when its pod can run now; otherwise leave it queued and say why.

The task stays at the head of its ClearML queue (visible in the UI, where users reorder and move work); its
status message carries the verdict in gpu-report's words, written only when it changes. A task no node can
ever take fails after ``--unschedulable-after``; with ``--allow-autoscale`` it is launched anyway, so a
cluster autoscaler sees a pending pod and adds a node.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from kubectl_clearml.core import fit
from kubectl_clearml.core.gpu import ClusterGpus
from kubectl_clearml.core.gpu_queues import MISCONFIGURED
from kubectl_clearml.errors import KubectlClearmlError
from kubectl_clearml.glue.clock import Clock
from kubectl_clearml.glue.cluster_view import ClusterView
from kubectl_clearml.glue.metrics import Metrics
from kubectl_clearml.glue.taskops import TaskOps

LOG = logging.getLogger("kubectl_clearml.glue.fit")


@dataclass(frozen=True)
class FitOptions:
    backfill: bool = False
    backfill_limit: int = 5
    unschedulable_after: float | None = 600.0  # None: never fail a task for not fitting
    allow_autoscale: bool = False


@dataclass(frozen=True)
class Decision:
    launch: bool
    fail_reason: str | None = None  # set: fail the task with this reason
    note: str | None = None  # added to the launch status message (autoscale)


class FitGate:
    def __init__(self, view: ClusterView, ops: TaskOps, clock: Clock, metrics: Metrics, options: FitOptions) -> None:
        self.view = view
        self.ops = ops
        self.clock = clock
        self.metrics = metrics
        self.options = options
        self.clock_unfit = fit.UnfitClock()
        self.backfill = fit.BackfillBudget(options.backfill_limit if options.backfill else 0)
        self._messages: dict[str, str] = {}
        self._model: ClusterGpus | None = None

    def stop(self) -> None:
        self.view.stop()

    def begin_round(self) -> None:
        """One model per round (no API call: the watches keep it current); launches reserve into it."""
        self.clock_unfit.observe_nodes(self.view.node_names())
        self._model = self.view.model()

    def verdict(self, pod: dict[str, Any]) -> fit.FitVerdict:
        """The verdict alone, changing nothing (a dry run); a pod that fits is reserved for the rest of the round."""
        if self._model is None:
            self._model = self.view.model()
        verdict = fit.decide(pod, self._model)
        if verdict.fits:
            fit.place(self._model, pod)
        return verdict

    def decide(self, task_id: str, pod: dict[str, Any]) -> Decision:
        model = self._model if self._model is not None else self.view.model()
        verdict = fit.decide(pod, model)
        if verdict.fits:
            self.clock_unfit.forget(task_id)
            return Decision(True)
        message = verdict.message()
        if self.options.allow_autoscale and verdict.verdict != MISCONFIGURED:
            return Decision(True, note=f"launched for the cluster autoscaler ({message})")
        waited = self.clock_unfit.waited(task_id, verdict, self.clock.monotonic())
        limit = self.options.unschedulable_after
        if verdict.never_now and limit is not None and waited >= limit:
            return Decision(False, fail_reason=f"{message} (for {waited:.0f}s, --unschedulable-after {limit:g}s)")
        self._say(task_id, message)
        return Decision(False)

    def launched(self, task_id: str, pod: dict[str, Any], namespace: str) -> None:
        """The pod exists now: reserve its requests for the rest of the round, and in the view until the
        pod watch reports it (the scheduler may not have bound it yet)."""
        if self._model is not None:
            fit.place(self._model, pod)
        self.view.note_created(pod, namespace)
        self._messages.pop(task_id, None)
        self.metrics.set("clearml_glue_tasks_waiting_fit", len(self._messages))

    def _say(self, task_id: str, message: str) -> None:
        if self._messages.get(task_id) == message:
            return
        try:
            self.ops.message(task_id, message)
            self._messages[task_id] = message
            self.metrics.set("clearml_glue_tasks_waiting_fit", len(self._messages))
            LOG.info("task %s waits: %s", task_id, message)
        except KubectlClearmlError as exc:
            LOG.info("task %s: status message not written (%s)", task_id, exc.one_line())
