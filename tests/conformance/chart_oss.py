"""An independent restatement of what clearml-agent chart 5.3.2 renders, for the conformance cases.

Written from templates/agentk8sglue-configmap.yaml:1-83 and _helpers.tpl:13-24 of clearml-helm-charts 747c018,
line by line, as text (like Helm does), then read back with YAML: unquoted scalars are retyped exactly as they
would be on a real install. It shares no code with kubectl_clearml, so a drift in either shows as a difference.
"""

from __future__ import annotations

from typing import Any

import yaml

# values.yaml:43-86,96-160 (only what the ConfigMap reads)
CHART_DEFAULTS: dict[str, Any] = {
    "imageCredentials": {"enabled": False, "existingSecret": ""},
    "clearml": {"existingAgentk8sglueSecret": ""},
    "agentk8sglue": {
        "apiServerUrlReference": "https://api.clear.ml",
        "fileServerUrlReference": "https://files.clear.ml",
        "webServerUrlReference": "https://app.clear.ml",
        "serviceExistingAccountName": "",
        "basePodTemplate": {
            "initContainers": [],
            "labels": {},
            "annotations": {},
            "env": [],
            "resources": {},
            "priorityClassName": "",
            "nodeSelector": {},
            "tolerations": [],
            "affinity": {},
            "podSecurityContext": {},
            "containerSecurityContext": {},
            "volumes": [],
            "volumeMounts": [],
        },
    },
}


def coalesce(defaults: Any, user: Any) -> Any:
    """Helm values: maps merge, everything else replaces, null deletes."""
    if not isinstance(defaults, dict) or not isinstance(user, dict):
        return user
    out = dict(defaults)
    for key, value in user.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = coalesce(defaults.get(key), value)
    return out


def fullname(release: str, values: dict[str, Any]) -> str:
    """_helpers.tpl:13-24."""
    if values.get("fullnameOverride"):
        return str(values["fullnameOverride"])[:63].rstrip("-")
    name = values.get("nameOverride") or "clearml-agent"
    return (release if name in release else f"{release}-{name}")[:63].rstrip("-")


def _to_yaml(value: Any, indent: int) -> str:
    """``toYaml . | nindent N``; Go renders nil as ``null``, and a scalar without PyYAML's ``...`` end marker."""
    text = "null" if value is None else yaml.safe_dump(value, default_flow_style=False, sort_keys=True)
    text = text.removesuffix("\n...\n").rstrip("\n")
    return "".join("\n" + " " * indent + line for line in text.split("\n"))


def _scalar(value: Any) -> str:
    """``{{ .Values.x }}``: Go's fmt of the value, unquoted; an empty/missing value prints nothing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_template(user: dict[str, Any], release: str = "clearml-agent", namespace: str = "default") -> Any:
    values = coalesce(CHART_DEFAULTS, user)
    a, c = values["agentk8sglue"], values["clearml"]
    b = a.get("basePodTemplate") or {}
    name = fullname(release, values)
    secret = c.get("existingAgentk8sglueSecret") or f"{name}-ac"
    sa = a.get("serviceExistingAccountName") or f"{name}-sa"
    out = ["apiVersion: v1", "metadata:", f"  namespace: {namespace}", "  labels:" + _to_yaml(b.get("labels"), 4)]
    out.append("  annotations:" + _to_yaml(b.get("annotations"), 4))
    out.append("spec:")
    if values["imageCredentials"].get("enabled"):
        pull = values["imageCredentials"].get("existingSecret") or f"{name}-ark"
        out += ["  imagePullSecrets:", f"  - name: {pull}"]
    if b.get("volumes"):
        out.append("  volumes:" + _to_yaml(b["volumes"], 4))
    out.append(f"  serviceAccountName: {sa}")
    out.append("  securityContext:" + _to_yaml(b.get("podSecurityContext"), 4))
    out.append(f"  priorityClassName: {_scalar(b.get('priorityClassName'))}")
    out.append("  initContainers:" + _to_yaml(b.get("initContainers"), 4))
    out.append("  containers:")
    out.append("  - resources:" + _to_yaml(b.get("resources"), 6))
    out.append("    securityContext:" + _to_yaml(b.get("containerSecurityContext"), 6))
    out += ["    ports:", "    - containerPort: 10022"]
    if b.get("volumeMounts"):
        out.append("    volumeMounts:" + _to_yaml(b["volumeMounts"], 6))
    out.append("    env:")
    for env_name, key in (
        ("CLEARML_API_HOST", "apiServerUrlReference"),
        ("CLEARML_WEB_HOST", "webServerUrlReference"),
        ("CLEARML_FILES_HOST", "fileServerUrlReference"),
    ):
        out += [f"    - name: {env_name}", f"      value: {_scalar(a.get(key))}"]
    for env_name, key in (("CLEARML_API_ACCESS_KEY", "agentk8sglue_key"), ("CLEARML_API_SECRET_KEY", "agentk8sglue_secret")):
        out += [f"    - name: {env_name}", "      valueFrom:", "        secretKeyRef:", f"          name: {secret}"]
        out.append(f"          key: {key}")
    if b.get("env"):
        out.append(_to_yaml(b["env"], 4)[1:])
    for key in ("nodeSelector", "tolerations", "affinity"):
        if b.get(key):
            out.append(f"  {key}:" + _to_yaml(b[key], 4))
    return yaml.safe_load("\n".join(out) + "\n")
