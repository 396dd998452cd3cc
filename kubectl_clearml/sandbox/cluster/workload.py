"""What a simulated container "does": how long it runs, how it exits and what it logs.

Nothing runs for real. A pod's behaviour is read from its annotations or its first container's env, so tests
and demos can script it, with the one failure worth simulating unasked: a multi-GPU pod without a
Memory-backed /dev/shm dies in NCCL exactly as on a real cluster (the container runtime's /dev/shm is
64 MiB), which is what `kubectl clearml shm-fix` exists to prevent.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.core.quantity import QuantityError, parse_quantity
from kubectl_clearml.core.scheduling import pod_requests
from kubectl_clearml.core.shm import current_provision
from kubectl_clearml.sandbox.cluster.in_pod_agent import task_id_of

ANNOTATION_PREFIX = "sandbox.kubectl-clearml/"
RUN_SECONDS_ANNOTATION = ANNOTATION_PREFIX + "run-seconds"  # a number, or "inf" to run until deleted
EXIT_CODE_ANNOTATION = ANNOTATION_PREFIX + "exit-code"
# How long the process takes to exit after SIGTERM ("inf": it ignores it and is killed at the grace period).
STOP_SECONDS_ANNOTATION = ANNOTATION_PREFIX + "stop-seconds"
RUN_SECONDS_ENV = "SANDBOX_RUN_SECONDS"
EXIT_CODE_ENV = "SANDBOX_EXIT_CODE"

GPU_RESOURCE = "nvidia.com/gpu"
# NCCL's shared-memory transport wants roughly this much per rank pair; smaller Memory volumes fail too.
MIN_NCCL_SHM_BYTES = 256 * 2**20

DEFAULT_FAILING_IMAGES = ("*does-not-exist*",)


@dataclass(frozen=True)
class KubeletSettings:
    """Simulated durations are in simulated seconds (see clock.SimClock)."""

    default_run_seconds: float = 30.0
    pull_seconds: float = 2.0
    pull_backoff_seconds: float = 10.0
    max_pull_backoff_seconds: float = 300.0
    nccl_fail_seconds: float = 4.0
    stop_seconds: float = 1.0  # after SIGTERM, unless the pod's stop-seconds annotation says otherwise
    failing_images: Sequence[str] = field(default=DEFAULT_FAILING_IMAGES)  # fnmatch patterns


@dataclass(frozen=True)
class RunPlan:
    run_seconds: float  # math.inf: runs until deleted
    exit_code: int
    start_lines: tuple[str, ...]
    end_lines: tuple[str, ...]


def image_fails(image: str, settings: KubeletSettings) -> bool:
    return any(fnmatch.fnmatchcase(image, pattern) for pattern in settings.failing_images)


def pull_error_message(image: str) -> str:
    # containerd's wording for a missing image, as kubelet relays it.
    return (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
        f'failed to resolve reference "{image}": {image}: not found'
    )


def _first_container(pod: dict[str, Any]) -> dict[str, Any]:
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    first = containers[0]
    return first if isinstance(first, dict) else {}


def _setting(pod: dict[str, Any], annotation: str, env_name: str) -> str | None:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if annotation in annotations:
        return str(annotations[annotation])
    for env in _first_container(pod).get("env") or ():
        if isinstance(env, dict) and env.get("name") == env_name and "value" in env:
            return str(env["value"])
    return None


def _env_value(pod: dict[str, Any], name: str) -> str | None:
    for env in _first_container(pod).get("env") or ():
        if isinstance(env, dict) and env.get("name") == name:
            return str(env.get("value", ""))
    return None


def _number(text: str | None, default: float) -> float:
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        return default
    return value if value >= 0 else default


def shm_failure(pod: dict[str, Any]) -> str | None:
    """Why NCCL would fail in this pod (None: it would not): >= 2 GPUs and no usable /dev/shm."""
    try:
        gpus = pod_requests(pod).get(GPU_RESOURCE, 0)
    except QuantityError:
        return None
    if gpus < 2 or _env_value(pod, "NCCL_SHM_DISABLE") == "1":
        return None
    provision = current_provision(pod)
    if provision.kind == "none":
        return "create"
    if provision.kind == "memory" and provision.size_limit is not None:
        try:
            size = parse_quantity(provision.size_limit)
        except QuantityError:
            return None
        if size < MIN_NCCL_SHM_BYTES:
            return "extend"
    return None


def _segment(pod: dict[str, Any]) -> str:
    uid = str((pod.get("metadata") or {}).get("uid") or (pod.get("metadata") or {}).get("name"))
    return "nccl-" + hashlib.sha1(uid.encode()).hexdigest()[:6]


def _nccl_lines(pod: dict[str, Any], node: str, kind: str) -> tuple[str, ...]:
    segment = f"/dev/shm/{_segment(pod)}"
    size = 9637888
    if kind == "create":
        warn = f"{node}:57:112 [1] NCCL WARN Error while creating shared memory segment {segment} (size {size})"
        last = f"Error while creating shared memory segment {segment} (size {size})"
    else:
        warn = (
            f"{node}:57:112 [1] NCCL WARN Error: failed to extend {segment} to {size} bytes, "
            "error: No space left on device (28)"
        )
        last = f"failed to extend {segment} to {size} bytes"
    return (
        f"{node}:57:57 [0] NCCL INFO Bootstrap : Using eth0:10.244.1.17<0>",
        f"{node}:57:57 [0] NCCL INFO NCCL version 2.20.5+cuda12.4",
        f"{node}:57:112 [1] NCCL INFO Channel 00/02 :    0   1",
        warn,
        "torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1970, "
        "unhandled system error (run with NCCL_DEBUG=INFO for details), NCCL version 2.20.5",
        "ncclSystemError: System call (e.g. socket, malloc) or external library call failed or device error.",
        "Last error:",
        last,
    )


def stop_seconds(pod: dict[str, Any], settings: KubeletSettings) -> float:
    """Simulated seconds from SIGTERM to exit, capped by the pod's grace period (then SIGKILL)."""
    meta = pod.get("metadata") or {}
    text = (meta.get("annotations") or {}).get(STOP_SECONDS_ANNOTATION)
    wanted = math.inf if text == "inf" else _number(text, settings.stop_seconds)
    grace = _number(str(meta.get("deletionGracePeriodSeconds", 30)), 30.0)
    return min(wanted, grace)


