"""Run the glue engine in-process against the emulators, and play the in-pod agent's part.

The simulated kubelet does not talk to ClearML; a real pod runs ``clearml_agent execute --require-queue``
which dequeues the task and reports it started. ``InPodAgent`` makes those same API calls, so tests see
the same task life a cluster would produce.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kubectl_clearml.adapters.clearml import ClearmlClient
from kubectl_clearml.adapters.credentials import Credentials
from kubectl_clearml.adapters.kube import Kube
from kubectl_clearml.adapters.kube_connect import connect
from kubectl_clearml.glue.engine import GlueEngine
from kubectl_clearml.glue.settings import RunSettings
from kubectl_clearml.glue.setup import build_run_settings

NAMESPACE = "clearml"
SECRET_NAME = "clearml-agent-ac"


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Harness:
    def __init__(self, clearml_emulator: Any, kube_emulator: Any, tmp_path: Path, namespace: str = NAMESPACE) -> None:
        self.emu = clearml_emulator
        self.kube_emu = kube_emulator
        self.namespace = namespace
        self.kubeconfig = str(kube_emulator.write_kubeconfig(tmp_path / "kubeconfig", namespace=namespace))
        self.engines: list[tuple[GlueEngine, threading.Thread]] = []

    # ---- clients ---------------------------------------------------------------------------------
    def kube(self) -> Kube:
        return connect(kubeconfig=self.kubeconfig, env={})

    def clearml(self, timeout: float = 5.0) -> ClearmlClient:
        creds = Credentials(self.emu.url, self.emu.access_key, self.emu.secret_key, True, "test")
        return ClearmlClient(creds, timeout=(2.0, timeout), retries=2, backoff=0.01, max_backoff=0.05)

    # ---- world -----------------------------------------------------------------------------------
    def queue(self, name: str) -> str:
        return str(self.emu.state.create_queue(name))

    def task(self, name: str, queue: str | None, image: str = "python:3.11-slim", **fields: Any) -> str:
        return str(self.emu.state.create_task(name, queue=queue, container={"image": image, "arguments": ""}, **fields))

    def pods(self) -> list[dict[str, Any]]:
        return [p for p in self.kube_emu.store.list("pods", self.namespace)]

    def pod_of(self, task_id: str) -> dict[str, Any] | None:
        return self.kube_emu.store.get("pods", f"clearml-id-{task_id}", self.namespace)

    def entries(self, queue: str) -> list[str]:
        return list(self.emu.state.queue_entries(queue))

    def status(self, task_id: str) -> tuple[str, str, str]:
        task = self.emu.state.task(task_id)
        return task["status"], task.get("status_reason") or "", task.get("status_message") or ""

    # ---- engine ----------------------------------------------------------------------------------
    def settings(self, queues: Sequence[str], **options: Any) -> RunSettings:
        options.setdefault("poll_interval", 0.05)
        options.setdefault("sweep_interval", 0.5)
        options.setdefault("template_interval", 0.2)
        options.setdefault("abort_check_interval", 0.05)
        options.setdefault("backoff_base", 0.02)
        options.setdefault("backoff_cap", 0.2)
        options.setdefault("watch_timeout", 2)
        templates = options.pop("templates", {"*": None})
        return build_run_settings(
            self.clearml(),
            namespace=self.namespace,
            cluster=self.kube_emu.url,
            queue_names=list(queues),
            templates=templates,
            credentials_secret=SECRET_NAME,
            api_host=self.emu.url,
            env={},
            **options,
        )

    def engine(self, queues: Sequence[str], **options: Any) -> GlueEngine:
        identity = options.pop("identity", None)
        clock = options.pop("clock", None)
        reload_templates = options.pop("reload_templates", None)
        settings = self.settings(queues, **options)
        return GlueEngine(
            self.clearml(), self.kube(), settings, identity=identity, clock=clock, reload_templates=reload_templates
        )

    def start(self, engine: GlueEngine) -> GlueEngine:
        errors: list[BaseException] = []

        def run() -> None:
            try:
                engine.run()
            except BaseException as exc:  # surfaced by stop()
                errors.append(exc)

        thread = threading.Thread(target=run, name="glue-under-test", daemon=True)
        thread.start()
        engine._test_errors = errors  # type: ignore[attr-defined]
        self.engines.append((engine, thread))
        return engine

    def stop(self, engine: GlueEngine) -> None:
        engine.request_stop()
        for candidate, thread in self.engines:
            if candidate is engine:
                thread.join(timeout=10)
                assert not thread.is_alive(), "the glue did not stop"
        errors = getattr(engine, "_test_errors", [])
        if errors:
            raise errors[0]

    def stop_all(self) -> None:
        for engine, thread in self.engines:
            engine.request_stop()
            thread.join(timeout=10)


class InPodAgent:
    """What ``clearml_agent execute --require-queue --id T`` does inside the pod, over the real API."""

    def __init__(self, client: ClearmlClient, worker_id: str) -> None:
        self.client = client
        self.worker_id = worker_id

    def start(self, task_id: str) -> None:
        self.client.call("tasks.dequeue", {"task": task_id, "new_status": "in_progress"})
        self.client.call("tasks.started", {"task": task_id, "status_reason": "starting execution soon", "force": True})
        self.client.call(
            "workers.status_report",
            {"worker": f"{self.worker_id}:{task_id}", "task": task_id, "timestamp": int(time.time() * 1000)},
        )

    def complete(self, task_id: str) -> None:
        self.client.call("tasks.completed", {"task": task_id, "force": True})


def container_status(
    phase: str,
    *,
    waiting: str | None = None,
    message: str = "",
    exit_code: int | None = None,
    unschedulable: str | None = None,
) -> dict[str, Any]:
    """A pod status as the kubelet/scheduler write it."""
    state: dict[str, Any] = {}
    if waiting:
        state["waiting"] = {"reason": waiting, "message": message}
    elif exit_code is not None:
        state["terminated"] = {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error"}
    elif phase == "Running":
        state["running"] = {"startedAt": "2026-01-01T00:00:00Z"}
    status: dict[str, Any] = {"phase": phase, "containerStatuses": [{"name": "task", "state": state}]}
    if unschedulable:
        status["conditions"] = [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": unschedulable}
        ]
    return status
