"""Rules of the agent chart and glue that need only values: env precedence, flavour, merge rule, queue list.

Facts at clearml-helm-charts 747c018 (charts/clearml-agent 5.3.2) and 25af4a4^ (4.0.10), clearml-agent
ac65a93, clearml-docs df22ffc4; each function cites its line.

API (pure)::

    last_env_entry(env, "CLEARML_WORKER_ID") / env_plain_value(entry) / glue_env(values, fullname)
    guess_flavour(values, chart_name) -> FlavourGuess(flavour, from_chart, enterprise_keys, oss_keys).notes()
    merge_rule(flavour, chart_version, legacy) -> ("deep" | "replace", why)
    split_queue_list("a,b")
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubectl_clearml.core.chart_defaults import ENTERPRISE_CHART_NAME, Flavour
from kubectl_clearml.core.templates import MergeMode
from kubectl_clearml.core.values import get_path

# Newest first: the first one present wins (agent-chart.md §6).
REPORT_MAX_GPU_KEYS = (
    "agentk8sglue.orchestrationDashboard.gpu.reportMax",
    "agentk8sglue.orchestrationDashboard.reportMaxGpu",
    "agentk8sglue.dashboardReportMaxGpu",
)


def last_env_entry(env: Any, name: str) -> Mapping[str, Any] | None:
    """The entry of a container env list that takes effect for ``name``: the *last* one. The kubelet resolves
    duplicate names in order, so a later entry overrides an earlier one; the chart relies on it, appending
    ``agentk8sglue.extraEnvs`` after its own ``CLEARML_WORKER_ID`` and ``K8S_GLUE_QUEUE`` (clearml-agent chart
    5.3.2, templates/agentk8sglue-deployment.yaml:134-146). One rule for ``-f`` values and live Deployments."""
    found = None
    for entry in env if isinstance(env, (list, tuple)) else ():
        if isinstance(entry, Mapping) and entry.get("name") == name:
            found = entry
    return found


def glue_env(values: Mapping[str, Any], fullname: str) -> list[dict[str, Any]]:
    """The env entries of the chart's glue container that the plugin reads, in the chart's order
    (5.3.2 agentk8sglue-deployment.yaml:134-146): ``CLEARML_WORKER_ID`` = fullname, ``CLEARML_DOCKER_IMAGE`` =
    ``defaultContainerImage``, ``K8S_GLUE_QUEUE`` = ``agentk8sglue.queue``, then ``extraEnvs`` as given."""
    agent = values.get("agentk8sglue") if isinstance(values.get("agentk8sglue"), Mapping) else {}
    assert isinstance(agent, Mapping)
    env: list[dict[str, Any]] = [
        {"name": "CLEARML_WORKER_ID", "value": fullname},
        {"name": "CLEARML_DOCKER_IMAGE", "value": agent.get("defaultContainerImage")},
        {"name": "K8S_GLUE_QUEUE", "value": agent.get("queue")},
    ]
    extra = agent.get("extraEnvs")
    if isinstance(extra, list):
        env.extend(dict(e) for e in extra if isinstance(e, Mapping))
    return env


def env_plain_value(entry: Mapping[str, Any] | None) -> str | None:
    """A literal env value, or None when the entry is missing or comes from ``valueFrom`` (known only in the pod)."""
    if entry is None or "valueFrom" in entry or entry.get("value") is None:
        return None
    return str(entry["value"])


def merge_rule(flavour: Flavour, chart_version: str | None, legacy: bool) -> tuple[MergeMode, str]:
    """The default rule for templateOverrides over basePodTemplate, per chart version, with its evidence.

    - 3.x/4.x (``enterpriseFeatures``): each key set in templateOverrides replaces the base's value
      (clearml-helm-charts 25af4a4^, charts/clearml-agent 4.0.10 templates/_helpers.tpl:149-236,
      ``templateOverrides.X | default basePodTemplate.X``): ``replace``;
    - enterprise 6.x (chart not public): lists replace, since 6.11 added ``extraVolumes``/``extraVolumeMounts``
      to append to them (clearml-docs release_notes/helm/clearml-enterprise-agent/6.11.md:18); maps are taken
      as merged, an assumption: the docs' examples (clearml_agent_custom_workload.md:51-90) read the same under
      either rule: ``deep``;
    - the open-source chart has no templateOverrides; the rule never applies.
    """
    major = _major(chart_version)
    if legacy or (flavour == "enterprise" and major is not None and major < 5):
        return "replace", (
            "replace: the 4.x chart replaced each key set in templateOverrides (chart 4.0.10 _helpers.tpl:149-236)"
        )
    if flavour == "enterprise":
        return "deep", (
            "deep (maps merge, lists replace): enterprise 6.11 added extraVolumes/extraVolumeMounts to append to "
            "lists (release notes 6.11), so lists replace; maps merging is assumed, the chart is not public"
        )
    return "deep", "the open-source chart has no templateOverrides"


def _major(version: str | None) -> int | None:
    match = re.match(r"^\D*(\d+)", str(version or ""))
    return int(match.group(1)) if match else None


def split_queue_list(text: Any) -> list[str]:
    """``K8S_GLUE_QUEUE`` / ``agentk8sglue.queue``: comma list (5.2+) or space list (4.x enterprise)."""
    if text is None:
        return []
    if isinstance(text, (list, tuple)):
        return [str(q).strip() for q in text if str(q).strip()]
    return [q for q in re.split(r"[,\s]+", str(text)) if q]


@dataclass(frozen=True)
class FlavourGuess:
    """The chart flavour and why: from the chart's name when known, else from the keys the values use."""

    flavour: Flavour
    from_chart: bool
    enterprise_keys: tuple[str, ...] = ()  # values keys only the enterprise chart reads
    oss_keys: tuple[str, ...] = ()  # values keys only the open-source chart reads

    @property
    def mixed(self) -> bool:
        return bool(self.enterprise_keys and self.oss_keys)

    def notes(self) -> list[str]:
        """What to tell the user: which keys forced a guess from values alone, and a warning on a mix."""
        if self.from_chart:
            return []
        if self.mixed:
            return [
                "values mix open-source keys ("
                + ", ".join(self.oss_keys)
                + ") and enterprise keys ("
                + ", ".join(self.enterprise_keys)
                + "): read as the open-source chart, which renders only basePodTemplate (5.3.2 "
                "templates/agentk8sglue-configmap.yaml:11-83), so queues.*.templateOverrides is ignored; "
                "pass --flavour enterprise if these values are for clearml-enterprise-agent"
            ]
        if self.enterprise_keys:
            return [
                "flavour guessed from the values: enterprise, because of " + ", ".join(self.enterprise_keys)
                + " (pass --flavour oss for the open-source chart)"
            ]
        return []