def plan_run(pod: dict[str, Any], node: str, settings: KubeletSettings) -> RunPlan:
    meta = pod.get("metadata") or {}
    container = _first_container(pod)
    task_id = task_id_of(pod)
    start = [f"sandbox: container {container.get('name', '')} started on {node} (image {container.get('image', '')})"]
    if task_id:
        start.append(f"clearml_agent: Executing task id [{task_id}]:")
    failure = shm_failure(pod)
    if failure is not None:
        return RunPlan(settings.nccl_fail_seconds, 1, tuple(start), (*_nccl_lines(pod, node, failure), "exit code 1"))
    run_text = _setting(pod, RUN_SECONDS_ANNOTATION, RUN_SECONDS_ENV)
    # A ReplicaSet's pod is a server (an agent, a glue): it runs until deleted unless told otherwise.
    served = any(ref.get("kind") == "ReplicaSet" for ref in meta.get("ownerReferences") or ())
    default = math.inf if served else settings.default_run_seconds
    run_seconds = math.inf if run_text == "inf" else _number(run_text, default)
    exit_code = int(_number(_setting(pod, EXIT_CODE_ANNOTATION, EXIT_CODE_ENV), 0))
    end = ["Done" if exit_code == 0 else f"Process failed, exit code {exit_code}"]
    if task_id:
        end.insert(0, f"clearml_agent: task {task_id} finished")
    return RunPlan(run_seconds, exit_code, tuple(start), tuple(end))
