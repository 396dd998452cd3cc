"""/dev/shm for task pods: what a pod template provides, the fix as list edits, and failure detection.

Docker and containerd give a container a 64 MiB ``/dev/shm``; NCCL and PyTorch DataLoader workers need far
more. The fix is an ``emptyDir`` with ``medium: Memory`` and a ``sizeLimit``, mounted at ``/dev/shm`` in the
task container (``containers[0]``, the one the glue merges the task into). It has to live in the pod
template: the glue drops a task's ``--shm-size``/``--ipc=host`` docker arguments.

This module is pure. Where the fix goes in a values file is decided in ``core/shm_values.py``; this one
knows pod templates, sizes and log strings.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kubectl_clearml.core.quantity import BINARY_SUFFIXES, QuantityError, parse_quantity

SHM_PATH = "/dev/shm"
VOLUME_NAME = "dshm"
RUNTIME_DEFAULT = "64Mi"

# Default size rule (documented in the README): half the task container's memory limit, because a Memory
# emptyDir is charged to the pod's memory and must leave room for the process itself; capped at 32Gi (the
# ClearML docs' example, plenty for NCCL and DataLoader workers); 1Gi when the queue sets no memory limit
# (an unbounded Memory emptyDir could eat the node's RAM, so stay modest and let the user raise it).
DEFAULT_SIZE_CAP = "32Gi"
DEFAULT_SIZE_NO_LIMIT = "1Gi"

GPU_RESOURCE_KEYS = ("nvidia.com/gpu", "amd.com/gpu")
MAX_GPUS_PER_POD = 1024  # far above any node; beyond it an amount is a typo or hostile, not GPUs
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"

ACCEPTED_SIZE_FORMS = (
    "a positive Kubernetes quantity of bytes: 16Gi, 512Mi, 1Ti (binary), 1G, 500M (decimal), 1e9 or 1073741824"
)


class InvalidSize(ValueError):
    """A size that is not a positive byte quantity (``16GB``, ``-1``, ``abc``, ``0``, ``100m``)."""


def size_bytes(text: object) -> int:
    """Bytes of a Kubernetes memory quantity; raises InvalidSize for anything else.

    ``16GB`` is refused on purpose: Kubernetes would reject it, and users who type it usually mean 16Gi.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise InvalidSize(f"invalid size {text!r}: expected {ACCEPTED_SIZE_FORMS}")
    try:
        value = parse_quantity(text)
    except QuantityError:
        raise InvalidSize(f"invalid size {text!r}: expected {ACCEPTED_SIZE_FORMS}") from None
    if value < 1:
        raise InvalidSize(f"invalid size {text!r}: expected {ACCEPTED_SIZE_FORMS}")
    return math.ceil(value)


def format_size(nbytes: int) -> str:
    """The shortest exact binary form (``17179869184`` → ``16Gi``), else whole Mi rounded down, else bytes."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = BINARY_SUFFIXES[suffix]
        if nbytes >= unit and nbytes % unit == 0:
            return f"{nbytes // unit}{suffix}"
    if nbytes >= 2**20:
        return f"{nbytes // 2**20}Mi"
    return str(nbytes)


def same_size(a: object, b: object) -> bool:
    try:
        return size_bytes(a) == size_bytes(b)
    except InvalidSize:
        return str(a) == str(b)


# ---- reading a pod template -------------------------------------------------------------------------


def pod_spec(template: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod spec of a template (``{spec: ...}``), a Job template, or a bare pod spec."""
    spec = template.get("spec")
    if isinstance(spec, Mapping):
        inner = spec.get("template")
        inner_spec = inner.get("spec") if isinstance(inner, Mapping) else None
        if isinstance(inner_spec, Mapping):
            return inner_spec  # kind: Job
        return spec
    return template


def task_container(template: Mapping[str, Any]) -> Mapping[str, Any]:
    containers = pod_spec(template).get("containers") or []
    first = containers[0] if containers else {}
    return first if isinstance(first, Mapping) else {}