_OSS_ONLY_KEYS = ("agentk8sglue.queue",)  # 5.3.2 values.yaml; K8S_GLUE_QUEUE (agentk8sglue-deployment.yaml:142)


def guess_flavour(values: Mapping[str, Any], chart_name: str | None = None) -> FlavourGuess:
    """The chart decides when its name is known (a release, a live Deployment's helm.sh/chart label, or
    ``--flavour``); from values alone the keys decide, and a mix reads as open-source: ``agentk8sglue.queue``
    exists only there, and that chart ignores every enterprise key (clearml-helm-charts issue #237)."""
    legacy_on = get_path(values, "enterpriseFeatures.enabled") is True
    if chart_name:
        if chart_name.startswith(ENTERPRISE_CHART_NAME) or legacy_on:
            # legacy_on: a 3.x/4.x open-source chart with the enterprise code switched on
            return FlavourGuess("enterprise", True)
        return FlavourGuess("oss", True)
    agent = values.get("agentk8sglue") if isinstance(values.get("agentk8sglue"), Mapping) else {}
    assert isinstance(agent, Mapping)
    enterprise: list[str] = []
    if agent.get("queues"):
        enterprise.append("agentk8sglue.queues")
    if agent.get("createQueues") is not None:
        enterprise.append("agentk8sglue.createQueues")
    enterprise += [k for k in REPORT_MAX_GPU_KEYS if get_path(values, k) is not None]
    if legacy_on:
        return FlavourGuess("enterprise", False, ("enterpriseFeatures.enabled",))
    if get_path(values, "enterpriseFeatures.queues"):
        enterprise.append("enterpriseFeatures.queues")
    oss = tuple(k for k in _OSS_ONLY_KEYS if get_path(values, k) not in (None, ""))
    flavour: Flavour = "enterprise" if enterprise and not oss else "oss"
    return FlavourGuess(flavour, False, tuple(enterprise), oss)


def detect_flavour(values: Mapping[str, Any], chart_name: str | None = None) -> Flavour:
    """``guess_flavour(...).flavour``."""
    return guess_flavour(values, chart_name).flavour


TEMPLATE_MOUNT = "/root/template"  # chart 5.3.2 agentk8sglue-deployment.yaml:68-69


def template_mount_path(container: Mapping[str, Any]) -> str | None:
    """Where the glue container mounts its template ConfigMap: the directory of ``--template-yaml`` in its
    K8S_GLUE_EXTRA_ARGS (chart 5.3.2 agentk8sglue-deployment.yaml:105-108), else ``/root/template``, else a
    mount ending in ``/template`` (enterprise ≥ 6.12.3 runs as non-root with HOME /home/nonroot, clearml-docs
    enterprise_agent_upgrade_6_12_3.md)."""
    args = env_plain_value(last_env_entry(container.get("env"), "K8S_GLUE_EXTRA_ARGS")) or ""
    match = re.search(r"--template-yaml\s+(\S+)", args)
    wanted = [match.group(1).rsplit("/", 1)[0], match.group(1)] if match else []
    paths = [str(m.get("mountPath") or "").rstrip("/") for m in container.get("volumeMounts") or []]
    chosen = next((p for p in wanted if p in paths), None) or (TEMPLATE_MOUNT if TEMPLATE_MOUNT in paths else None)
    return chosen or next((p for p in paths if p.endswith("/template")), None)
