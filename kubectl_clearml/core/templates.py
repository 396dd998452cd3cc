"""Task-pod templates: per-queue effective values, rendering them like the chart, parsing a live template.yaml.

API (pure):

- :func:`merge_pod_values` ``(base, overrides, mode="strategic"|"replace") -> dict``: a queue's
  ``templateOverrides`` over ``basePodTemplate``, both in *values* shape (``labels``, ``env``,
  ``resources``, ``podSecurityContext``...). ``strategic`` (default) is Kubernetes strategic merge: maps merge
  deeply; ``env``/``volumes``/``initContainers``/``imagePullSecrets`` merge by ``name``, ``volumeMounts`` by
  ``mountPath``; other lists (``tolerations``) replace; ``null`` deletes. ``replace`` is the 3.x/4.x chart's
  ``templateOverrides.X | default basePodTemplate.X``: each top-level key set (non-empty) in the override
  replaces the base's whole value. ``deep``: maps merge deeply, lists replace, ``null`` deletes (lists in an
  enterprise 6.x templateOverrides replace: 6.11 added extraVolumes to append). Which one a chart uses:
  ``agent_config.merge_rule``. In both modes ``extraVolumes``/``extraVolumeMounts`` (enterprise ≥ 6.11)
  are appended to ``volumes``/``volumeMounts`` (an entry with the same name/mountPath is replaced).
- :func:`render_pod_template` ``(pod_values, chart_values, ctx) -> dict``: the Pod template the chart's
  ConfigMap holds (agent-chart.md §2): metadata labels/annotations, the ``CLEARML_*`` env with secretKeyRefs,
  ``containers[0]`` resources/securityContext/volumeMounts/ports, spec volumes/nodeSelector/tolerations/
  affinity/initContainers/imagePullSecrets/priorityClassName/serviceAccountName. Keys the chart does not
  render are left out, as the chart leaves them out (lint reports them).
- :func:`parse_rendered_template` ``(text) -> RenderedTemplate``: a live ``template.yaml``, either one pod
  (open-source) or a mapping keyed by queue name (4.x enterprise and the enterprise stand-in).
- :func:`chart_fullname`: ``clearmlAgent.fullname`` from release name, chart name and overrides.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kubectl_clearml.core.chart_defaults import ENTERPRISE_RENDERED_KEYS, OSS_RENDERED_KEYS, Flavour
from kubectl_clearml.core.merge import StrategicMergeError, strategic_merge
from kubectl_clearml.core.pod_container import deep_merge
from kubectl_clearml.core.values import get_path, is_empty
from kubectl_clearml.errors import UsageError

MergeMode = Literal["strategic", "replace", "deep"]
MERGE_MODES: tuple[MergeMode, ...] = ("deep", "replace", "strategic")

TASK_PORT = 10022
_EXTRA_LISTS = (("extraVolumes", "volumes", "name"), ("extraVolumeMounts", "volumeMounts", "mountPath"))


def merge_pod_values(
    base: Mapping[str, Any], overrides: Mapping[str, Any] | None, mode: MergeMode = "strategic"
) -> dict[str, Any]:
    """The effective ``basePodTemplate``-shaped values of a queue (inputs left untouched)."""
    overrides = dict(overrides or {})
    extras = {key: overrides.pop(key) for key, _, _ in _EXTRA_LISTS if key in overrides}
    if mode == "strategic":
        try:
            merged = strategic_merge(dict(base), overrides)
        except StrategicMergeError as exc:
            raise UsageError(f"cannot merge templateOverrides: {exc}") from None
    elif mode == "deep":
        merged = deep_merge(copy.deepcopy(dict(base)), overrides)  # maps merge, lists replace, null deletes
    elif mode == "replace":
        merged = copy.deepcopy(dict(base))
        for key, value in overrides.items():
            if value is None:
                merged.pop(key, None)
            elif not is_empty(value):  # Helm's `default`: an empty override keeps the base value
                merged[key] = copy.deepcopy(value)
    else:
        raise UsageError(f"unknown merge mode {mode!r}", hint="use " + ", ".join(MERGE_MODES))
    for extra_key, target, key in _EXTRA_LISTS:
        for source in (merged.pop(extra_key, None), extras.get(extra_key)):
            if isinstance(source, list):
                merged[target] = _append_by_key(merged.get(target) or [], source, key)
    return merged


def _append_by_key(items: list[Any], extra: list[Any], key: str) -> list[Any]:
    out = copy.deepcopy(list(items))
    for entry in extra:
        ident = entry.get(key) if isinstance(entry, Mapping) else None
        for index, existing in enumerate(out):
            if ident is not None and isinstance(existing, Mapping) and existing.get(key) == ident:
                out[index] = copy.deepcopy(entry)
                break
        else:
            out.append(copy.deepcopy(entry))
    return out


@dataclass(frozen=True)
class RenderContext:
    """What rendering needs beyond the pod values: names and the chart flavour."""

    fullname: str
    namespace: str
    flavour: Flavour = "oss"
    file_mounts_secret: str | None = None  # enterprise fileMounts: the Secret holding the files


def chart_fullname(release: str, values: Mapping[str, Any], chart_name: str) -> str:
    """``clearmlAgent.fullname``: fullnameOverride; the release if it contains the name; else release-name."""
    override = values.get("fullnameOverride")
    if override:
        name = str(override)
    else:
        base = str(values.get("nameOverride") or chart_name)
        name = release if base in release else f"{release}-{base}"
    return name[:63].rstrip("-")


def service_account_name(values: Mapping[str, Any], fullname: str) -> str:
    return str(get_path(values, "agentk8sglue.serviceExistingAccountName") or f"{fullname}-sa")


def credentials_secret_name(values: Mapping[str, Any], fullname: str) -> str:
    return str(get_path(values, "clearml.existingAgentk8sglueSecret") or f"{fullname}-ac")


def rendered_keys(flavour: Flavour) -> frozenset[str]:
    return ENTERPRISE_RENDERED_KEYS if flavour == "enterprise" else OSS_RENDERED_KEYS


def clearml_env(values: Mapping[str, Any], fullname: str) -> list[dict[str, Any]]:
    """The env the chart puts first in every task pod: server URLs and the credential secretKeyRefs."""
    secret = credentials_secret_name(values, fullname)
    env: list[dict[str, Any]] = [
        {"name": "CLEARML_API_HOST", "value": get_path(values, "agentk8sglue.apiServerUrlReference")},
        {"name": "CLEARML_WEB_HOST", "value": get_path(values, "agentk8sglue.webServerUrlReference")},
        {"name": "CLEARML_FILES_HOST", "value": get_path(values, "agentk8sglue.fileServerUrlReference")},
    ]
    for name, key in (
        ("CLEARML_API_ACCESS_KEY", "agentk8sglue_key"),
        ("CLEARML_API_SECRET_KEY", "agentk8sglue_secret"),
    ):
        env.append({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
    return env


def render_pod_template(
    pod_values: Mapping[str, Any], chart_values: Mapping[str, Any], ctx: RenderContext
) -> dict[str, Any]:
    """Render one queue's pod values the way the chart's ConfigMap template does."""
    pv = copy.deepcopy(dict(pod_values))
    template: dict[str, Any] = {"apiVersion": "v1"}
    if ctx.flavour == "enterprise":
        template["kind"] = "Pod"
    template["metadata"] = {"namespace": ctx.namespace, "labels": pv.get("labels") or {}, "annotations": {}}
    template["metadata"]["annotations"] = pv.get("annotations") or {}
    if ctx.flavour == "oss":
        # `labels: null` in the values deletes the chart's default and toYaml renders null (5.3.2
        # agentk8sglue-configmap.yaml:10-13): shown as the chart renders it; the glue fails on it (k8s.py:993-995)
        for key in ("labels", "annotations"):
            if key not in pv:
                template["metadata"][key] = None
    spec: dict[str, Any] = {}
    pull_secrets = _image_pull_secrets(chart_values, ctx.fullname)
    if ctx.flavour == "enterprise":
        # imageCredentials.extraImagePullSecrets reach task pods (clearml-docs air_gapped_env.md:151-158)
        extra = get_path(chart_values, "imageCredentials.extraImagePullSecrets")
        if isinstance(extra, list):
            pull_secrets = _append_by_key(pull_secrets, [e for e in extra if isinstance(e, Mapping)], "name")
        if pv.get("imagePullSecrets"):
            pull_secrets = _append_by_key(pull_secrets, pv["imagePullSecrets"], "name")
        _file_mounts(pv, ctx)
    if pull_secrets:
        spec["imagePullSecrets"] = pull_secrets
    spec["serviceAccountName"] = service_account_name(chart_values, ctx.fullname)
    spec["securityContext"] = pv.get("podSecurityContext") or {}
    spec["priorityClassName"] = pv.get("priorityClassName") or None
    spec["initContainers"] = pv.get("initContainers") or []
    for key in ("volumes", "nodeSelector", "tolerations", "affinity"):
        if not is_empty(pv.get(key)):
            spec[key] = pv[key]
    container: dict[str, Any] = {}
    if ctx.flavour == "oss":  # rendered even when empty (5.3.2 agentk8sglue-configmap.yaml:34-37)
        container["resources"] = pv.get("resources") or {}
        container["securityContext"] = pv.get("containerSecurityContext") or {}
    if not is_empty(pv.get("resources")):
        container["resources"] = pv["resources"]
    if not is_empty(pv.get("containerSecurityContext")):
        container["securityContext"] = pv["containerSecurityContext"]
    container["ports"] = [{"containerPort": TASK_PORT}]
    extra_env = pv.get("env")
    if ctx.flavour == "oss" and isinstance(extra_env, Mapping) and extra_env:
        # 5.3.2 agentk8sglue-configmap.yaml:69-71 writes env with toYaml after its own entries: a mapping's keys
        # land in the container itself (the last of a repeated key wins, as the glue's yaml.load reads it).
        container["env"] = clearml_env(chart_values, ctx.fullname)
        container.update(copy.deepcopy(dict(extra_env)))
    else:
        if not isinstance(extra_env, list):  # stays visible: the key check reports it, reference_failures too (oss)
            extra_env = [] if is_empty(extra_env) else [extra_env]
        container["env"] = clearml_env(chart_values, ctx.fullname) + extra_env
    if not is_empty(pv.get("volumeMounts")):
        container["volumeMounts"] = pv["volumeMounts"]
    spec["containers"] = [container]
    template["spec"] = spec
    return template


def _file_mounts(pv: dict[str, Any], ctx: RenderContext) -> None:
    """Enterprise ``fileMounts`` (base or per queue; clearml-docs air_gapped_env.md:75-86): each file of a Secret
    mounted read-only at ``folderPath/name``. The 6.x chart is private; the layout is the 4.x chart's
    (chart 4.0.10 templates/_helpers.tpl:163-171,188-201): volume ``filemounts`` from ``<fullname>[-<queue>]-fm``."""
    mounts = pv.pop("fileMounts", None)
    if not isinstance(mounts, list) or not mounts or not ctx.file_mounts_secret:
        return
    pv["volumes"] = _append_by_key(
        pv.get("volumes") or [], [{"name": "filemounts", "secret": {"secretName": ctx.file_mounts_secret}}], "name"
    )
    entries = [
        {
            "name": "filemounts",
            "mountPath": f"{m.get('folderPath')}/{m.get('name')}",
            "subPath": str(m.get("name")),
            "readOnly": True,
        }
        for m in mounts
        if isinstance(m, Mapping) and m.get("name")
    ]
    pv["volumeMounts"] = _append_by_key(pv.get("volumeMounts") or [], entries, "mountPath")


def _image_pull_secrets(values: Mapping[str, Any], fullname: str) -> list[dict[str, Any]]:
    if not get_path(values, "imageCredentials.enabled"):
        return []
    return [{"name": str(get_path(values, "imageCredentials.existingSecret") or f"{fullname}-ark")}]


@dataclass(frozen=True)
class RenderedTemplate:
    """A live ``template.yaml``: ``single`` (one pod for every queue) or ``per_queue`` (keyed by queue)."""

    single: dict[str, Any] | None = None
    per_queue: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def layout(self) -> str:
        return "single" if self.single is not None else "per-queue"

    def for_queue(self, queue: str) -> dict[str, Any] | None:
        if self.single is not None:
            return self.single
        return self.per_queue.get(queue)


def _looks_like_pod(data: Any) -> bool:
    return isinstance(data, Mapping) and bool({"spec", "apiVersion", "metadata"} & set(data))


def parse_rendered_template(text: str, source: str = "template.yaml") -> RenderedTemplate:
    """Parse the ConfigMap's template.yaml; accepts ``labels: {}``, ``priorityClassName: null``, no ``kind``."""
    import yaml  # lazily: --help and completion must not pay for YAML

    from kubectl_clearml.core.yaml_input import load

    try:
        data = load(text, source)
    except yaml.YAMLError as exc:
        raise UsageError("malformed YAML in the live pod template", source, hint=str(exc).splitlines()[0]) from None
    if _looks_like_pod(data):
        return RenderedTemplate(single=data)
    if isinstance(data, Mapping) and data and all(_looks_like_pod(v) for v in data.values()):
        return RenderedTemplate(per_queue={str(k): v for k, v in data.items()})
    raise UsageError("the live pod template is neither a pod nor a mapping of queue names to pods", source)
