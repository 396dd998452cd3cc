"""Find a live ClearML agent install: its Helm release (values, manifest) and its live objects.

API::

    install = find_install(kube, namespace, release=None)
    install.source          # "helm-release" or "live-objects" (Argo CD renders without release Secrets)
    install.release         # HelmRelease | None: chart name/version, chart.values, config, manifest
    install.config          # core AgentConfig: from the release values, else from the live objects
    load_live_config(kube, namespace=None, release=None) -> AgentConfig
    install.rendered        # RenderedTemplate parsed from the live ConfigMap's template.yaml (or None)
    install.served_queues   # from the glue's K8S_GLUE_QUEUE, when the Deployment exists
    load_values_files(paths) -> list[dict]   # -f files (``-`` reads stdin), in order

A release is found from Helm's release Secrets (``owner=helm``, ``status=deployed``, the highest ``version``
per ``name``; data ``release`` = base64(base64(gzip(JSON))) as the API returns it). Without ``--release``,
the deployed releases of the agent charts in the namespace are considered; several are an error that lists
them. Without any release, the glue Deployment (container ``k8s-glue`` with env ``K8S_GLUE_QUEUE``) and the
ConfigMap mounted at ``/root/template`` are read. Object names always come from the manifest or the
Deployment, never from naming rules.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import yaml

from kubectl_clearml.adapters.agent_credentials import glue_container
from kubectl_clearml.adapters.kube import Kube
from kubectl_clearml.adapters.values_file import load_values, register_value_secrets
from kubectl_clearml.core.agent_config import AgentConfig, load_agent_config, split_queue_list
from kubectl_clearml.core.chart_defaults import ENTERPRISE_CHART_NAME, OSS_CHART_NAME, Flavour
from kubectl_clearml.core.templates import RenderedTemplate, parse_rendered_template
from kubectl_clearml.core.values import coalesce
from kubectl_clearml.errors import AuthError, NotFoundError, UsageError

AGENT_CHARTS = (OSS_CHART_NAME, ENTERPRISE_CHART_NAME)
TEMPLATE_MOUNT = "/root/template"
TEMPLATE_KEY = "template.yaml"
GZIP_MAGIC = b"\x1f\x8b\x08"


class CorruptReleaseError(UsageError):
    """A Helm release Secret whose ``release`` data cannot be decoded."""


def load_values_files(paths: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    layers = []
    for path in paths:
        layers.append(load_values(path))  # '-' is stdin
    for layer in layers:
        _register_value_secrets(layer)
    return layers


def _register_value_secrets(values: dict[str, Any]) -> None:
    register_value_secrets(values)


def decode_release(data: str, where: str = "release Secret") -> dict[str, Any]:
    """Secret ``data.release`` as the API returns it -> the release JSON."""
    try:
        payload = base64.b64decode(data, validate=False)
        payload = base64.b64decode(payload, validate=False)
        if payload[:3] == GZIP_MAGIC:
            payload = gzip.decompress(payload)
        release = json.loads(payload)
    except (binascii.Error, ValueError, OSError, EOFError, zlib.error) as exc:
        raise CorruptReleaseError(
            "cannot decode the Helm release Secret", where, f"{type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(release, dict):
        raise CorruptReleaseError("the Helm release Secret does not hold a release object", where)
    return release


@dataclass
class HelmRelease:
    name: str
    namespace: str
    version: int
    status: str
    chart_name: str
    chart_version: str | None
    chart_values: dict[str, Any]
    config: dict[str, Any]
    manifest: str
    secret_name: str

    @property
    def effective_values(self) -> dict[str, Any]:
        return coalesce(self.chart_values, self.config)

    def manifest_objects(self) -> list[dict[str, Any]]:
        try:
            return [doc for doc in yaml.safe_load_all(self.manifest) if isinstance(doc, dict)]
        except yaml.YAMLError:
            raise CorruptReleaseError("the release manifest is not valid YAML", self.secret_name) from None

    def glue_deployment(self) -> dict[str, Any] | None:
        for obj in self.manifest_objects():
            if obj.get("kind") == "Deployment" and glue_container(obj):
                return obj
        return None


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _release_from_secret(secret: dict[str, Any]) -> HelmRelease:
    meta = secret.get("metadata") or {}
    where = f"secret {meta.get('namespace')}/{meta.get('name')}"
    data = (secret.get("data") or {}).get("release")
    if not data:
        raise CorruptReleaseError("the Helm release Secret has no 'release' data", where)
    raw = decode_release(data, where)
    chart = _mapping(raw.get("chart"))
    metadata = _mapping(chart.get("metadata"))
    chart_values = _mapping(chart.get("values"))
    config = _mapping(raw.get("config"))
    _register_value_secrets(config)
    labels = meta.get("labels") or {}
    return HelmRelease(
        name=str(raw.get("name") or labels.get("name") or ""),
        namespace=str(raw.get("namespace") or meta.get("namespace") or ""),
        version=int(raw.get("version") or labels.get("version") or 0),
        status=str(_mapping(raw.get("info")).get("status") or labels.get("status") or ""),
        chart_name=str(metadata.get("name") or ""),
        chart_version=metadata.get("version"),
        chart_values=chart_values,
        config=config,
        manifest=str(raw.get("manifest") or ""),
        secret_name=str(meta.get("name") or ""),
    )


def _latest_deployed(kube: Kube, namespace: str, release: str | None) -> list[dict[str, Any]]:
    selector = "owner=helm,status=deployed" + (f",name={release}" if release else "")
    try:
        secrets = list(kube.list("secrets", namespace, label_selector=selector))
    except AuthError as exc:
        raise AuthError(
            exc.what,
            exc.obj,
            "the agent's configuration is read from its Helm release Secret: ask for 'list secrets' in this "
            "namespace, or pass -f with the agent's values file",
        ) from None
    latest: dict[str, dict[str, Any]] = {}
    for secret in secrets:
        if secret.get("type") not in (None, "helm.sh/release.v1"):
            continue
        labels = (secret.get("metadata") or {}).get("labels") or {}
        name = labels.get("name", "")
        try:
            version = int(labels.get("version", 0))
        except ValueError:
            version = 0
        current = latest.get(name)
        if current is None or version > int(((current.get("metadata") or {}).get("labels") or {}).get("version", 0)):
            latest[name] = secret
    return [latest[name] for name in sorted(latest)]


def find_release(kube: Kube, namespace: str, release: str | None = None) -> HelmRelease | None:
    """The deployed agent release (``release`` by name, else the only agent release), or None."""
    candidates = [_release_from_secret(s) for s in _latest_deployed(kube, namespace, release)]
    if release:
        if not candidates:
            raise NotFoundError(
                f"no deployed Helm release named {release!r}",
                f"namespace {namespace}",
                "check the name with 'helm list -n " + namespace + "', or omit --release",
            )
        return candidates[0]
    agents = [r for r in candidates if r.chart_name in AGENT_CHARTS or r.glue_deployment() is not None]
    if len(agents) > 1:
        names = ", ".join(f"{r.name} ({r.chart_name})" for r in agents)
        raise UsageError(f"several agent releases in namespace {namespace}: {names}", hint="pick one with --release")
    return agents[0] if agents else None


@dataclass
class LiveInstall:
    namespace: str
    source: str
    release: HelmRelease | None
    deployment: dict[str, Any] | None
    configmap_name: str | None
    rendered: RenderedTemplate | None
    served_queues: list[str] | None
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        if self.release:
            return self.release.name
        return str(((self.deployment or {}).get("metadata") or {}).get("name") or "")

    @property
    def config(self) -> AgentConfig:
        """The agent configuration: from the release values, else from the live objects alone."""
        if self.release is not None:
            cfg = load_agent_config(
                self.release.effective_values,
                chart_name=self.release.chart_name or None,
                chart_version=self.release.chart_version,
                release=self.release.name,
                namespace=self.namespace,
                served_queues=self.served_queues,
                user_values=self.release.config,
            )
        else:
            cfg = self._config_from_objects()
        cfg.rendered = self.rendered
        cfg.notes.extend(self.notes)
        return cfg

    def _config_from_objects(self) -> AgentConfig:
        meta = (self.deployment or {}).get("metadata") or {}
        chart_label = str((meta.get("labels") or {}).get("helm.sh/chart") or "")
        per_queue = self.rendered is not None and self.rendered.single is None
        flavour: Flavour = "enterprise" if chart_label.startswith(ENTERPRISE_CHART_NAME) or per_queue else "oss"
        release = (meta.get("annotations") or {}).get("meta.helm.sh/release-name") or meta.get("name")
        cfg = load_agent_config(
            {"fullnameOverride": meta.get("name")},
            flavour=flavour,
            release=str(release or ""),
            namespace=self.namespace,
            served_queues=self.served_queues or [],
        )
        cfg.values_known = False
        cfg.notes.append(
            "no Helm release Secret (Argo CD or helm template): using the live Deployment and template ConfigMap"
        )
        return cfg


def template_configmap_name(deployment: dict[str, Any]) -> str | None:
    """The ConfigMap behind the glue's ``/root/template`` mount."""
    spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    container = glue_container(deployment) or {}
    mounts = [m.get("name") for m in container.get("volumeMounts") or [] if m.get("mountPath") == TEMPLATE_MOUNT]
    for volume in spec.get("volumes") or []:
        if volume.get("name") in mounts and isinstance(volume.get("configMap"), dict):
            return str(volume["configMap"].get("name"))
    return None


