"""What one glue process serves and how: resolved queues, templates, limits, intervals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class QueueSpec:
    """One served queue, in priority order, with the pod template its tasks get."""

    name: str
    id: str
    template: dict[str, Any]
    max_pods: int | None = None


@dataclass
class RunSettings:
    queues: list[QueueSpec]
    namespace: str
    worker_id: str
    max_pods: int | None = None
    poll_interval: float = 5.0
    report_interval: float = 30.0
    sweep_interval: float = 30.0  # orphan sweep and k8s_scheduler adoption
    orphan_confirm_after: float = 10.0  # second look at orphan candidates (another consumer starts within it)
    template_interval: float = 30.0  # re-read the pod templates (a ConfigMap users edit)
    abort_check_interval: float = 5.0  # re-read the tasks of live pods (aborts); never more often than polls
    batch_size: int = 100  # queue entries read per round
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    watch_timeout: int = 30
    gpu_count: int = 0
    scheduler_queue: str = "k8s_scheduler"  # the reference glue's hidden pending queue
    adopt_grace: float = 60.0  # leave k8s_scheduler entries younger than this to a running reference glue
    leader_elect: bool = False
    lease_duration: float = 15.0
    delete_finished_after: float | None = 3600.0  # keep finished pods this long (debugging); None = never
    cleanup_interval: float = 1.0  # how often the cache is scanned for finished pods that are due
    pod_settings: Any = None  # passed through to the pod builder
    fit_check: bool | None = False  # launch only pods that can run now (glue/fit_gate.py); None: where it can
    fit_options: Any = None  # FitOptions: --backfill, --unschedulable-after, --allow-autoscale

    def queue_ids(self) -> list[str]:
        return [q.id for q in self.queues]

    def queue_by_id(self, queue_id: str) -> QueueSpec | None:
        return next((q for q in self.queues if q.id == queue_id), None)

    def queue_limits(self) -> dict[str, int]:
        return {q.id: q.max_pods for q in self.queues if q.max_pods is not None}
