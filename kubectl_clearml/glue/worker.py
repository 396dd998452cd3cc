"""The glue as a ClearML worker: register once, report every 30 s, unregister on exit.

The report carries what the dashboard needs about the cluster, not about the glue's own host (the
reference glue reported its own CPU and no GPUs): one ``gpu_usage`` slot per GPU the agent may use
(``orchestrationDashboard.gpu.reportMax`` and its older names), and the tasks running in our pods.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from kubectl_clearml.errors import KubectlClearmlError
from kubectl_clearml.glue.clock import Clock

LOG = logging.getLogger("kubectl_clearml.glue.worker")

REGISTER_TIMEOUT = 600  # seconds the server keeps us without a report


class WorkerReporter:
    def __init__(
        self,
        clearml: Any,
        worker_id: str,
        queue_ids: Sequence[str],
        clock: Clock,
        *,
        interval: float = 30.0,
        gpu_count: int = 0,
        running: Callable[[], list[str]] = list,
    ) -> None:
        self.clearml = clearml
        self.worker_id = worker_id
        self.queue_ids = list(queue_ids)
        self.clock = clock
        self.interval = interval
        self.gpu_count = gpu_count
        self.running = running
        self._next = 0.0
        self.registered = False
        self.reports = 0

    def register(self) -> None:
        self.clearml.call(
            "workers.register",
            {"worker": self.worker_id, "queues": self.queue_ids, "timeout": REGISTER_TIMEOUT, "tags": ["k8s-glue"]},
        )
        self.registered = True
        self._next = self.clock.monotonic() + min(3.0, self.interval)

    def report_if_due(self) -> bool:
        now = self.clock.monotonic()
        if now < self._next:
            return False
        self._next = now + self.interval
        try:
            self.clearml.call("workers.status_report", self.payload())
        except KubectlClearmlError as exc:
            LOG.info("status report failed (%s); next in %.0fs", exc.one_line(), self.interval)
            return False
        self.reports += 1
        return True

    def payload(self) -> dict[str, Any]:
        running = self.running()
        payload: dict[str, Any] = {
            "worker": self.worker_id,
            "timestamp": int(self.clock.wall() * 1000),
            "queues": self.queue_ids,
            "machine_stats": {"gpu_usage": [0.0] * self.gpu_count},
            "tags": ["k8s-glue", f"running-tasks:{len(running)}"],
        }
        return payload

    def unregister(self) -> None:
        if not self.registered:
            return
        try:
            self.clearml.call("workers.unregister", {"worker": self.worker_id})
            self.registered = False
        except KubectlClearmlError as exc:
            LOG.warning("could not unregister worker %s (%s); it expires by itself", self.worker_id, exc.one_line())
