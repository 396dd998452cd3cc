"""The simulated cluster's control loop: one thread running the scheduler and the kubelet.

It sleeps until either the store reports a change (a pod created, deleted or updated, a node added) or the
kubelet's next timed transition is due, then runs a scheduling pass and advances the kubelet. Its own writes
notify it too; both components only write when something changes, so the loop settles. ``stop()`` returns
once the thread has exited.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import Any

from kubectl_clearml.sandbox.cluster.clock import SimClock
from kubectl_clearml.sandbox.cluster.controllers import Controllers
from kubectl_clearml.sandbox.cluster.in_pod_agent import PodHooks
from kubectl_clearml.sandbox.cluster.kubelet import Kubelet
from kubectl_clearml.sandbox.cluster.scheduler import Scheduler
from kubectl_clearml.sandbox.cluster.store import ClusterStore, Obj
from kubectl_clearml.sandbox.cluster.workload import KubeletSettings

LOG = logging.getLogger("kubectl_clearml.sandbox.cluster")

IDLE_WAKE_SECONDS = 1.0  # real seconds; a safety net, changes wake the loop at once
# Real seconds between passes at least: a bulk load (thousands of objects added one by one) then costs a
# few passes, not one per object.
MIN_PASS_INTERVAL = 0.01
WATCHED = frozenset({"pods", "nodes", "deployments", "replicasets"})
# Deleting these never orphans anything here (the glue deletes pods all the time: no collection for that).
NEVER_OWNERS = frozenset({"pods", "events"})


class Cluster:
    def __init__(
        self,
        store: ClusterStore,
        *,
        time_scale: float = 1.0,
        settings: KubeletSettings | None = None,
        hooks: PodHooks | None = None,
        processes: Any = None,
        controllers: bool = True,
    ) -> None:
        self.store = store
        self.clock = SimClock(time_scale)
        self.controllers = Controllers(store)
        self.controllers_enabled = controllers
        self.scheduler = Scheduler(store)
        self.kubelet = Kubelet(store, settings, hooks, processes)
        self.processes = processes
        self.passes = 0
        self._wake = threading.Condition()
        self._dirty = True
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._error: BaseException | None = None

    # ---- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> Cluster:
        if self._thread is not None:
            return self
        self._stopping = False
        self._unsubscribe = self.store.subscribe(self._on_change)
        self._thread = threading.Thread(target=self._run, name="sandbox-cluster", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self.processes is not None:
            self.processes.stop_all()  # before the API goes: a glue ends its run cleanly
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def error(self) -> BaseException | None:
        """The exception that killed a pass, if any (the loop logs it and keeps going)."""
        return self._error

    # ---- loop ----------------------------------------------------------------------------------------
    def _on_change(self, event_type: str, resource: str, obj: Obj) -> None:
        if event_type == "DELETED" and resource not in NEVER_OWNERS:
            self.controllers.collect_garbage = True
        if resource in WATCHED or event_type == "DELETED":
            with self._wake:
                self._dirty = True
                self._wake.notify_all()

    def poke(self) -> None:
        """Run a pass now (e.g. after changing settings)."""
        self._on_change("MODIFIED", "pods", {})

    def _run(self) -> None:
        next_due = 0.0
        while True:
            self._stop_requested_sleep(MIN_PASS_INTERVAL)
            with self._wake:
                while not self._stopping and not self._dirty and self.clock.now() < next_due:
                    wait = self.clock.real_seconds(next_due - self.clock.now()) if math.isfinite(next_due) else None
                    self._wake.wait(min(wait, IDLE_WAKE_SECONDS) if wait is not None else IDLE_WAKE_SECONDS)
                if self._stopping:
                    return
                self._dirty = False
            try:
                next_due = self.run_pass()
            except Exception as exc:  # a bad object must not kill the simulated cluster
                self._error = exc
                LOG.exception("simulated cluster pass failed")
                next_due = self.clock.now() + 1.0

    def _stop_requested_sleep(self, seconds: float) -> None:
        with self._wake:
            if not self._stopping:
                self._wake.wait_for(lambda: self._stopping, timeout=seconds)

    def run_pass(self) -> float:
        """One scheduling pass and one kubelet step; returns the simulated time of the next kubelet transition."""
        self.passes += 1
        pods = self.store.list("pods")
        if self.controllers_enabled:
            self.controllers.step(pods)  # its own creations and deletions are seen on the next pass
        self.scheduler.step(pods, self.store.list("nodes"))  # updates the bound pods in `pods`
        return self.kubelet.step(self.clock.now(), pods)
