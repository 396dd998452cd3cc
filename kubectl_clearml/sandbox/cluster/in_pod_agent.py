"""What ``clearml_agent execute`` inside a task pod reports to ClearML, simulated.

On a real cluster the agent in the pod takes its task out of any queue and marks it ``in_progress`` when it
starts (``tasks.dequeue`` with new_status in_progress, then ``tasks.started``: clearml-agent
commands/worker.py, execute) and ``completed`` or ``failed`` when the task's process exits; the glue only
watches. The kubelet calls these hooks for every task pod, found as the agent finds its task: the
``clearml-task-id`` label (this plugin's glue), else ``execute ... --id <task>`` in the container's command
(the reference glue passes the id only there: clearml_agent/glue/k8s.py, CONTAINER_BASH_SCRIPT), else a
``clearml-id-<task>`` pod name. A task that was aborted meanwhile (no longer queued or in progress) is left
alone, as the real agent would find it stopped.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

from kubectl_clearml.sandbox.cluster.store import Obj

LOG = logging.getLogger("kubectl_clearml.sandbox.cluster")

TASK_ID_LABEL = "clearml-task-id"
POD_NAME_PREFIX = "clearml-id-"
_EXECUTE_ID = re.compile(r"\bexecute\b.*?--id[= ]+['\"]?([0-9a-zA-Z_-]+)")


def task_id_of(pod: Obj) -> str | None:
    """The ClearML task a pod runs, as the in-pod agent would know it (see the module docstring)."""
    meta = pod.get("metadata") or {}
    labelled = (meta.get("labels") or {}).get(TASK_ID_LABEL)
    if labelled:
        return str(labelled)
    for container in ((pod.get("spec") or {}).get("containers") or [])[:1]:
        words = [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]
        found = _EXECUTE_ID.search(" ".join(words))
        if found:
            return found.group(1)
    name = str(meta.get("name") or "")
    return (name[len(POD_NAME_PREFIX):] or None) if name.startswith(POD_NAME_PREFIX) else None


class PodHooks(Protocol):
    def started(self, pod: Obj) -> None: ...

    def finished(self, pod: Obj, exit_code: int) -> None: ...


class InPodAgent:
    def __init__(self, state: Any) -> None:
        self.state = state  # the ClearML emulator's ClearmlState backdoor

    def _task(self, pod: Obj) -> dict[str, Any] | None:
        task_id = task_id_of(pod)
        task: dict[str, Any] | None = self.state.tasks.get(task_id) if task_id else None
        return task

    def started(self, pod: Obj) -> None:
        with self.state.lock:
            task = self._task(pod)
            if task is None or task["status"] not in ("queued", "created", "in_progress"):
                return
            self.state.remove_from_all_queues(task["id"])  # tasks.dequeue: out of k8s_scheduler, say
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
