"""Checks of an agent configuration and of pod templates, for `diff-template --lint` (and warnings otherwise).

API (pure)::

    findings = lint_config(cfg)                               # values + every queue's effective template
    findings = lint_pod_template(template, where="live red")  # one rendered (or live) pod template
    finding.level in ("error", "warning"); finding.where; finding.message; finding.one_line()

Checks: keys that are not Kubernetes keys (checked against core/k8s_keys.py, generated from the kubernetes
client's models) with a "did you mean"; keys the open-source chart silently ignores (``fileMounts``,
``schedulerName``, ``hostAliases``, pod-spec keys it does not render such as ``hostPID``, enterprise-only
keys); unknown top-level values keys (mis-nesting leaves the ACCESSKEY defaults in place); the chart's
default ``ACCESSKEY``/``SECRETKEY`` credentials; GPU (extended resource) requests without an equal limit;
queues with overrides the agent does not serve; duplicate env names; volumeMounts without a volume.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kubectl_clearml.core.agent_config import AgentConfig
from kubectl_clearml.core.agent_glue import reference_failure_lines
from kubectl_clearml.core.chart_defaults import ENTERPRISE_EXTRA_KEYS, ENTERPRISE_ONLY_AGENT_KEYS, OSS_IGNORED_KEYS
from kubectl_clearml.core.k8s_keys import MODELS
from kubectl_clearml.core.quantity import QuantityError, parse_quantity
from kubectl_clearml.core.templates import MergeMode, rendered_keys
from kubectl_clearml.core.values import get_path, is_empty

Level = Literal["error", "warning"]

# The values-shape keys of basePodTemplate / templateOverrides and the Kubernetes type each one holds.
POD_VALUES_TYPES: dict[str, str] = {
    "labels": "map:scalar",
    "annotations": "map:scalar",
    "env": "list:V1EnvVar",
    "resources": "V1ResourceRequirements",
    "podSecurityContext": "V1PodSecurityContext",
    "containerSecurityContext": "V1SecurityContext",
    "volumes": "list:V1Volume",
    "volumeMounts": "list:V1VolumeMount",
    "extraVolumes": "list:V1Volume",
    "extraVolumeMounts": "list:V1VolumeMount",
    "nodeSelector": "map:scalar",
    "tolerations": "list:V1Toleration",
    "affinity": "V1Affinity",
    "initContainers": "list:V1Container",
    "imagePullSecrets": "list:V1LocalObjectReference",
    "priorityClassName": "scalar",
    "schedulerName": "scalar",
    "hostAliases": "list:V1HostAlias",
    "fileMounts": "list:scalar",
}
KNOWN_TOP_LEVEL = frozenset(
    {"global", "imageCredentials", "clearml", "agentk8sglue", "sessions", "fullnameOverride", "nameOverride"}
)
LEGACY_TOP_LEVEL = frozenset({"enterpriseFeatures"})


@dataclass(frozen=True)
class Finding:
    level: Level
    where: str
    message: str
    hint: str | None = None

    def one_line(self) -> str:
        text = f"{self.level}: {self.where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


def did_you_mean(key: str, candidates: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.7)
    return f"did you mean {match[0]!r}?" if match else None


# --- schema walk -------------------------------------------------------------------------------------------


def check_keys(obj: Any, ftype: str, path: str, out: list[Finding]) -> None:
    """Report keys of ``obj`` that the Kubernetes type ``ftype`` (see core/k8s_keys.py) does not have."""
    if ftype == "scalar" or obj is None:
        return
    if ftype.startswith("list:"):
        if isinstance(obj, list):
            for index, item in enumerate(obj):
                label = item.get("name") if isinstance(item, Mapping) and "name" in item else index
                check_keys(item, ftype[5:], f"{path}[{label}]", out)
        else:
            out.append(Finding("error", path, f"expected a list, got {type(obj).__name__}"))
        return
    if ftype.startswith("map:"):
        if isinstance(obj, Mapping):
            for key, value in obj.items():
                check_keys(value, ftype[4:], f"{path}.{key}", out)
        else:
            out.append(Finding("error", path, f"expected a mapping, got {type(obj).__name__}"))
        return
    fields = MODELS.get(ftype)
    if fields is None:
        return
    if not isinstance(obj, Mapping):
        out.append(Finding("error", path, f"expected a mapping ({ftype[2:]}), got {type(obj).__name__}"))
        return
    for key, value in obj.items():
        if key in fields:
            check_keys(value, fields[key], f"{path}.{key}", out)
        else:
            out.append(
                Finding("error", f"{path}.{key}", f"not a valid key of {ftype[2:]}", did_you_mean(str(key), fields))
            )


def check_pod_values(pod_values: Mapping[str, Any], path: str, cfg: AgentConfig) -> list[Finding]:
    """basePodTemplate / templateOverrides: chart keys, their Kubernetes content, keys the chart drops."""
    out: list[Finding] = []
    rendered = rendered_keys(cfg.flavour) | (ENTERPRISE_EXTRA_KEYS if cfg.flavour == "enterprise" else set())
    pod_spec, container = MODELS["V1PodSpec"], MODELS["V1Container"]
    for key, value in pod_values.items():
        where = f"{path}.{key}"
        if key in POD_VALUES_TYPES:
            check_keys(value, POD_VALUES_TYPES[key], where, out)
            if key not in rendered and not is_empty(value):
                why = (
                    "in values.yaml but not rendered by 5.x"
                    if key in OSS_IGNORED_KEYS and cfg.flavour == "oss"
                    else "not rendered"
                )
                out.append(Finding("warning", where, f"ignored by the {_chart(cfg)} chart: {why}"))
        elif key in pod_spec or key in container:
            kind = "PodSpec" if key in pod_spec else "Container"
            out.append(
                Finding(
                    "warning",
                    where,
                    f"a {kind} key the {_chart(cfg)} chart does not render: it is silently dropped",
                    "patch the live template or use a template hook; see clearml-helm-charts#335",
                )
            )
        else:
            candidates = list(POD_VALUES_TYPES) + list(pod_spec) + list(container)
            out.append(Finding("error", where, "unknown key", did_you_mean(str(key), candidates)))
    return out


def _chart(cfg: AgentConfig) -> str:
    return "open-source" if cfg.flavour == "oss" else "enterprise"


# --- configuration-level checks ------------------------------------------------------------------------------


def lint_config(cfg: AgentConfig, merge: MergeMode | None = None) -> list[Finding]:
    out: list[Finding] = []
    user = cfg.user_values if cfg.user_values is not None else cfg.values
    out += _top_level(user)
    out += check_pod_values(cfg.base_values, "agentk8sglue.basePodTemplate", cfg)
    if cfg.flavour == "enterprise":
        for name, qc in cfg.queue_configs.items():
            out += check_pod_values(qc.overrides, f"agentk8sglue.queues.{name}.templateOverrides", cfg)
    else:
        out += _enterprise_keys_on_oss(cfg)
    out += _credentials(cfg)
    out += _unserved(cfg)
    out += [Finding("warning", where, why) for where, why in reference_failure_lines(cfg)]
    out += _not_modelled(cfg)
    seen_base = lint_pod_template(cfg.base_template, "base template", schema=False)
    out += seen_base
    base_lines = {f.message for f in seen_base}
    for queue in cfg.all_queues():
        for finding in lint_pod_template(cfg.effective_template(queue, merge), f"queue {queue}", schema=False):
            if finding.message not in base_lines:  # reported once, on the base, when inherited
                out.append(finding)
    return out


def _top_level(user: Mapping[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    for key, value in user.items():
        if key in KNOWN_TOP_LEVEL or key in LEGACY_TOP_LEVEL:
            continue
        hint = did_you_mean(str(key), KNOWN_TOP_LEVEL)
        if isinstance(value, Mapping) and ("clearml" in value or "agentk8sglue" in value):
            hint = f"'{key}.clearml'/'{key}.agentk8sglue' are nested under an unknown key: move them to the top level"
        out.append(Finding("warning", str(key), "not a key of the agent chart: ignored", hint))
    return out


def _enterprise_keys_on_oss(cfg: AgentConfig) -> list[Finding]:
    out: list[Finding] = []
    agent = cfg.values.get("agentk8sglue")
    if not isinstance(agent, Mapping):
        return out
    for key in sorted(ENTERPRISE_ONLY_AGENT_KEYS):
        if key in agent and not is_empty(agent[key]):
            out.append(
                Finding(
                    "warning",
                    f"agentk8sglue.{key}",
                    "an enterprise key: the open-source chart ignores it",
                    "use the clearml-enterprise-agent chart, or one open-source release per pod template",
                )
            )
    return out


# Enterprise keys the public docs describe that kubectl-clearml does not compute with (docs at clearml-docs
# df22ffc4: clearml_agent_custom_workload.md:136-165, air_gapped_env.md:228-250, openshift.md:323,
# release_notes/helm/clearml-enterprise-agent/6.9.md:28-43, clearml_agent_orch_dash_k8s.md:120-150).
NOT_MODELLED_AGENT_KEYS = (
    "taskWorkerIdOverride",
    "workerIdOverride",
    "monitoredResources",
    "serverTasks",
    "appsQueue",
    "airGappedSupport",
    "serviceAccountClusterAccess",
    "orchestrationDashboard.reportType",
    "orchestrationDashboard.gpu.discovery",
    "orchestrationDashboard.cpu",
)
MODELLED_QUEUE_SETTINGS = frozenset({"maxPods", "defaultImage", "useImageEntrypoint"})


def _not_modelled(cfg: AgentConfig) -> list[Finding]:
    if cfg.flavour != "enterprise":
        return []
    user = cfg.user_values if cfg.user_values is not None else cfg.values
    hint = "the enterprise agent uses it; kubectl-clearml's templates, pods and reports do not reflect it"
    out = [
        Finding("warning", f"agentk8sglue.{key}", "not modelled", hint)
        for key in NOT_MODELLED_AGENT_KEYS
        if not is_empty(get_path(user, f"agentk8sglue.{key}"))
    ]
    for name, qc in cfg.queue_configs.items():
        for key in sorted(set(qc.settings) - MODELLED_QUEUE_SETTINGS):
            out.append(Finding("warning", f"agentk8sglue.queues.{name}.queueSettings.{key}", "not modelled", hint))
    return out


def _credentials(cfg: AgentConfig) -> list[Finding]:
    if not cfg.uses_default_credentials:
        return []
    return [
        Finding(
            "warning",
            "clearml.agentk8sglueKey",
            "the chart's default credentials ACCESSKEY/SECRETKEY are in use: the agent cannot log in",
            "set clearml.agentk8sglueKey and clearml.agentk8sglueSecret, or clearml.existingAgentk8sglueSecret, at the top level",
        )
    ]


def _unserved(cfg: AgentConfig) -> list[Finding]:
    out: list[Finding] = []
    for name, qc in cfg.queue_configs.items():
        if name not in cfg.queues and (qc.overrides or qc.settings):
            out.append(
                Finding(
                    "warning",
                    f"agentk8sglue.queues.{name}",
                    "has templateOverrides/queueSettings but the agent does not serve this queue",
                    "served: " + (",".join(cfg.queues) or "none"),
                )
            )
    return out


# --- pod template checks ---------------------------------------------------------------------------------------


def lint_pod_template(template: Mapping[str, Any], where: str, *, schema: bool = True) -> list[Finding]:
    """Checks of one rendered template; ``schema=False`` when its values were already key-checked."""
    out: list[Finding] = []
    if schema:
        check_keys({k: v for k, v in template.items() if k != "kind"}, "V1Pod", where, out)
    spec = template.get("spec") if isinstance(template.get("spec"), Mapping) else {}
    assert isinstance(spec, Mapping)
    containers = [c for c in _items(spec, "containers") + _items(spec, "initContainers") if isinstance(c, Mapping)]
    volume_names = {v.get("name") for v in _items(spec, "volumes") if isinstance(v, Mapping)}
    for index, container in enumerate(containers):
        label = f"{where}: container {container.get('name') or index}"
        out += _duplicate_env(container, label)
        out += _gpu_requests(container, label)
        for mount in _items(container, "volumeMounts"):
            if isinstance(mount, Mapping) and mount.get("name") not in volume_names:
                out.append(
                    Finding(
                        "error",
                        label,
                        f"volumeMount {mount.get('name')!r} at {mount.get('mountPath')} has no volume of that name",
                        "add it to volumes (or extraVolumes); the pod would be rejected",
                    )
                )
    return out


def _items(obj: Mapping[str, Any], key: str) -> list[Any]:
    """The list under ``key``, or none when it is not a list (the key check reports the wrong type)."""
    value = obj.get(key)
    return value if isinstance(value, list) else []


def _duplicate_env(container: Mapping[str, Any], label: str) -> list[Finding]:
    seen: set[str] = set()
    out: list[Finding] = []
    for entry in _items(container, "env"):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if name in seen:
            out.append(Finding("warning", label, f"env {name} is set more than once (the last one wins)"))
        if isinstance(name, str):
            seen.add(name)
    return out


def is_extended_gpu(resource: str) -> bool:
    return "/" in resource and ("gpu" in resource or "/mig-" in resource) and not resource.startswith("kubernetes.io/")


def _gpu_requests(container: Mapping[str, Any], label: str) -> list[Finding]:
    resources = container.get("resources") if isinstance(container.get("resources"), Mapping) else {}
    assert isinstance(resources, Mapping)
    limits = resources.get("limits") or {}
    requests = resources.get("requests") or {}
    if not isinstance(limits, Mapping) or not isinstance(requests, Mapping):
        return []
    out: list[Finding] = []
    for name in sorted({*limits, *requests}):
        if not is_extended_gpu(str(name)):
            continue
        try:
            limit = parse_quantity(limits[name]) if name in limits else None
            request = parse_quantity(requests[name]) if name in requests else None
        except QuantityError as exc:
            out.append(Finding("error", label, f"{name}: {exc.what}"))
            continue
        if limit is None:
            out.append(
                Finding("error", label, f"{name} is requested without a limit", "extended resources need limits")
            )
        elif request is not None and request != limit:
            out.append(
                Finding(
                    "error",
                    label,
                    f"{name} request {requests[name]} differs from limit {limits[name]}",
                    "Kubernetes requires them equal for GPUs; set only the limit",
                )
            )
        elif limit != int(limit):
            out.append(Finding("error", label, f"{name} limit {limits[name]} is not a whole number"))
    return out


def report_max_gpu_note(cfg: AgentConfig) -> str | None:
    """Which dashboard GPU key the configuration uses, for `--lint` output."""
    if cfg.report_max_gpu_key is None:
        return None
    return f"dashboard GPU count {cfg.report_max_gpu} from {cfg.report_max_gpu_key}"