def is_shm_path(path: object) -> bool:
    return isinstance(path, str) and path.rstrip("/") == SHM_PATH


@dataclass(frozen=True)
class Provision:
    """What backs /dev/shm in the task container."""

    kind: str  # "none" (runtime default 64Mi), "memory" (emptyDir medium Memory) or "other"
    volume_name: str | None = None
    size_limit: str | None = None  # for "memory": the sizeLimit, None when unbounded
    source: str | None = None  # for "other": what is mounted, e.g. "hostPath /dev/shm"

    def describe(self) -> str:
        if self.kind == "none":
            return f"none (container runtime default {RUNTIME_DEFAULT})"
        if self.kind == "memory":
            limit = f"sizeLimit {self.size_limit}" if self.size_limit else "no sizeLimit"
            return f"emptyDir medium Memory, {limit} (volume {self.volume_name})"
        return f"{self.source} (volume {self.volume_name})" if self.volume_name else str(self.source)

    @property
    def size(self) -> str | None:
        """The effective /dev/shm size as text, for tables."""
        if self.kind == "none":
            return RUNTIME_DEFAULT
        return self.size_limit if self.kind == "memory" else None


def _volume_source(volume: Mapping[str, Any]) -> str:
    for key, value in volume.items():
        if key == "name":
            continue
        if key == "hostPath" and isinstance(value, Mapping):
            return f"hostPath {value.get('path')}"
        if key == "emptyDir" and isinstance(value, Mapping):
            medium = value.get("medium") or "node disk"
            return f"emptyDir medium {medium}"
        return str(key)
    return "volume without a source"


def current_provision(template: Mapping[str, Any]) -> Provision:
    """The /dev/shm provision of the task container of an effective pod template."""
    spec = pod_spec(template)
    mounts = task_container(template).get("volumeMounts") or []
    mount = next((m for m in mounts if isinstance(m, Mapping) and is_shm_path(m.get("mountPath"))), None)
    if mount is None:
        if spec.get("hostIPC") is True:
            return Provision("other", source="hostIPC: true (the host's /dev/shm)")
        return Provision("none")
    name = mount.get("name")
    volumes = spec.get("volumes") or []
    volume = next((v for v in volumes if isinstance(v, Mapping) and v.get("name") == name), None)
    if volume is None:
        return Provision("other", volume_name=name, source="a mount whose volume is not declared")
    sources = [k for k in volume if k != "name"]
    if len(sources) > 1:
        # What a name-keyed merge of two layers' volumes can produce; the API server rejects it.
        return Provision("other", volume_name=name, source=f"an invalid volume with several sources ({', '.join(sources)})")
    empty_dir = volume.get("emptyDir")
    if isinstance(empty_dir, Mapping) and empty_dir.get("medium") == "Memory":
        limit = empty_dir.get("sizeLimit")
        return Provision("memory", volume_name=name, size_limit=None if limit is None else str(limit))
    return Provision("other", volume_name=name, source=_volume_source(volume))


def gpu_count(template: Mapping[str, Any]) -> int:
    """GPUs the task container asks for (limits, else requests): whole GPUs plus MIG slices."""
    resources = task_container(template).get("resources") or {}
    for section in ("limits", "requests"):
        amounts = resources.get(section) or {}
        total = 0
        for key, value in amounts.items():
            if key in GPU_RESOURCE_KEYS or str(key).startswith(MIG_RESOURCE_PREFIX):
                try:
                    count = int(Decimal(str(value)))
                except (ArithmeticError, ValueError):  # "two", .nan: lint and gpu-report name them
                    continue
                if 0 <= count <= MAX_GPUS_PER_POD:  # "1e400", -1: not a count of GPUs either
                    total += count
        if total:
            return total
    return 0


