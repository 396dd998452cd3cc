"""The demo world as data files, and the functions that turn them into API objects.

Files (YAML): ``nodes.yaml`` (the GPU cluster), ``clearml.yaml`` (queues and tasks), ``workloads.yaml`` (pods
already running), and per chart flavour (``enterprise`` / ``oss``) the agent's Helm install:
``agent-<flavour>-values.yaml`` (user values), ``agent-<flavour>-chart.yaml`` (chart metadata and defaults) and
``agent-<flavour>-manifest.yaml`` (the rendered objects). ``${NAME}`` placeholders in the agent files are filled
at load time with the sandbox's URLs and credentials; ``${NAME:b64}`` inserts the value base64-encoded.
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

FLAVOURS = ("enterprise", "oss")
NAMESPACE = "clearml"
RELEASE = "clearml-agent"
RELEASE_SECRET_TYPE = "helm.sh/release.v1"
# A fixed deploy time keeps the release Secret reproducible.
DEPLOYED_AT = "2026-01-15T09:30:00.000000000Z"
DEPLOYED_EPOCH = 1768469400

_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(:b64)?\}")


def read_text(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def read_yaml(name: str) -> Any:
    return yaml.safe_load(read_text(name))


def fill(text: str, values: dict[str, str]) -> str:
    """Replace ``${NAME}`` / ``${NAME:b64}``; an unknown name is an error in the seed files."""

    def one(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        return base64.b64encode(value.encode()).decode() if match.group(2) else value

    return _PLACEHOLDER.sub(one, text)


@dataclass(frozen=True)
class Endpoint:
    """Where the agent's ClearML server is, and its credentials."""

    api_host: str
    access_key: str
    secret_key: str
    web_host: str = "http://127.0.0.1:8080"
    files_host: str = "http://127.0.0.1:8081"

    def clearml_conf(self) -> str:
        return (
            "api {\n"
            f"  api_server: {self.api_host}\n"
            f"  web_server: {self.web_host}\n"
            f"  files_server: {self.files_host}\n"
            "  credentials {\n"
            f'    access_key: "{self.access_key}"\n'
            f'    secret_key: "{self.secret_key}"\n'
            "  }\n"
            "}\n"
        )

    def placeholders(self) -> dict[str, str]:
        return {
            "API_HOST": self.api_host,
            "WEB_HOST": self.web_host,
            "FILES_HOST": self.files_host,
            "ACCESS_KEY": self.access_key,
            "SECRET_KEY": self.secret_key,
            "CLEARML_CONF": self.clearml_conf(),
        }


# ---- nodes ------------------------------------------------------------------------------------------


def nodes() -> list[dict[str, Any]]:
    """Complete Node objects: the file's labels, taints and resources plus what a kubelet reports."""
    out = []
    for index, seed in enumerate(read_yaml("nodes.yaml")):
        node = copy.deepcopy(seed)
        name = node["metadata"]["name"]
        node["metadata"]["labels"] = {**node["metadata"].get("labels", {}), "kubernetes.io/hostname": name}
        node.setdefault("spec", {})
        status = node["status"]
        status["conditions"] = [
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
            {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
            {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID"},
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"},
        ]
        status["addresses"] = [
            {"type": "InternalIP", "address": f"10.0.0.{index + 10}"},
            {"type": "Hostname", "address": name},
        ]
        status["nodeInfo"] = {
            "architecture": "amd64",
            "operatingSystem": "linux",
            "osImage": "Ubuntu 22.04.4 LTS",
            "kernelVersion": "5.15.0-1063-aws",
            "containerRuntimeVersion": "containerd://1.7.20",
            "kubeletVersion": "v1.32.2",
            "kubeProxyVersion": "v1.32.2",
            # Required by the typed clients' V1NodeSystemInfo; stable per node, as a kubelet reports them.
            "bootID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.boot")),
            "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.machine").hex,
            "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.system")).upper(),
        }
        out.append(node)
    return out


# ---- the agent's Helm install -----------------------------------------------------------------------


