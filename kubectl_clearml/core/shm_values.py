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

from kubectl_clearml.core.shm import (
    Provision,
    current_provision,
    fix_lists,
    is_fixed,
    is_shm_path,
    pod_spec,
    task_container,
)

AGENT_KEY = "agentk8sglue"
BASE_PATH: tuple[str, ...] = (AGENT_KEY, "basePodTemplate")
EXTRA_VOLUMES_SINCE = (6, 11, 0)  # enterprise chart version that added extraVolumes/extraVolumeMounts


class ShmConflict(ValueError):
    """Something other than a Memory emptyDir is already mounted at /dev/shm (needs --force)."""

    def __init__(self, queue: str | None, current: Provision, wanted: str) -> None:
        self.queue = queue
        self.current = current
        self.wanted = wanted
        where = f"queue {queue!r}" if queue else "basePodTemplate"
        super().__init__(f"{where} already mounts {current.describe()} at /dev/shm; the fix would mount {wanted}")


def override_path(queue: str) -> tuple[str, ...]:
    return (AGENT_KEY, "queues", queue, "templateOverrides")


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
        target = Target(BASE_PATH, "volumes", "volumeMounts")
        base = get_path(values, BASE_PATH) or {}
        return target, _dicts(base.get("volumes")), _dicts(base.get("volumeMounts"))
    overrides = get_path(values, override_path(queue)) or {}
    extra_vols = _dicts(overrides.get("extraVolumes"))
    extra_mnts = _dicts(overrides.get("extraVolumeMounts"))
    shm_in_extra = any(is_shm_path(m.get("mountPath")) for m in extra_mnts)
    shm_anywhere = any(is_shm_path(m.get("mountPath")) for m in task_container(template).get("volumeMounts") or [])
    if extra_supported and (shm_in_extra or not shm_anywhere):
        return Target(override_path(queue), "extraVolumes", "extraVolumeMounts"), extra_vols, extra_mnts
    # Full lists in the override: the queue's merged lists, minus what the override's extra* lists add
    # (those stay where they are).
    merged_vols = _without(_dicts(pod_spec(template).get("volumes")), extra_vols, "name")
    merged_mnts = _without(_dicts(task_container(template).get("volumeMounts")), extra_mnts, "mountPath")
    return Target(override_path(queue), "volumes", "volumeMounts"), merged_vols, merged_mnts


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
        raise ShmConflict(queue, before, f"emptyDir medium Memory sizeLimit {size} (volume dshm)")
    new_vols, new_mnts = fix_lists(vols, mnts, size)
    leaf: dict[str, Any] = {}
    location = get_path(values, target.path) or {}
    if new_vols != _dicts(location.get(target.volumes_key)) or target.volumes_key not in location:
        leaf[target.volumes_key] = new_vols
    if new_mnts != _dicts(location.get(target.mounts_key)) or target.mounts_key not in location:
        leaf[target.mounts_key] = new_mnts
    return ValuesFix(queue, target, before, size, nest(target.path, copy.deepcopy(leaf)), tuple(notes))