def default_size(template: Mapping[str, Any]) -> str:
    """Half the task container's memory limit, capped at 32Gi; 1Gi without a memory limit."""
    limits = (task_container(template).get("resources") or {}).get("limits") or {}
    limit = limits.get("memory")
    try:
        limit_bytes = size_bytes(limit) if limit is not None else None
    except InvalidSize:
        limit_bytes = None
    if not limit_bytes:
        return DEFAULT_SIZE_NO_LIMIT
    half = min(limit_bytes // 2, size_bytes(DEFAULT_SIZE_CAP))
    return format_size(max(half, 2**20))


# ---- the fix as an edit of two lists ------------------------------------------------------------------


def shm_volume(size: str, name: str = VOLUME_NAME) -> dict[str, Any]:
    return {"name": name, "emptyDir": {"medium": "Memory", "sizeLimit": size}}


def shm_mount(name: str = VOLUME_NAME) -> dict[str, Any]:
    return {"name": name, "mountPath": SHM_PATH}


def _is_memory(volume: Mapping[str, Any] | None) -> bool:
    empty_dir = (volume or {}).get("emptyDir")
    return isinstance(empty_dir, Mapping) and empty_dir.get("medium") == "Memory"


def fix_lists(
    volumes: Iterable[Mapping[str, Any]],
    mounts: Iterable[Mapping[str, Any]],
    size: str,
    reserved: Collection[str] = (),
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Lists with exactly one Memory emptyDir mounted at /dev/shm, of ``size``.

    ``reserved``: volume names a new volume must not take (names other layers use for something else,
    which a name-keyed merge would fuse with ours).

    An existing Memory emptyDir at /dev/shm (or an unmounted one called ``dshm``) keeps its name and place,
    only its sizeLimit changes, so diffs stay small. Anything else mounted at /dev/shm is unmounted, and
    its volume dropped unless something else still mounts it; the caller decides whether that is allowed
    (``--force``). Every other entry is kept as it is.
    """
    vols = [copy.deepcopy(dict(v)) for v in volumes]
    mnts = [copy.deepcopy(dict(m)) for m in mounts]
    by_name = {v.get("name"): v for v in vols}
    at_shm = [m for m in mnts if is_shm_path(m.get("mountPath"))]
    keep = next((m for m in at_shm if _is_memory(by_name.get(m.get("name")))), None)
    mnts = [m for m in mnts if m is keep or not is_shm_path(m.get("mountPath"))]
    still_mounted = {m.get("name") for m in mnts}
    dropped = {m.get("name") for m in at_shm} - still_mounted
    vols = [v for v in vols if v.get("name") not in dropped]
    if keep is not None:
        name = keep.get("name")
    elif _is_memory(by_name.get(VOLUME_NAME)) and VOLUME_NAME not in still_mounted and VOLUME_NAME not in reserved:
        name = VOLUME_NAME
        mnts.append(shm_mount(name))
    else:
        taken = {v.get("name") for v in vols} | still_mounted | set(reserved)
        name = next(n for n in (VOLUME_NAME, *(f"{VOLUME_NAME}-{i}" for i in range(2, 100))) if n not in taken)
        vols.append(shm_volume(size, name))
        mnts.append(shm_mount(name))
    for volume in vols:
        if volume.get("name") == name:
            volume["emptyDir"] = {**volume["emptyDir"], "sizeLimit": size}
    return vols, mnts


def fix_pod_template(template: Mapping[str, Any], size: str) -> dict[str, Any]:
    """A copy of a pod template whose task container has a Memory /dev/shm of ``size``."""
    new = copy.deepcopy(dict(template))
    spec = pod_spec(new)
    assert isinstance(spec, dict)
    containers = spec.setdefault("containers", [])
    if not containers:
        containers.append({})
    first = containers[0]
    vols, mnts = fix_lists(spec.get("volumes") or [], first.get("volumeMounts") or [], size)
    spec["volumes"] = vols
    first["volumeMounts"] = mnts
    return new


def is_fixed(provision: Provision, size: str | None) -> bool:
    """True when nothing needs to change: a Memory /dev/shm of the asked size (any size if none asked)."""
    if provision.kind != "memory":
        return False
    if size is None:
        return True
    return provision.size_limit is not None and same_size(provision.size_limit, size)


class ShmConflict(ValueError):
    """Something other than a Memory emptyDir is already mounted at /dev/shm (needs --force)."""

    def __init__(self, queue: str | None, current: Provision, wanted: str) -> None:
        self.queue = queue
        self.current = current
        self.wanted = wanted
        where = f"queue {queue!r}" if queue else "the base pod template"
        super().__init__(f"{where} already mounts {current.describe()} at /dev/shm; the fix would mount {wanted}")


def wanted_description(size: str) -> str:
    return f"emptyDir medium Memory, sizeLimit {size} (volume {VOLUME_NAME})"


@dataclass(frozen=True)
class TemplateFix:
    queue: str | None  # None: a single template shared by every queue
    before: Provision
    size: str
    changed: bool


def fix_rendered_template(
    templates: Mapping[str | None, Mapping[str, Any]],
    size: str | None,
    *,
    force: bool = False,
) -> tuple[dict[str | None, dict[str, Any]], list[TemplateFix]]:
    """Fix each given pod template (keyed by queue, or ``None`` for a single shared one).

    ``size`` None means: keep an existing Memory /dev/shm as it is, else use :func:`default_size`.
    Raises ShmConflict, before changing anything, when one mounts something else and ``force`` is off.
    """
    fixes: list[TemplateFix] = []
    result: dict[str | None, dict[str, Any]] = {}
    for queue, template in templates.items():
        before = current_provision(template)
        wanted = size or default_size(template)
        if is_fixed(before, size):
            fixes.append(TemplateFix(queue, before, before.size_limit or wanted, False))
            result[queue] = copy.deepcopy(dict(template))
            continue
        if before.kind == "other" and not force:
            raise ShmConflict(queue, before, wanted_description(wanted))
        fixes.append(TemplateFix(queue, before, wanted, True))
        result[queue] = fix_pod_template(template, wanted)
    return result, fixes


# ---- failure strings in logs and termination messages ----------------------------------------------


@dataclass(frozen=True)
class FailurePattern:
    id: str
    regex: re.Pattern[str]
    meaning: str


# The strings NCCL and PyTorch print when /dev/shm is too small (reference/agent-chart.md §7).
FAILURE_PATTERNS: tuple[FailurePattern, ...] = (
    FailurePattern(
        "nccl-shm-create",
        re.compile(r"Error while creating shared memory segment"),
        "NCCL could not create its /dev/shm segment",
    ),
    FailurePattern(
        "nccl-shm-extend",
        re.compile(r"failed to extend /dev/shm/\S+ to \d+ bytes"),
        "NCCL ran out of /dev/shm while growing a segment",
    ),
    FailurePattern(
        "nccl-posix-fallocate",
        re.compile(r"Call to posix_fallocate failed\s*:\s*No space left on device"),
        "older NCCL ran out of /dev/shm",
    ),
    FailurePattern(
        "torch-dataloader-bus-error",
        re.compile(r"Unexpected bus error encountered in worker|insufficient shared memory \(shm\)"),
        "a PyTorch DataLoader worker ran out of /dev/shm",
    ),
)


@dataclass(frozen=True)
class FailureMatch:
    pattern: str
    meaning: str
    line: str


def find_shm_failures(text: str, *, max_line: int = 240) -> list[FailureMatch]:
    """The first line matching each failure pattern, in pattern order."""
    found: list[FailureMatch] = []
    lines = text.splitlines()
    for pattern in FAILURE_PATTERNS:
        for line in lines:
            if pattern.regex.search(line):
                found.append(FailureMatch(pattern.id, pattern.meaning, line.strip()[:max_line]))
                break
    return found


def termination_messages(pod: Mapping[str, Any]) -> list[str]:
    """Termination messages of every container of a pod, current and previous runs."""
    status = pod.get("status") or {}
    messages: list[str] = []
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            for state_key in ("state", "lastState"):
                terminated = ((cs or {}).get(state_key) or {}).get("terminated") or {}
                message = terminated.get("message")
                if isinstance(message, str) and message:
                    messages.append(message)
    return messages
