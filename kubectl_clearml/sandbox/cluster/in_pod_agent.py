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

import base64
import binascii
import functools
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


CONF_DIR = "/etc/clearml-agent"  # where kubectl-clearml mounts the agent's clearml.conf (core/pod_config.py)
EXTRA_CONF_ENV = "KUBECTL_CLEARML_EXTRA_CONF"
SHOWN_KEYS = ("agent.package_manager.system_site_packages", "agent.extra_docker_shell_script", "agent.git_user")


def configuration_lines(pod: Obj, secrets: list[Obj]) -> list[str]:
    """What ``clearml_agent execute`` in the pod reads as its configuration, for the pod's log: the Secret
    mounted at /etc/clearml-agent (key clearml.conf) followed by the extra lines in env, as the start script
    combines them; an agent without that mount uses its defaults (``system_site_packages: false``)."""
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or [{}]
    first = containers[0]
    mount = next((m for m in first.get("volumeMounts") or [] if m.get("mountPath") == CONF_DIR), None)
    text = ""
    source = "defaults (no clearml.conf mounted)"
    if mount is not None:
        volume: dict[str, Any] = next((v for v in spec.get("volumes") or [] if v.get("name") == mount.get("name")), {})
        ref = volume.get("secret") or {}
        namespace = (pod.get("metadata") or {}).get("namespace") or "default"
        secret = next(
            (
                s
                for s in secrets
                if s["metadata"].get("name") == ref.get("secretName") and s["metadata"].get("namespace") == namespace
            ),
            None,
        )
        key = next((i.get("key") for i in ref.get("items") or [] if i.get("path") == "clearml.conf"), "clearml.conf")
        data = ((secret or {}).get("data") or {}).get(key)
        try:
            text = base64.b64decode(data).decode() if data else ""
        except (binascii.Error, UnicodeDecodeError):
            text = ""
        source = f"Secret {ref.get('secretName')} key {key}"
    extra = next((e.get("value") for e in first.get("env") or [] if e.get("name") == EXTRA_CONF_ENV), "") or ""
    head = f"clearml_agent: configuration from {source}" + (" + glue extra lines" if extra else "")
    return [head, *_shown(text + "\n" + extra)]


@functools.lru_cache(maxsize=64)
def _shown(text: str) -> tuple[str, ...]:
    """The keys the log shows, parsed once per distinct configuration (pyhocon is slow; pods share one)."""
    from pyhocon import ConfigFactory
    from pyhocon.exceptions import ConfigException

    try:
        conf = ConfigFactory.parse_string(text)
    except ConfigException as exc:
        return (f"clearml_agent: cannot parse the configuration: {exc}",)
    lines = []
    for key in SHOWN_KEYS:
        value = conf.get(key, None)
        if key.endswith("system_site_packages") and value is None:
            value = False  # the agent's default (clearml-agent agent.conf)
        if value is not None:
            lines.append(f"clearml_agent: {key} = {value!r}")
    return tuple(lines)
