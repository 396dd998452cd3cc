"""The /dev/shm fix as a Helm values overlay, for each chart flavour.

Where the fix goes:
- open-source chart (one pod template per release): ``agentk8sglue.basePodTemplate.volumes/volumeMounts``;
- enterprise chart, one queue: ``agentk8sglue.queues.<q>.templateOverrides.extraVolumes/extraVolumeMounts``
  when the chart has them (6.11.0+), else the override's full ``volumes``/``volumeMounts``;
- ``--base``: ``agentk8sglue.basePodTemplate`` (every queue, either flavour).

Helm replaces lists wholesale (helm/helm#3486), so every list the overlay sets is the *complete* list the
location must end up with: the effective (chart defaults + user) list, edited. When the overlay sets an
override's full ``volumes``, it carries the queue's merged volumes, because a list there most likely
replaces the base's (reference/agent-chart.md §6).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.core.agent_config import AgentConfig, load_agent_config
from kubectl_clearml.core.shm import (
    RUNTIME_DEFAULT,
    InvalidSize,
    Provision,
    ShmConflict,
    current_provision,
    default_size,
    fix_lists,
    gpu_count,
    is_fixed,
    is_shm_path,
    pod_spec,
    size_bytes,
    task_container,
    wanted_description,
)
from kubectl_clearml.core.templates import MergeMode
from kubectl_clearml.core.values import coalesce, merge_user_values

AGENT_KEY = "agentk8sglue"
BASE_PATH: tuple[str, ...] = (AGENT_KEY, "basePodTemplate")
EXTRA_VOLUMES_SINCE = (6, 11, 0)  # enterprise chart version that added extraVolumes/extraVolumeMounts


LEGACY_BASE_PATH: tuple[str, ...] = (AGENT_KEY, "podTemplate")  # charts 1.x-2.x
LEGACY_QUEUES_PATH: tuple[str, ...] = ("enterpriseFeatures", "queues")  # charts 3.x-4.x


def override_path(queue: str, values: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """``agentk8sglue.queues.<q>.templateOverrides``, or the 3.x/4.x ``enterpriseFeatures`` one when the
    values use that layout for the queue."""
    legacy = get_path(values or {}, LEGACY_QUEUES_PATH)
    modern = get_path(values or {}, (AGENT_KEY, "queues"))
    if isinstance(legacy, Mapping) and queue in legacy and not (isinstance(modern, Mapping) and modern):
        return (*LEGACY_QUEUES_PATH, queue, "templateOverrides")
    return (AGENT_KEY, "queues", queue, "templateOverrides")


def base_path(values: Mapping[str, Any]) -> tuple[str, ...]:
    """``agentk8sglue.basePodTemplate``, or the 1.x/2.x ``podTemplate`` when only that one is used."""
    base = get_path(values, BASE_PATH)
    legacy = get_path(values, LEGACY_BASE_PATH)
    has_base = isinstance(base, Mapping) and any(v not in (None, "", [], {}) for v in base.values())
    if isinstance(legacy, Mapping) and legacy and not has_base:
        return LEGACY_BASE_PATH
    return BASE_PATH


@dataclass(frozen=True)
class Target:
    path: tuple[str, ...]
    volumes_key: str
    mounts_key: str

    def describe(self) -> str:
        return ".".join(self.path) + f".{self.volumes_key}/{self.mounts_key}"


@dataclass(frozen=True)
class ValuesFix:
    queue: str | None  # None: basePodTemplate (--base)
    target: Target
    before: Provision
    size: str
    overlay: dict[str, Any]  # {} when nothing changes
    notes: tuple[str, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return bool(self.overlay)


def get_path(values: Mapping[str, Any], path: Sequence[str]) -> Any:
    node: Any = values
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def nest(path: Sequence[str], leaf: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = leaf
    for key in reversed(path):
        out = {key: out}
    return out


def extra_volumes_supported(chart_version: str | None) -> bool:
    """Enterprise charts 6.11.0+ have extraVolumes; an unknown version is assumed current."""
    if not chart_version:
        return True
    parts: list[int] = []
    for piece in chart_version.lstrip("v").split("-")[0].split(".")[:3]:
        try:
            parts.append(int(piece))
        except ValueError:
            return True
    while len(parts) < 3:
        parts.append(0)
    return tuple(parts) >= EXTRA_VOLUMES_SINCE


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [dict(v) for v in value or [] if isinstance(v, Mapping)]


def _without(items: list[dict[str, Any]], drop: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    names = {d.get(key) for d in drop}
    return [i for i in items if i.get(key) not in names]


def _names_used_by_overrides(values: Mapping[str, Any], queue: str | None, flavour: str) -> set[str]:
    """For a base fix: volume names queues' overrides use for something other than a Memory emptyDir."""
    if queue is not None or flavour != "enterprise":
        return set()
    names: set[str] = set()
    for entry in (get_path(values, (AGENT_KEY, "queues")) or {}).values():
        overrides = entry.get("templateOverrides") if isinstance(entry, Mapping) else None
        for key in ("volumes", "extraVolumes"):
            for volume in _dicts((overrides or {}).get(key) if isinstance(overrides, Mapping) else None):
                empty_dir = volume.get("emptyDir")
                if not (isinstance(empty_dir, Mapping) and empty_dir.get("medium") == "Memory"):
                    names.add(str(volume.get("name")))
    return names