def _served_queues(deployment: dict[str, Any]) -> list[str] | None:
    for entry in (glue_container(deployment) or {}).get("env") or []:
        if entry.get("name") == "K8S_GLUE_QUEUE" and "value" in entry:
            return split_queue_list(entry["value"])
    return None


def _find_glue_deployment(kube: Kube, namespace: str, name: str | None) -> dict[str, Any] | None:
    if name:
        try:
            deployment = kube.get("deployments", name, namespace)
        except NotFoundError:
            return None
        return dict(deployment) if glue_container(deployment) else None
    for deployment in kube.list("deployments", namespace):
        if glue_container(deployment):
            return dict(deployment)
    return None


def find_install(kube: Kube, namespace: str | None = None, release: str | None = None) -> LiveInstall:
    ns = namespace or kube.namespace
    helm = find_release(kube, ns, release)
    notes: list[str] = []
    deployment_name = None
    if helm is not None:
        manifest_deployment = helm.glue_deployment()
        deployment_name = ((manifest_deployment or {}).get("metadata") or {}).get("name")
        if manifest_deployment is None:
            notes.append(f"release {helm.name} has no glue Deployment in its manifest")
    deployment = _find_glue_deployment(kube, ns, deployment_name) if helm is None or deployment_name else None
    if helm is None and deployment is None:
        raise NotFoundError(
            "no ClearML agent install found",
            f"namespace {ns}",
            "pass -n with the agent's namespace, or --release NAME (no agent Helm release and no Deployment "
            "with a 'k8s-glue' container)",
        )
    if helm is not None and deployment is None and deployment_name:
        notes.append(f"the release's Deployment {deployment_name} is not in the cluster")
    cm_name = template_configmap_name(deployment) if deployment else None
    if cm_name is None and helm is not None and helm.glue_deployment():
        cm_name = template_configmap_name(helm.glue_deployment() or {})
    rendered = _read_template(kube, ns, cm_name, notes) if cm_name else None
    return LiveInstall(
        namespace=ns,
        source="helm-release" if helm else "live-objects",
        release=helm,
        deployment=deployment,
        configmap_name=cm_name,
        rendered=rendered,
        served_queues=_served_queues(deployment) if deployment else None,
        notes=notes,
    )


def _read_template(kube: Kube, namespace: str, name: str, notes: list[str]) -> RenderedTemplate | None:
    try:
        configmap = kube.get("configmaps", name, namespace)
    except NotFoundError:
        notes.append(f"the template ConfigMap {name} is not in the cluster")
        return None
    text = (configmap.get("data") or {}).get(TEMPLATE_KEY)
    if text is None:
        notes.append(f"ConfigMap {name} has no key {TEMPLATE_KEY}")
        return None
    return parse_rendered_template(text, f"configmap {namespace}/{name} key {TEMPLATE_KEY}")


def load_live_config(kube: Kube, namespace: str | None = None, release: str | None = None) -> AgentConfig:
    """Shortcut for commands that only need the model: ``find_install(...).config``."""
    return find_install(kube, namespace, release).config


# Names other modules may already use.
find_agent_install = find_install
find_agent_config = load_live_config
