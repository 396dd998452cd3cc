"""Where ``submit-pod`` takes the queue, its pod template and the pod settings from.

Template sources, first that applies: ``--template FILE`` (a rendered template.yaml), ``-f values.yaml``
(rendered like the chart does, core/agent_config.py), else the agent install live in the namespace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.cli.options import Globals
from kubectl_clearml.core.agent_config import AgentConfig, config_from_user_values
from kubectl_clearml.core.agent_glue import glue_modes, reference_failure_lines, task_pod_config
from kubectl_clearml.core.podbuilder import GlueSettings
from kubectl_clearml.core.secrets import MASK
from kubectl_clearml.core.templates import credentials_secret_name
from kubectl_clearml.errors import NotFoundError, UsageError

FALLBACK_WORKER_ID = "kubectl-clearml-submit-pod"


@dataclass
class PodSource:
    queue_id: str
    queue_name: str
    template: dict[str, Any]
    settings: GlueSettings
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the reference agent would fail on this input


def resolve_source(
    g: Globals,
    kube: Any,
    client: Any,
    queue: str,
    *,
    values_files: tuple[str, ...] = (),
    template_file: str | None = None,
    release: str | None = None,
    worker_id: str | None = None,
    for_task: bool = True,
) -> PodSource:
    notes: list[str] = []
    queue_id, queue_name = _resolve_queue(client, queue) if client is not None else ("", queue)
    namespace = g.namespace or (kube.namespace if kube is not None else None) or "default"
    if template_file:
        template = _load_template(template_file)
        settings = GlueSettings(worker_id=worker_id or FALLBACK_WORKER_ID, namespace=namespace)
        if client is not None and not _template_env(template, "CLEARML_API_HOST"):
            settings = GlueSettings(worker_id=settings.worker_id, namespace=namespace, api_host=client.server)
            notes.append(f"the template sets no CLEARML_API_HOST: using {client.server}")
        if for_task and not _template_env(template, "CLEARML_API_SECRET_KEY"):  # an ad-hoc pod runs no agent
            notes.append("the template passes no ClearML credentials: the task's agent will not authenticate")
        return PodSource(queue_id, queue_name, template, settings, notes)
    cfg, deployment = _config(g, kube, values_files, release, namespace)
    live_worker_id = _deployment_worker_id(deployment)
    notes.extend(cfg.notes)
    if not cfg.has_queue(queue_name):
        if client is None:
            raise NotFoundError(
                f"queue {queue_name!r} is not served by the agent", cfg.fullname, "served: " + ", ".join(cfg.queues)
            )
        notes.append(f"queue {queue_name} is not served by the agent {cfg.fullname}: using its base template")
    template = cfg.effective_template(queue_name)
    if not (worker_id or live_worker_id or cfg.worker_id):
        notes.append(
            "the glue's CLEARML_WORKER_ID is not a plain value: the CLEARML=agent-… label assumes the chart's "
            f"default {cfg.fullname!r} (pass --worker-id)"
        )
    modes = glue_modes(cfg, queue_name, deployment)
    notes.extend(modes.notes)
    settings = GlueSettings(
        # The last CLEARML_WORKER_ID of the glue container (chart 5.3.2 agentk8sglue-deployment.yaml:134-146).
        worker_id=worker_id or live_worker_id or cfg.worker_id or cfg.fullname,
        credentials_secret=credentials_secret_name(cfg.values, cfg.fullname),
        default_image=modes.default_image,
        namespace=cfg.namespace,
        pod_config=task_pod_config(cfg, deployment),
        use_image_entrypoint=modes.use_image_entrypoint,
        string_templates=modes.string_templates,
        custom_script=modes.custom_script,
        port_slot=_port_slot(kube, cfg.namespace, modes.ports_max_services, notes),
    )
    warnings = [f"{where}: {why}" for where, why in reference_failure_lines(cfg) if _concerns(where, queue_name)]
    return PodSource(queue_id, queue_name, template, settings, notes, warnings)


def _port_slot(kube: Any, namespace: str, max_services: int | None, notes: list[str]) -> int | None:
    """Ports mode: the first Session Service no pod uses, as the reference glue picks it (k8s.py:625-690)."""
    from kubectl_clearml.core.pod_labels import SERIAL_LABELS, first_free_slot

    if not max_services:
        return None
    if kube is None:
        notes.append("ports mode: which Session Service is free is unknown without the cluster: showing pod-1")
        return 1
    pods = [p for key in SERIAL_LABELS for p in kube.list("pods", namespace, label_selector=key)]
    slot = first_free_slot(pods, max_services)
    if slot is None:
        raise UsageError(
            f"ports mode: all {max_services} Session Services are in use",
            f"namespace {namespace}",
            "the reference glue re-enqueues the task until one is free (k8s.py:670-685); wait, or delete a pod",
        )
    return slot


def _concerns(where: str, queue: str) -> bool:
    """A finding about the base, the served queue list, or this queue (not another queue's overrides)."""
    if where.startswith("agentk8sglue.queues.") or where.startswith("queue "):
        return where.startswith(f"agentk8sglue.queues.{queue}.") or where == f"queue {queue}"
    return True


def _resolve_queue(client: Any, queue: str) -> tuple[str, str]:
    from kubectl_clearml.cli.queues_data import find_queue

    queues = client.call("queues.get_all", {"only_fields": ["id", "name"]}).get("queues") or []
    found = find_queue(list(queues), queue)
    return str(found.get("id") or ""), str(found.get("name") or queue)


def _config(
    g: Globals, kube: Any, values_files: tuple[str, ...], release: str | None, namespace: str
) -> tuple[AgentConfig, dict[str, Any] | None]:
    """The agent's configuration and, from a live install, its glue Deployment."""
    from kubectl_clearml.adapters import agent_install

    if values_files:
        layers = agent_install.load_values_files(values_files)
        return config_from_user_values(layers, release=release, namespace=namespace), None
    install = agent_install.find_install(kube, namespace, release)
    return install.config, install.deployment


def _deployment_worker_id(deployment: dict[str, Any] | None) -> str | None:
    """The live glue's worker id: its last CLEARML_WORKER_ID (the same rule as ``-f``, core.agent_config)."""
    from kubectl_clearml.adapters.agent_credentials import glue_container
    from kubectl_clearml.core.chart_rules import env_plain_value, last_env_entry

    container = glue_container(deployment) if deployment else None
    return env_plain_value(last_env_entry((container or {}).get("env"), "CLEARML_WORKER_ID"))


def _load_template(path: str) -> dict[str, Any]:
    import yaml

    from kubectl_clearml.core.yaml_input import MAX_INPUT_BYTES, load

    try:
        with open(path, "rb") as handle:
            data = load(handle.read(MAX_INPUT_BYTES + 1), path)
    except OSError as exc:
        raise UsageError(f"cannot read the template: {exc.strerror}", path) from None
    except yaml.YAMLError as exc:
        raise UsageError(f"the template is not valid YAML: {str(exc).splitlines()[0]}", path) from None
    if not isinstance(data, dict):
        raise UsageError("the template is not a pod spec (not a YAML mapping)", path)
    masked = _masked_paths(data)
    if masked:
        raise UsageError(
            f"the template holds masked secret values ('{MASK}' at {', '.join(masked[:3])})",
            path,
            "it is a dry run's output with secrets masked: use the original, or print it with --show-secrets",
        )
    return data


def _masked_paths(data: Any, path: str = "") -> list[str]:
    if isinstance(data, dict):
        named = f"[name={data['name']}]" if isinstance(data.get("name"), str) else ""
        return [p for k, v in data.items() for p in _masked_paths(v, f"{path}{named}.{k}" if named else f"{path}.{k}")]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _masked_paths(v, f"{path}[{i}]")]
    return [path.lstrip(".")] if data == MASK else []


def _template_env(template: dict[str, Any], name: str) -> bool:
    spec = template.get("spec") if isinstance(template.get("spec"), dict) else template
    containers = spec.get("containers") if isinstance(spec, dict) else None
    first = containers[0] if isinstance(containers, list) and containers and isinstance(containers[0], dict) else {}
    return any(isinstance(e, dict) and e.get("name") == name for e in first.get("env") or [])
