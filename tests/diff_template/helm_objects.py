"""Build an agent install in the Kubernetes emulator the way Helm and the chart would: release Secret
(base64(gzip(JSON)), base64-encoded again by the API), glue Deployment and template ConfigMap."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import yaml


def release_secret(
    name: str,
    namespace: str,
    version: int,
    *,
    status: str = "deployed",
    chart_name: str = "clearml-agent",
    chart_version: str = "5.3.2",
    chart_values: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    manifest: str = "",
    gzipped: bool = True,
) -> dict[str, Any]:
    release = {
        "name": name,
        "namespace": namespace,
        "version": version,
        "info": {"status": status, "description": "Install complete"},
        "chart": {"metadata": {"name": chart_name, "version": chart_version}, "values": chart_values or {}},
        "config": config or {},
        "manifest": manifest,
    }
    raw = json.dumps(release).encode()
    helm_payload = base64.b64encode(gzip.compress(raw) if gzipped else raw)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {
            "name": f"sh.helm.release.v1.{name}.v{version}",
            "namespace": namespace,
            "labels": {"owner": "helm", "name": name, "status": status, "version": str(version)},
        },
        "data": {"release": base64.b64encode(helm_payload).decode()},
    }


def glue_deployment(
    name: str, namespace: str, configmap: str, queues: str, *, chart: str = "clearml-agent-5.3.2"
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"helm.sh/chart": chart, "app.kubernetes.io/instance": name},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/instance": name}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/instance": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "k8s-glue",
                            "image": "allegroai/clearml-agent-k8s-base:1.24-21",
                            "env": [{"name": "K8S_GLUE_QUEUE", "value": queues}],
                            "volumeMounts": [{"name": "templates", "mountPath": "/root/template"}],
                        }
                    ],
                    "volumes": [{"name": "templates", "configMap": {"name": configmap}}],
                },
            },
        },
    }


def template_configmap(name: str, namespace: str, template: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"template.yaml": yaml.safe_dump(template, sort_keys=False)},
    }


def manifest(*objects: dict[str, Any]) -> str:
    return "".join(
        f"---\n# Source: clearml-agent/templates/x.yaml\n{yaml.safe_dump(o, sort_keys=False)}" for o in objects
    )
