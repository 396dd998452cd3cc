"""Creating a claimed task's pod, and what a failed create means: launched before, a finished earlier run
to replace, retry later, or stop the glue. Used by the dispatcher (glue/dispatcher.py), whose docstring
gives the order of the steps and why each crash point is safe."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kubectl_clearml.core import glue_policy as policy
from kubectl_clearml.core import podbuilder
from kubectl_clearml.errors import (
    AuthError,
    ConflictError,
    InvalidRequestError,
    KubectlClearmlError,
    NotFoundError,
    UnreachableError,
)
from kubectl_clearml.glue.metrics import Metrics
from kubectl_clearml.glue.taskops import TaskOps
from kubectl_clearml.glue.tracker import PodTracker

if TYPE_CHECKING:
    from kubectl_clearml.glue.dispatcher import RoundResult

LOG = logging.getLogger("kubectl_clearml.glue.dispatch")

ADOPTED = "adopted"  # the pod that exists is this run's (or replaced an earlier run's): launched
RUNNING = "running"  # the pod that exists is live and runs this task (submit-pod, an earlier run): not launched
OVER = "over"  # the pod that exists ended and its task is no longer queued: nothing to launch


class NamespaceNotFound(NotFoundError):
    """Pods cannot be created in the glue's namespace at all: the glue stops instead of failing each task."""


class TransientDispatchError(Exception):
    """A step failed for a reason that may pass (5xx, timeout, quota); the round stops, the loop backs off."""

    def __init__(self, step: str, cause: KubectlClearmlError) -> None:
        super().__init__(f"{step}: {cause.one_line()}")
        self.step = step
        self.cause = cause
        self.result: RoundResult | None = None  # what the round did before it stopped


def create_pod(kube: Any, metrics: Metrics, built: podbuilder.BuiltPod, namespace: str) -> None:
    """Create the pod; one immediate second try after a transient failure. Repeating is safe: if the
    first attempt did reach the server, the second answers 409 AlreadyExists, which means launched."""
    try:
        kube.create("pods", built.manifest, namespace, reply=False)
    except KubectlClearmlError as exc:
        if policy.classify_create_error(kind_of(exc), message_of(exc)) != policy.TRANSIENT:
            raise
        metrics.inc("clearml_glue_errors_total", step="create-retried")
        kube.create("pods", built.manifest, namespace, reply=False)


def adopt_existing(kube: Any, ops: TaskOps, tracker: PodTracker, built: podbuilder.BuiltPod, namespace: str) -> str:
    """409: the pod exists. Live, it runs this task already (RUNNING); finished, it is an earlier run of
    a task that was queued again, so it makes room for the new one (ADOPTED), unless the task is no
    longer queued (OVER: that run ended, nothing to launch). "": retry later."""
    try:
        existing = kube.get("pods", built.name, namespace)
    except NotFoundError:
        return ""
    view = policy.pod_view(existing)
    if view.deleting:
        # An earlier run's pod in its grace period (we deleted it on an abort): it runs nothing of
        # this run, and once it is gone the task would have no pod. Wait at the head of the queue.
        LOG.info("pod %s of an earlier run is still terminating; the task waits", built.name)
        return ""
    if view.finished:
        # A pod that ended is never created again for the same run: only a task queued again (a new run)
        # replaces it. Read now, not at the start of the round: a glue that was paused holds a stale view.
        fresh = ops.read([view.task_id], ("id", "status")).get(view.task_id)
        if fresh is None or fresh.get("status") != "queued":
            LOG.warning(
                "pod %s ended and its task is %s: that run is over, the pod is not created again",
                built.name,
                (fresh or {}).get("status", "deleted"),
            )
            return OVER
        tracker.forget(view.task_id, view.name)
        try:
            kube.delete("pods", built.name, namespace, ignore_missing=True)
            kube.create("pods", built.manifest, namespace)
        except KubectlClearmlError as exc:
            LOG.info("pod %s: replacing the finished pod failed (%s)", built.name, exc.one_line())
            return ""
        return ADOPTED
    return RUNNING


def create_error(verdict: str, exc: KubectlClearmlError, name: str, namespace: str, metrics: Metrics) -> Exception:
    """What to raise for a create that failed (the claim already given back)."""
    if verdict == policy.FATAL and isinstance(exc, NotFoundError):
        return NamespaceNotFound(
            f"namespace {namespace!r} not found",
            "Kubernetes",
            f"create it (kubectl create namespace {namespace}) or run the glue with -n NAMESPACE of the "
            "agent; the task stays queued",
        )
    if verdict == policy.FATAL:
        return exc
    if verdict == policy.TRANSIENT:
        metrics.inc("clearml_glue_errors_total", step="create")
        return TransientDispatchError(f"create pod {name}", exc)
    return TransientDispatchError(f"replace the earlier pod {name}", exc)


def kind_of(exc: KubectlClearmlError) -> str:
    if isinstance(exc, ConflictError):
        return "conflict"
    if isinstance(exc, AuthError):
        return "auth"
    if isinstance(exc, InvalidRequestError):
        return "invalid"
    if isinstance(exc, NotFoundError):
        return "notfound"
    if isinstance(exc, UnreachableError):
        return "unreachable"
    return "server"


def message_of(exc: KubectlClearmlError) -> str:
    return " ".join(str(part) for part in (exc.what, exc.obj) if part)


def transient_or_raise(step: str, exc: KubectlClearmlError) -> Exception:
    """Server failures and timeouts pass; anything else (auth, bad request) is the caller's to see."""
    from kubectl_clearml.errors import ServerError

    if isinstance(exc, (ServerError, UnreachableError)) and not isinstance(exc, ConflictError):
        return TransientDispatchError(step, exc)
    return exc
