"""What ``clearml_agent execute`` inside a task pod reports to ClearML, simulated.

On a real cluster the agent in the pod marks its task ``in_progress`` when it starts and ``completed`` or
``failed`` when the task's process exits; the glue only watches. The kubelet calls these hooks for pods
carrying the ``clearml-task-id`` label, and they write the ClearML emulator's state the way the agent's
``tasks.started`` / ``tasks.completed`` / ``tasks.failed`` calls would. A task that was aborted meanwhile
(no longer queued or in progress) is left alone, as the real agent would find it stopped.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from kubectl_clearml.sandbox.cluster.store import Obj

LOG = logging.getLogger("kubectl_clearml.sandbox.cluster")

TASK_ID_LABEL = "clearml-task-id"


class PodHooks(Protocol):
    def started(self, pod: Obj) -> None: ...

    def finished(self, pod: Obj, exit_code: int) -> None: ...


class InPodAgent:
    def __init__(self, state: Any) -> None:
        self.state = state  # the ClearML emulator's ClearmlState backdoor

    def _task(self, pod: Obj) -> dict[str, Any] | None:
        task_id = ((pod.get("metadata") or {}).get("labels") or {}).get(TASK_ID_LABEL)
        task: dict[str, Any] | None = self.state.tasks.get(task_id) if task_id else None
        return task

    def started(self, pod: Obj) -> None:
        with self.state.lock:
            task = self._task(pod)
            if task is None or task["status"] not in ("queued", "created", "in_progress"):
                return
            keep = task["status"] == "in_progress" and task.get("started")
            self.state.change_status(
                task,
                "in_progress",
                force=True,
                reason="",
                message="",
                set_fields={"started": task["started"] if keep else self.state.now()},
                unset_fields=["completed", "active_duration"],
            )

    def finished(self, pod: Obj, exit_code: int) -> None:
        with self.state.lock:
            task = self._task(pod)
            if task is None or task["status"] != "in_progress":
                return
            status = "completed" if exit_code == 0 else "failed"
            reason = "" if exit_code == 0 else f"process exited with code {exit_code}"
            self.state.change_status(
                task, status, force=True, reason=reason, message="", set_fields={"completed": self.state.now()}
            )