@dataclass(frozen=True)
class AgentInstall:
    flavour: str
    values: dict[str, Any]  # user-supplied (release `config`)
    chart: dict[str, Any]  # {metadata, values}
    manifest: str  # rendered YAML, placeholders filled
    objects: list[dict[str, Any]]  # the manifest's documents
    release_secret: dict[str, Any]

    def object(self, kind: str) -> dict[str, Any]:
        return next(o for o in self.objects if o["kind"] == kind)

    @property
    def deployment(self) -> dict[str, Any]:
        return self.object("Deployment")

    @property
    def queues(self) -> list[str]:
        """The queues the agent serves, from K8S_GLUE_QUEUE (comma list for OSS, spaces for enterprise)."""
        for container in self.deployment["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env") or ():
                if env["name"] == "K8S_GLUE_QUEUE":
                    return [q for q in re.split(r"[,\s]+", env["value"]) if q]
        return []

    def template_for(self, queue: str) -> dict[str, Any]:
        """The rendered task-pod template the agent uses for a queue (from the template ConfigMap)."""
        config_map = self.object("ConfigMap")
        template = yaml.safe_load(config_map["data"]["template.yaml"])
        if self.flavour == "enterprise":
            return copy.deepcopy(template[queue])
        return copy.deepcopy(template)

    @property
    def worker_id(self) -> str:
        for container in self.deployment["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env") or ():
                if env["name"] == "CLEARML_WORKER_ID":
                    return str(env["value"])
        return RELEASE


def helm_release_payload(release: dict[str, Any]) -> str:
    """What Helm stores in the Secret's ``release`` key: base64(gzip(JSON))."""
    raw = json.dumps(release, separators=(",", ":")).encode()
    return base64.b64encode(gzip.compress(raw, mtime=0)).decode()


def agent_install(flavour: str, endpoint: Endpoint) -> AgentInstall:
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown chart flavour {flavour!r}: expected one of {', '.join(FLAVOURS)}")
    placeholders = endpoint.placeholders()
    values = yaml.safe_load(fill(read_text(f"agent-{flavour}-values.yaml"), placeholders))
    chart = read_yaml(f"agent-{flavour}-chart.yaml")
    placeholders["VALUES_SHA256"] = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()
    manifest_text = fill(read_text(f"agent-{flavour}-manifest.yaml"), placeholders)
    # Helm stores the manifest without our file header comment.
    manifest = manifest_text[manifest_text.index("---") :]
    objects = [doc for doc in yaml.safe_load_all(manifest) if doc]
    release = {
        "name": RELEASE,
        "namespace": NAMESPACE,
        "version": 1,
        "info": {
            "first_deployed": DEPLOYED_AT,
            "last_deployed": DEPLOYED_AT,
            "deleted": "",
            "description": "Install complete",
            "status": "deployed",
            "notes": "",
        },
        "chart": {
            "metadata": chart["metadata"],
            "values": chart["values"],
            "templates": [],
            "files": [],
            "schema": None,
            "lock": None,
        },
        "config": values,
        "manifest": manifest,
        "hooks": [],
    }
    payload = helm_release_payload(release)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"sh.helm.release.v1.{RELEASE}.v1",
            "namespace": NAMESPACE,
            "labels": {
                "owner": "helm",
                "name": RELEASE,
                "version": "1",
                "status": "deployed",
                "createdAt": str(DEPLOYED_EPOCH),
                "modifiedAt": str(DEPLOYED_EPOCH),
            },
        },
        "type": RELEASE_SECRET_TYPE,
        # The API base64-encodes Secret data: Helm's base64 text gets encoded once more.
        "data": {"release": base64.b64encode(payload.encode()).decode()},
    }
    return AgentInstall(flavour, values, chart, manifest, objects, secret)


def decode_release_secret(secret: dict[str, Any]) -> dict[str, Any]:
    """base64 → base64 → gunzip → JSON (the inverse of :func:`agent_install`'s encoding), for tests and demos."""
    payload = base64.b64decode(base64.b64decode(secret["data"]["release"]))
    if payload[:3] == b"\x1f\x8b\x08":
        payload = gzip.decompress(payload)
    result: dict[str, Any] = json.loads(payload)
    return result


# ---- ClearML and workloads ---------------------------------------------------------------------------


def clearml_world() -> dict[str, Any]:
    data: dict[str, Any] = read_yaml("clearml.yaml")
    return data


def workloads() -> dict[str, Any]:
    data: dict[str, Any] = read_yaml("workloads.yaml")
    return data
