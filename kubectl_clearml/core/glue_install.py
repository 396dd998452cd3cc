"""The objects that run our glue in the cluster in place of the reference agent's, as plain data.

``kubectl clearml glue install`` reads the agent's Deployment (the same object every other command reads)
and derives what the in-cluster ``run-glue`` needs to serve exactly what the agent served: the queues
(``K8S_GLUE_QUEUE``), the worker identity (``CLEARML_WORKER_ID``, so task pods keep the agent's
``CLEARML=agent-<hash>`` label and the lease is shared by every replica), the ClearML server and keys (the
same ``secretKeyRef``s, never a copy of the key), and the pod template (the agent's template ConfigMap,
mounted at the path the chart uses, so a ``helm upgrade`` of the agent still changes what is launched).

Nothing here talks to a server: ``agent_facts`` reads a Deployment dict, ``desired_objects`` returns the
manifests, ``differs`` compares a manifest with what the server holds (server-side defaults ignored).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.core.chart_rules import TEMPLATE_MOUNT, last_env_entry, split_queue_list, template_mount_path

GLUE_CONTAINER = "k8s-glue"  # the chart's glue container (charts/clearml-agent 5.3.2 templates/deployment.yaml)
TEMPLATE_KEY = "template.yaml"
OUR_CONTAINER = "glue"
METRICS_PORT = 9090
RUN_AS = 10001  # the image's non-root user (deploy/Dockerfile)

MANAGED_BY = "kubectl-clearml"
APP_NAME = "kubectl-clearml-glue"
FOR_AGENT = "kubectl-clearml/agent-deployment"  # annotation on our objects: the agent Deployment they replace
TAKEOVER = "kubectl-clearml/takeover"  # annotation on the agent Deployment: what it was before we scaled it

# Env of the agent's glue container that our glue needs too, copied as the agent has them (values or refs).
COPIED_ENV = (
    "CLEARML_API_HOST",
    "CLEARML_WEB_HOST",
    "CLEARML_FILES_HOST",
    "CLEARML_API_HOST_VERIFY_CERT",
    "CLEARML_API_ACCESS_KEY",
    "CLEARML_API_SECRET_KEY",
    "CLEARML_WORKER_ID",
)


@dataclass(frozen=True)
class AgentFacts:
    """What the reference agent's Deployment says about the service it gives."""

    name: str
    namespace: str
    replicas: int
    queues: list[str]
    env: list[dict[str, Any]]  # the COPIED_ENV entries, in the agent's order, last duplicate winning
    template_configmap: str | None
    credentials_secret: str | None
    max_pods: int | None
    selector: dict[str, str]
    takeover: dict[str, Any] | None  # our annotation, when an install already scaled it down


@dataclass(frozen=True)
class InstallOptions:
    image: str
    replicas: int = 1
    max_pods: int | None = None
    node_read: bool = False  # a ClusterRole to read nodes and pods (run-glue's fit check); off: nothing cluster-wide
    image_pull_secrets: Sequence[str] = field(default_factory=tuple)


def glue_container(deployment: Mapping[str, Any]) -> Mapping[str, Any] | None:
    spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in spec.get("containers") or []:
        if container.get("name") == GLUE_CONTAINER:
            return container  # type: ignore[no-any-return]
    return None


def agent_facts(deployment: Mapping[str, Any]) -> AgentFacts:
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    pod_spec = (spec.get("template") or {}).get("spec") or {}
    container = glue_container(deployment) or {}
    env = container.get("env")

    def entry(name: str) -> dict[str, Any]:  # the entry that takes effect (the last duplicate wins)
        return dict(last_env_entry(env, name) or {})

    queue_entry = entry("K8S_GLUE_QUEUE")
    at = template_mount_path(container)  # /root/template, or /home/nonroot/template on enterprise >= 6.12.3
    mounts = {m.get("name") for m in container.get("volumeMounts") or [] if str(m.get("mountPath")).rstrip("/") == at}
    configmap = next(
        (
            str(v["configMap"].get("name"))
            for v in pod_spec.get("volumes") or []
            if v.get("name") in mounts and isinstance(v.get("configMap"), Mapping)
        ),
        None,
    )
    key_ref = (entry("CLEARML_API_ACCESS_KEY").get("valueFrom") or {}).get("secretKeyRef") or {}
    max_pods_text = str(entry("K8S_GLUE_MAX_PODS").get("value") or "").strip()
    annotations = meta.get("annotations") or {}
    takeover = _json_object(annotations.get(TAKEOVER))
    replicas = spec.get("replicas")
    return AgentFacts(
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or ""),
        replicas=int(replicas) if isinstance(replicas, int) else 1,
        queues=split_queue_list(str(queue_entry.get("value") or "")),
        env=[entry(name) for name in COPIED_ENV if last_env_entry(env, name) is not None],
        template_configmap=configmap,
        credentials_secret=str(key_ref["name"]) if key_ref.get("name") else None,
        max_pods=int(max_pods_text) if max_pods_text.isdigit() else None,
        selector={str(k): str(v) for k, v in ((spec.get("selector") or {}).get("matchLabels") or {}).items()},
        takeover=takeover,
    )


