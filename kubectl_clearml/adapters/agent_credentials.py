"""ClearML server and credentials of the agent installed in a namespace (``--from-agent``).

The glue Deployment is found by what is stable across chart versions 1.x-5.x: a container named
``k8s-glue`` with an env ``K8S_GLUE_QUEUE``. Its ``CLEARML_API_HOST`` is a plain value; the keys are
``secretKeyRef``s (to ``<fullname>-ac`` or ``existingAgentk8sglueSecret``), which we read.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from kubectl_clearml.adapters.credentials import PartialCredentials
from kubectl_clearml.adapters.kube import Kube
from kubectl_clearml.errors import NotFoundError, UsageError
from kubectl_clearml.logs import register_secret

GLUE_CONTAINER = "k8s-glue"


def glue_container(deployment: dict[str, Any]) -> dict[str, Any] | None:
    spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in spec.get("containers") or []:
        env_names = {e.get("name") for e in container.get("env") or []}
        if container.get("name") == GLUE_CONTAINER and "K8S_GLUE_QUEUE" in env_names:
            return dict(container)
    return None


def find_glue_deployment(kube: Kube, namespace: str | None = None) -> dict[str, Any]:
    ns = namespace or kube.namespace
    for deployment in kube.list("deployments", ns):
        if glue_container(deployment):
            return dict(deployment)
    raise NotFoundError(
        "no ClearML agent found",
        f"namespace {ns}",
        "pass -n with the agent's namespace (a Deployment with a 'k8s-glue' container)",
    )


def _env_value(kube: Kube, namespace: str, entry: dict[str, Any]) -> str | None:
    if "value" in entry:
        return str(entry["value"]) if entry["value"] is not None else None
    ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
    if not ref:
        return None
    secret = kube.get("secrets", ref["name"], namespace)
    raw = (secret.get("data") or {}).get(ref["key"])
    if raw is None:
        raise UsageError(
            f"the agent's Secret has no key {ref['key']!r}",
            f"secret {namespace}/{ref['name']}",
            "fix the agent install (helm values clearml.agentk8sglueKey/Secret)",
        )
    try:
        value = base64.b64decode(raw).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise UsageError("the agent's Secret value is not valid base64 text", f"secret {namespace}/{ref['name']}")
    register_secret(value)
    return value


def agent_credentials(kube: Kube, namespace: str | None = None) -> PartialCredentials:
    ns = namespace or kube.namespace
    deployment = find_glue_deployment(kube, ns)
    container = glue_container(deployment) or {}
    env = {e.get("name"): e for e in container.get("env") or []}
    values = {
        name: _env_value(kube, ns, env[name]) if name in env else None
        for name in ("CLEARML_API_HOST", "CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY")
    }
    verify = env.get("CLEARML_API_HOST_VERIFY_CERT", {}).get("value")
    name = (deployment.get("metadata") or {}).get("name")
    return PartialCredentials(
        api_host=values["CLEARML_API_HOST"],
        access_key=values["CLEARML_API_ACCESS_KEY"],
        secret_key=values["CLEARML_API_SECRET_KEY"],
        verify=False if str(verify).lower() == "false" else None,
        sources=(f"agent deployment {ns}/{name}",),
    )
