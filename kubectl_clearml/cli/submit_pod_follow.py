"""Following a freshly created pod for ``submit-pod --wait/--logs``: events as they happen, then its log.

The pod is watched (``metadata.name`` field selector) only as a wake-up signal, with short server-side
timeouts, so the total wait stays bounded by ``--timeout`` however the server behaves; each wake-up reads
the pod and its new events once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubectl_clearml.errors import ExitStatus, InvalidRequestError, KubectlClearmlError, ServerError

# Waiting reasons that never resolve by themselves: stop waiting and say why.
FATAL_WAITING_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError"}
)


class PodWaitFailed(KubectlClearmlError):
    """The pod did not reach Running: timed out, or stuck for a reason that will not go away."""

    exit_status = ExitStatus.UNREACHABLE


@dataclass
class PodState:
    phase: str
    reason: str  # a container's waiting/terminated reason, or the Unschedulable condition's
    message: str
    exit_code: int | None  # of the task container, once terminated


def pod_state(pod: dict[str, Any]) -> PodState:
    status = pod.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    reason = message = ""
    exit_code: int | None = None
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("waiting"):
            reason = str(state["waiting"].get("reason") or "")
            message = str(state["waiting"].get("message") or "")
        if state.get("terminated"):
            reason = str(state["terminated"].get("reason") or reason)
            exit_code = state["terminated"].get("exitCode")
        break  # the task container is the first
    if not reason:
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                reason = str(cond.get("reason") or "")
                message = str(cond.get("message") or "")
    return PodState(phase, reason, message, exit_code)


def _event_key(event: dict[str, Any]) -> tuple[str, Any]:
    meta = event.get("metadata") or {}
    return (str(meta.get("uid") or meta.get("name")), event.get("count"))


def _event_time(event: dict[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp") or "")


def follow_pod(
    kube: Any,
    name: str,
    namespace: str,
    *,
    timeout: float,
    say: Callable[[str], None],
    until: tuple[str, ...] = ("Running", "Succeeded", "Failed"),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> PodState:
    """Print the pod's events (Scheduled, FailedScheduling, Pulling, Pulled...) until its phase is in ``until``."""
    deadline = clock() + timeout
    seen: set[tuple[str, Any]] = set()
    last_state = ""
    while True:
        pod = kube.get("pods", name, namespace)
        events = list(kube.list("events", namespace, field_selector=f"involvedObject.name={name}"))
        for event in sorted(events, key=_event_time):
            key = _event_key(event)
            if key in seen:
                continue
            seen.add(key)
            say(f"{event.get('type', 'Normal')}  {event.get('reason', '')}: {event.get('message', '')}".rstrip(": "))
        state = pod_state(pod)
        described = f"pod/{name}: {state.phase}" + (f" ({state.reason})" if state.reason else "")
        if described != last_state:
            say(described)
            last_state = described
        if state.phase in until:
            return state
        if state.reason in FATAL_WAITING_REASONS:
            raise PodWaitFailed(
                f"pod {name} cannot start: {state.reason}",
                state.message or None,
                f"check the image name and pull secrets; the pod stays for inspection "
                f"(kubectl delete pod {name} -n {namespace})",
            )
        remaining = deadline - clock()
        if remaining <= 0:
            why = (
                state.phase
                + (f", {state.reason}" if state.reason else "")
                + (f": {state.message}" if state.message else "")
            )
            raise PodWaitFailed(
                f"pod {name} did not reach Running within {timeout:g}s ({why})",
                hint=f"it stays; follow it with kubectl get pod {name} -n {namespace} -w, or raise --timeout",
            )
        version = (pod.get("metadata") or {}).get("resourceVersion")
        wake_in = max(1, min(2, int(remaining)))
        try:
            for _event in kube.watch(
                "pods",
                namespace,
                field_selector=f"metadata.name={name}",
                resource_version=version,
                timeout_seconds=wake_in,
            ):
                break  # something changed: re-read now
        except (ServerError, InvalidRequestError):
            sleep(min(1.0, max(0.0, deadline - clock())))  # e.g. 410 Gone: just poll again


def stream_logs(kube: Any, name: str, namespace: str, write: Callable[[str], None]) -> None:
    for line in kube.stream_pod_log(name, namespace):
        write(line)
