"""Where ``submit-pod`` takes the queue, its pod template and the pod settings from.

Template sources, first that applies: ``--template FILE`` (a rendered template.yaml), ``-f values.yaml``
(rendered like the chart does, core/agent_config.py), else the agent install live in the namespace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.cli.options import Globals
from kubectl_clearml.core.agent_config import AgentConfig, config_from_user_values
from kubectl_clearml.core.podbuilder import GlueSettings
from kubectl_clearml.core.secrets import MASK
from kubectl_clearml.core.templates import credentials_secret_name
from kubectl_clearml.core.values import get_path
from kubectl_clearml.errors import NotFoundError, UsageError

FALLBACK_WORKER_ID = "kubectl-clearml-submit-pod"


@dataclass
class PodSource:
    queue_id: str
    queue_name: str
    template: dict[str, Any]
    settings: GlueSettings
    notes: list[str] = field(default_factory=list)


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
    cfg, live_worker_id = _config(g, kube, values_files, release, namespace)
    notes.extend(cfg.notes)
    if not cfg.has_queue(queue_name):
        if client is None:
            raise NotFoundError(
                f"queue {queue_name!r} is not served by the agent", cfg.fullname, "served: " + ", ".join(cfg.queues)
            )
        notes.append(f"queue {queue_name} is not served by the agent {cfg.fullname}: using its base template")
    template = cfg.effective_template(queue_name)
    settings = GlueSettings(
        worker_id=worker_id or live_worker_id or cfg.fullname,  # the chart's CLEARML_WORKER_ID default
        credentials_secret=credentials_secret_name(cfg.values, cfg.fullname),
        default_image=str(get_path(cfg.values, "agentk8sglue.defaultContainerImage") or GlueSettings.default_image),
        namespace=cfg.namespace,
    )
    return PodSource(queue_id, queue_name, template, settings, notes)


def _resolve_queue(client: Any, queue: str) -> tuple[str, str]:
    from kubectl_clearml.cli.queues_data import find_queue

    queues = client.call("queues.get_all", {"only_fields": ["id", "name"]}).get("queues") or []
    found = find_queue(list(queues), queue)
    return str(found.get("id") or ""), str(found.get("name") or queue)


def _config(
    g: Globals, kube: Any, values_files: tuple[str, ...], release: str | None, namespace: str
) -> tuple[AgentConfig, str | None]:
    """The agent's configuration and, from a live install, the worker id its glue runs with."""
    from kubectl_clearml.adapters import agent_install

    if values_files:
        layers = agent_install.load_values_files(values_files)
        return config_from_user_values(layers, release=release, namespace=namespace), None
    install = agent_install.find_install(kube, namespace, release)
    return install.config, _deployment_worker_id(install.deployment)


def _deployment_worker_id(deployment: dict[str, Any] | None) -> str | None:
    from kubectl_clearml.adapters.agent_credentials import glue_container

    container = glue_container(deployment) if deployment else None
    for env in (container or {}).get("env") or []:
        if env.get("name") == "CLEARML_WORKER_ID" and env.get("value"):
            return str(env["value"])
    return None


def _load_template(path: str) -> dict[str, Any]:
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
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