def _json_object(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, str):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def glue_name(agent_name: str) -> str:
    """Our objects' name, derived from the agent's so two agents in a namespace get two glues."""
    return f"{agent_name[:55].rstrip('-')}-kc-glue"


def labels(facts: AgentFacts) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": glue_name(facts.name),
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def _meta(facts: AgentFacts, name: str, *, namespaced: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespaced:
        meta["namespace"] = facts.namespace
    return {**meta, "labels": labels(facts), "annotations": {FOR_AGENT: facts.name}}


def problems(facts: AgentFacts) -> list[str]:
    """What stops an install: the glue would not serve what the agent served."""
    found = []
    if not facts.queues:
        found.append("the agent's glue container has no K8S_GLUE_QUEUE value (which queues does it serve?)")
    if facts.template_configmap is None:
        found.append(f"the agent mounts no template ConfigMap at {TEMPLATE_MOUNT}")
    if "CLEARML_API_HOST" not in {e["name"] for e in facts.env}:
        found.append("the agent's glue container has no CLEARML_API_HOST")
    return found


def glue_args(facts: AgentFacts, options: InstallOptions) -> list[str]:
    args = ["run-glue", "-n", facts.namespace, "--template", f"{TEMPLATE_MOUNT}/{TEMPLATE_KEY}"]
    for queue in facts.queues:
        args += ["--queue", queue]
    args += ["--leader-elect", "--metrics-port", str(METRICS_PORT), "--log-format", "json"]
    max_pods = options.max_pods if options.max_pods is not None else facts.max_pods
    if max_pods is not None:
        args += ["--max-pods", str(max_pods)]
    if facts.credentials_secret:
        args += ["--credentials-secret", facts.credentials_secret]
    return args


def role_rules() -> list[dict[str, Any]]:
    """What run-glue does with --template (nothing else is read): each rule is exercised by a named test."""
    return [
        # Launch, follow (watch), and delete task pods (aborted tasks, finished pods after their grace).
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "create", "delete"]},
        # Leader election between replicas.
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
    ]


def desired_objects(facts: AgentFacts, options: InstallOptions) -> list[dict[str, Any]]:
    """ServiceAccount, Role(Binding), optional node reader, Service, PDB (replicas > 1), Deployment last."""
    name = glue_name(facts.name)
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(facts, name)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(facts, name),
         "rules": role_rules()},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _meta(facts, name),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": facts.namespace}]},
    ]
    if options.node_read:
        cluster_name = f"{facts.namespace}-{name}"[:63].rstrip("-")
        objects += [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": _meta(facts, cluster_name, namespaced=False),
             # run-glue's fit check (on by default where it may) judges pods against nodes and every namespace's pods.
             "rules": [{"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list", "watch"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": _meta(facts, cluster_name, namespaced=False),
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_name},
             "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": facts.namespace}]},
        ]
    selector = {"app.kubernetes.io/name": APP_NAME, "app.kubernetes.io/instance": name}
    service_meta = _meta(facts, f"{name}-metrics")
    service_meta["annotations"].update(
        {"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT), "prometheus.io/path": "/metrics"}
    )
    objects.append({
        "apiVersion": "v1", "kind": "Service", "metadata": service_meta,
        "spec": {"selector": selector,
                 "ports": [{"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"}]},
    })
    if options.replicas > 1:
        objects.append({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(facts, name),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}},
        })
    objects.append(_deployment(facts, options, name, selector))
    return objects


def _deployment(facts: AgentFacts, options: InstallOptions, name: str, selector: dict[str, str]) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/metrics", "port": "metrics"}, "periodSeconds": 10, "timeoutSeconds": 3}
    container: dict[str, Any] = {
        "name": OUR_CONTAINER,
        "image": options.image,
        "args": glue_args(facts, options),
        "env": [dict(e) for e in facts.env],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "readinessProbe": {**probe, "initialDelaySeconds": 2},
        "livenessProbe": {**probe, "initialDelaySeconds": 10, "failureThreshold": 3},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "template", "mountPath": TEMPLATE_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod_spec: dict[str, Any] = {
        "serviceAccountName": name,
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS, "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "template", "configMap": {"name": facts.template_configmap}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    if options.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": s} for s in options.image_pull_secrets]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(facts, name),
        "spec": {
            "replicas": options.replicas,
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": {**labels(facts)}}, "spec": pod_spec},
        },
    }


def differs(desired: Any, live: Any) -> bool:
    """True when the server's object lacks something we set; fields the server added are not a difference."""
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return True
        return any(differs(v, live.get(k)) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return True
        return any(differs(d, li) for d, li in zip(desired, live, strict=True))
    return bool(desired != live)


def takeover_annotation(replicas: int, time_text: str, glue: str) -> str:
    return json.dumps({"replicas": replicas, "time": time_text, "glue": glue}, sort_keys=True)


def restore_replicas(facts: AgentFacts) -> int | None:
    """The agent's replicas before our install, from our annotation (None: we never scaled it)."""
    value = (facts.takeover or {}).get("replicas")
    return value if isinstance(value, int) and value >= 0 else None


def who_serves(agent_replicas: int, our_replicas: int) -> str:
    """'both' is the state a handover must never leave: two glues pulling from the same queues."""
    if agent_replicas and our_replicas:
        return "both"
    if our_replicas:
        return "kubectl-clearml"
    return "reference" if agent_replicas else "none"
