"""How the reference glue of an install builds its pods beyond the template, read from an AgentConfig.

API (pure)::

    task_pod_config(cfg, deployment)        # the clearml.conf task pods get (core/pod_config.py)
    glue_modes(cfg, queue, deployment)      # default image, image entrypoint, ports mode, kind, string templates
    reference_failure_lines(cfg)            # inputs the reference agent fails on (core/reference_failures.py)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubectl_clearml.core.agent_config import AgentConfig
from kubectl_clearml.core.chart_rules import env_plain_value, glue_env, last_env_entry
from kubectl_clearml.core.pod_config import PodConfig, config_from_glue_pod, config_from_values
from kubectl_clearml.core.values import get_path


def task_pod_config(cfg: AgentConfig, deployment: Mapping[str, Any] | None = None) -> PodConfig:
    """The clearml.conf task pods get (core/pod_config.py): from the live glue Deployment when there is one
    (its ``/root/clearml.conf`` Secret volume and env), else from the chart values."""
    if deployment:
        spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
        glue: Mapping[str, Any] = next((c for c in spec.get("containers") or [] if c.get("name") == "k8s-glue"), {})
        return config_from_glue_pod(spec, glue.get("env") or [])
    return config_from_values(cfg.values, cfg.fullname, glue_env(cfg.values, cfg.fullname))


def reference_failure_lines(cfg: AgentConfig) -> list[tuple[str, str]]:
    """(where, why) for the inputs of ``cfg`` the reference agent fails on (core/reference_failures.py)."""
    from kubectl_clearml.core.reference_failures import reference_failures

    if not cfg.values_known:
        return []
    pod_values: dict[str, Mapping[str, Any]] = {"agentk8sglue.basePodTemplate": cfg.base_values}
    if cfg.flavour == "enterprise":
        for name, qc in cfg.queue_configs.items():
            pod_values[f"agentk8sglue.queues.{name}.templateOverrides"] = qc.overrides
    return reference_failures(cfg.values, cfg.user_values, cfg.flavour, cfg.queues, pod_values)


@dataclass(frozen=True)
class GlueModes:
    """How the reference glue of this install builds a queue's pods, beyond the template."""

    default_image: str  # CLEARML_DOCKER_IMAGE (chart: defaultContainerImage); enterprise queueSettings.defaultImage
    use_image_entrypoint: bool = False
    ports_max_services: int | None = None  # ports mode: how many Session Services (pod-1..pod-N)
    kind: str = "pod"  # CLEARML_K8S_GLUE_KIND
    notes: tuple[str, ...] = ()
    string_templates: bool = False  # ${CLEARML_...} substituted per task: an enterprise feature (docs)
    custom_script: str | None = None  # agentk8sglue.containerCustomBashScript (enterprise; docs air_gapped_env.md)


_TRUE = ("1", "true", "yes", "on", "y")


def glue_modes(cfg: AgentConfig, queue: str, deployment: Mapping[str, Any] | None = None) -> GlueModes:
    """Read from the glue's env (the live Deployment's, else the chart's: agentk8sglue-deployment.yaml:85-146)
    and, for the enterprise chart, the queue's ``queueSettings`` (docs clearml_agent_custom_workload.md:136-156)."""
    if deployment:
        spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
        glue: Mapping[str, Any] = next((c for c in spec.get("containers") or [] if c.get("name") == "k8s-glue"), {})
        env: list[Any] = list(glue.get("env") or [])
    else:
        env = glue_env(cfg.values, cfg.fullname)

    def value(name: str) -> str | None:
        return env_plain_value(last_env_entry(env, name))

    notes: list[str] = []
    settings = cfg.queue_settings(queue) if cfg.flavour == "enterprise" else {}
    image = str(settings.get("defaultImage") or value("CLEARML_DOCKER_IMAGE") or "nvidia/cuda")  # k8s.py:477-478
    entrypoint = str(value("K8S_GLUE_POD_USE_IMAGE_ENTRYPOINT") or "").strip().lower() in _TRUE
    if "useImageEntrypoint" in settings:
        entrypoint = bool(settings["useImageEntrypoint"])
    kind = (value("CLEARML_K8S_GLUE_KIND") or "pod").strip().lower()
    if kind == "job":
        notes.append(
            "the reference glue runs this queue's tasks as Jobs (CLEARML_K8S_GLUE_KIND=job) but keeps the template's "
            "apiVersion v1 (k8s.py:955-956), which kubectl rejects for a Job: kubectl-clearml builds a Pod"
        )
    ports: int | None = None
    extra_args = value("K8S_GLUE_EXTRA_ARGS") or ""
    if deployment and "--ports-mode" in extra_args:
        match = re.search(r"--num-of-services\s+(\d+)", extra_args)
        ports = int(match.group(1)) if match else 20
    elif not deployment and get_path(cfg.values, "sessions.portModeEnabled") is True:
        ports = int(get_path(cfg.values, "sessions.maxServices") or 20)
    custom = get_path(cfg.values, "agentk8sglue.containerCustomBashScript") if cfg.flavour == "enterprise" else None
    custom_script = str(custom) if isinstance(custom, str) and custom.strip() else None
    return GlueModes(image, entrypoint, ports, kind, tuple(notes), cfg.flavour == "enterprise", custom_script)