def choose_target(
    values: Mapping[str, Any],
    template: Mapping[str, Any],
    *,
    flavour: str,
    queue: str | None,
    extra_supported: bool,
) -> tuple[Target, list[dict[str, Any]], list[dict[str, Any]]]:
    """The location to edit and the complete current lists there (what Helm would see after merging)."""
    if flavour != "enterprise" or queue is None:
        target = Target(base_path(values), "volumes", "volumeMounts")
        base = get_path(values, target.path) or {}
        return target, _dicts(base.get("volumes")), _dicts(base.get("volumeMounts"))
    path = override_path(queue, values)
    extra_supported = extra_supported and path[0] == AGENT_KEY  # 3.x/4.x charts had no extra* lists
    overrides = get_path(values, path) or {}
    extra_vols = _dicts(overrides.get("extraVolumes"))
    extra_mnts = _dicts(overrides.get("extraVolumeMounts"))
    shm_in_extra = any(is_shm_path(m.get("mountPath")) for m in extra_mnts)
    shm_anywhere = any(is_shm_path(m.get("mountPath")) for m in task_container(template).get("volumeMounts") or [])
    # Already in extraVolumeMounts: edit it there (the values use extra* whatever version was claimed).
    if shm_in_extra or (extra_supported and not shm_anywhere):
        return Target(path, "extraVolumes", "extraVolumeMounts"), extra_vols, extra_mnts
    # Full lists in the override: the queue's merged lists, minus what the override's extra* lists add
    # (those stay where they are).
    merged_vols = _without(_dicts(pod_spec(template).get("volumes")), extra_vols, "name")
    merged_mnts = _without(_dicts(task_container(template).get("volumeMounts")), extra_mnts, "mountPath")
    return Target(path, "volumes", "volumeMounts"), merged_vols, merged_mnts


def plan_values_fix(
    values: Mapping[str, Any],
    template: Mapping[str, Any],
    *,
    flavour: str,
    queue: str | None,
    size: str,
    size_given: bool = True,
    extra_supported: bool = True,
    force: bool = False,
) -> ValuesFix:
    """The overlay giving ``queue`` (or the base, ``queue=None``) a Memory /dev/shm of ``size``.

    ``values`` are the effective values (chart defaults + user values), ``template`` the effective pod
    template of the queue (or the base template). Raises ShmConflict for a foreign /dev/shm mount unless
    ``force``.
    """
    before = current_provision(template)
    target, vols, mnts = choose_target(values, template, flavour=flavour, queue=queue, extra_supported=extra_supported)
    notes: list[str] = []
    if flavour != "enterprise" and queue is not None:
        notes.append("the open-source chart has one pod template per release: this changes every queue it serves")
    if is_fixed(before, size if size_given else None):
        return ValuesFix(queue, target, before, before.size_limit or size, {}, tuple(notes))
    if before.kind == "other" and not force:
        raise ShmConflict(queue, before, wanted_description(size))
    new_vols, new_mnts = fix_lists(vols, mnts, size, reserved=_names_used_by_overrides(values, queue, flavour))
    leaf: dict[str, Any] = {}
    location = get_path(values, target.path) or {}
    if new_vols != _dicts(location.get(target.volumes_key)) or target.volumes_key not in location:
        leaf[target.volumes_key] = new_vols
    if new_mnts != _dicts(location.get(target.mounts_key)) or target.mounts_key not in location:
        leaf[target.mounts_key] = new_mnts
    return ValuesFix(queue, target, before, size, nest(target.path, copy.deepcopy(leaf)), tuple(notes))


# ---- planning against an agent configuration, with a check of the result --------------------------


class ShmFixFailed(ValueError):
    """The overlay would not give the queue the wanted /dev/shm (a chart merge rule we did not expect)."""


def _template_of(cfg: AgentConfig, queue: str | None, merge: MergeMode) -> dict[str, Any]:
    return cfg.base_template if queue is None else cfg.effective_template(queue, merge)


def _memory_limit(template: Mapping[str, Any]) -> Any:
    return ((task_container(template).get("resources") or {}).get("limits") or {}).get("memory")


def apply_overlay(cfg: AgentConfig, overlay: Mapping[str, Any]) -> AgentConfig:
    """The configuration Helm would produce from ``-f values.yaml -f overlay.yaml``."""
    return load_agent_config(
        coalesce(cfg.values, overlay),
        chart_name=cfg.chart_name,
        chart_version=cfg.chart_version,
        release=cfg.release,
        namespace=cfg.namespace,
        flavour=cfg.flavour,
        served_queues=cfg.queues,
    )


def plan_for_queue(
    cfg: AgentConfig,
    queue: str | None,
    *,
    size: str | None,
    force: bool = False,
    extra_supported: bool = True,
    merge: MergeMode = "strategic",
) -> ValuesFix:
    """Plan the overlay for one queue (``None``: the base template) and check it by re-merging.

    ``size`` None: keep an existing Memory /dev/shm, else :func:`default_size` of the queue's template.
    """
    template = _template_of(cfg, queue, merge)
    wanted = size or default_size(template)
    fix = plan_values_fix(
        cfg.values,
        template,
        flavour=cfg.flavour,
        queue=queue,
        size=wanted,
        size_given=size is not None,
        extra_supported=extra_supported,
        force=force,
    )
    notes = list(fix.notes)
    limit = _memory_limit(template)
    if limit is not None and size_bytes_or_none(limit) is not None and size_bytes(fix.size) >= size_bytes(limit):
        notes.append(
            f"sizeLimit {fix.size} is not below the container memory limit {limit}: a Memory emptyDir is "
            "charged to the pod, so a full /dev/shm gets it OOM-killed"
        )
    if size_bytes(fix.size) <= size_bytes(RUNTIME_DEFAULT):
        # `--size 64` is 64 bytes: a /dev/shm smaller than the runtime's own is never what was meant.
        notes.append(
            f"sizeLimit {fix.size} is not above the container runtime's default {RUNTIME_DEFAULT}: "
            "NCCL and DataLoader workers get no more shared memory than without the fix (did you mean Gi?)"
        )
    if not fix.changed:
        return _with_notes(fix, notes)
    after = apply_overlay(cfg, fix.overlay)
    checked = [queue] if queue is not None and cfg.flavour == "enterprise" else [None, *cfg.all_queues()]
    for name in checked:
        result = current_provision(_template_of(after, name, merge))
        if is_fixed(result, fix.size):
            continue
        if queue is None and name is not None:
            notes.append(f"queue {name!r} still has {result.describe()}: its templateOverrides set /dev/shm")
            continue
        raise ShmFixFailed(
            f"the overlay would leave {'queue ' + repr(name) if name else 'the base template'} with "
            f"{result.describe()} (merge rule {merge!r})"
        )
    return _with_notes(fix, notes)


def size_bytes_or_none(value: Any) -> int | None:
    try:
        return size_bytes(value)
    except InvalidSize:
        return None


def _with_notes(fix: ValuesFix, notes: list[str]) -> ValuesFix:
    return ValuesFix(fix.queue, fix.target, fix.before, fix.size, fix.overlay, tuple(notes))


def combine_overlays(overlays: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One overlay from several (different queues never touch the same list)."""
    out: dict[str, Any] = {}
    for overlay in overlays:
        out = merge_user_values(out, overlay)
    return out


# ---- --check ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueShm:
    queue: str
    gpus: int
    provision: Provision

    @property
    def multi_gpu(self) -> bool:
        return self.gpus >= 2

    @property
    def lacking(self) -> bool:
        """A multi-GPU queue left with the runtime's 64Mi /dev/shm."""
        return self.multi_gpu and self.provision.kind == "none"

    @property
    def status(self) -> str:
        if self.lacking:
            return "missing"
        if self.provision.kind == "memory":
            return "ok"
        if self.provision.kind == "other":
            return "custom"
        return "default"


def check_queues(cfg: AgentConfig, queues: Sequence[str], merge: MergeMode = "strategic") -> list[QueueShm]:
    rows = []
    for queue in queues:
        template = cfg.effective_template(queue, merge)
        rows.append(QueueShm(queue, gpu_count(template), current_provision(template)))
    return rows
