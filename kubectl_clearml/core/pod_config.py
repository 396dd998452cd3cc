"""The clearml.conf a task pod runs with: the agent's own configuration, mounted from its Secret, never inlined.

The reference glue gives every task pod its configuration (clearml-agent ac65a93, glue/k8s.py:555-569): the
glue's clearml.conf, i.e. the chart's ``clearml.clearmlConfig`` (chart 5.3.2 values.yaml:43-45, stored in the
``<fullname>-ac`` Secret under ``clearml.conf``, clearml-secrets.yaml:9, or ``existingClearmlConfigSecret``,
agentk8sglue-deployment.yaml:70-75,110-113,167-181), followed by ``agent.package_manager.system_site_packages:
true`` (k8s.py:173-178,484, unless ``CLEARML_AGENT_FORCE_SYSTEM_SITE_PACKAGES`` is false) and the glue's git
credentials (k8s.py:478-489). It sends that file as base64 in the pod's args, credentials included. Here the
file stays in the Secret, mounted read-only; the start script (core/pod_script.py) concatenates the image's
``~/clearml.conf`` (the reference appends to it), the mounted file and the non-secret extra lines into a file
outside HOME and points ``CLEARML_CONFIG_FILE`` at it, then runs ``agent.extra_docker_shell_script`` from it
after installing the agent, where the reference runs it (k8s.py:76-104 order, :883). Git credentials the glue
has in its env reach the pod as the same env entries (a ``valueFrom`` stays a reference; a plain-text password is
not copied, with a note).

API (pure)::

    pc = config_from_values(values, fullname, glue_env)      # -f values / a Helm release
    pc = config_from_glue_pod(deployment_pod_spec, glue_env) # a live Deployment
    apply_pod_config(pod, pc, notes)                          # volume, mount, env on the first container
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubectl_clearml.core.values import get_path

CONF_KEY = "clearml.conf"
CONF_VOLUME = "clearml-agent-conf"
CONF_DIR = "/etc/clearml-agent"
CONF_PATH = f"{CONF_DIR}/{CONF_KEY}"
EXTRA_CONF_ENV = "KUBECTL_CLEARML_EXTRA_CONF"  # the non-secret lines the glue adds after the file
GLUE_CONF_MOUNT = "/root/clearml.conf"  # where the chart mounts it in the glue (agentk8sglue-deployment.yaml:72)
SYSTEM_SITE_PACKAGES_LINE = "agent.package_manager.system_site_packages: true"
FORCE_SYSTEM_SITE_PACKAGES_ENV = "CLEARML_AGENT_FORCE_SYSTEM_SITE_PACKAGES"
GIT_ENVS = ("CLEARML_AGENT_GIT_USER", "CLEARML_AGENT_GIT_PASS", "CLEARML_AGENT_GIT_HOST")
_SECRET_ENVS = frozenset({"CLEARML_AGENT_GIT_PASS"})


@dataclass(frozen=True)
class PodConfig:
    secret: str | None  # the Secret with the agent's clearml.conf; None: the glue has no config file
    key: str = CONF_KEY
    system_site_packages: bool = True
    env: tuple[tuple[str, Mapping[str, Any]], ...] = ()  # git credentials as the glue has them
    notes: tuple[str, ...] = ()

    def extra_lines(self) -> list[str]:
        return [SYSTEM_SITE_PACKAGES_LINE] if self.system_site_packages else []


def config_secret_name(values: Mapping[str, Any]) -> str | None:
    """The Secret the chart mounts as the glue's clearml.conf, or None when it mounts none (deployment.yaml:70)."""
    existing = get_path(values, "clearml.existingClearmlConfigSecret")
    if existing:
        return str(existing)
    if get_path(values, "clearml.clearmlConfig"):
        return ""  # the chart's own <fullname>-ac: the caller knows the fullname
    return None


def config_from_values(values: Mapping[str, Any], fullname: str, glue_env: Sequence[Mapping[str, Any]]) -> PodConfig:
    secret = config_secret_name(values)
    return _config(f"{fullname}-ac" if secret == "" else secret, CONF_KEY, glue_env)


def config_from_glue_pod(pod_spec: Mapping[str, Any], glue_env: Sequence[Mapping[str, Any]]) -> PodConfig:
    """From a live glue Deployment's pod spec: the Secret volume behind its clearml.conf mount, the one at its
    ``CLEARML_CONFIG_FILE`` (chart 5.3.2 agentk8sglue-deployment.yaml:110-113), else ``/root/clearml.conf``, else
    one ending in ``/clearml.conf`` (enterprise ≥ 6.12.3 mounts under /home/nonroot)."""
    containers = [c for c in pod_spec.get("containers") or [] if isinstance(c, Mapping)]
    glue = next((c for c in containers if c.get("name") == "k8s-glue"), containers[0] if containers else {})
    mounts = [m for m in glue.get("volumeMounts") or [] if isinstance(m, Mapping)]
    config_file = next(
        (str(e.get("value")) for e in reversed(glue_env) if isinstance(e, Mapping) and e.get("name") == "CLEARML_CONFIG_FILE"),
        None,
    )
    mount = next((m for m in mounts if m.get("mountPath") in (config_file, GLUE_CONF_MOUNT)), None)
    mount = mount or next((m for m in mounts if str(m.get("mountPath")).endswith("/clearml.conf")), None)
    secret, key = None, CONF_KEY
    if mount is not None:
        volume: Mapping[str, Any] = next(
            (v for v in pod_spec.get("volumes") or [] if v.get("name") == mount.get("name")), {}
        )
        source = volume.get("secret") if isinstance(volume.get("secret"), Mapping) else None
        if source is not None:
            secret = str(source.get("secretName") or "") or None
            sub_path = mount.get("subPath") or CONF_KEY
            item = next((i for i in source.get("items") or [] if i.get("path") == sub_path), None)
            key = str(item["key"]) if item else str(sub_path)
    return _config(secret, key, glue_env)


def _config(secret: str | None, key: str, glue_env: Sequence[Mapping[str, Any]]) -> PodConfig:
    last: dict[str, Mapping[str, Any]] = {}
    for entry in glue_env:  # the last duplicate wins, as in the kubelet
        if isinstance(entry, Mapping) and entry.get("name"):
            last[str(entry["name"])] = entry
    force = last.get(FORCE_SYSTEM_SITE_PACKAGES_ENV, {}).get("value")
    system_site_packages = str(force).strip().lower() not in ("0", "false", "no", "off") if force is not None else True
    env: list[tuple[str, Mapping[str, Any]]] = []
    notes: list[str] = []
    for name in GIT_ENVS:
        found = last.get(name)
        if found is None:
            continue
        entry = found
        if "valueFrom" in entry:
            env.append((name, {"valueFrom": entry["valueFrom"]}))
        elif name in _SECRET_ENVS:
            notes.append(f"{name} is plain text in the glue's env: not copied into task pods (use a secretKeyRef)")
        elif entry.get("value") is not None:
            env.append((name, {"value": str(entry["value"])}))
    return PodConfig(secret, key, system_site_packages, tuple(env), tuple(notes))


def apply_pod_config(pod: dict[str, Any], pc: PodConfig, notes: list[str]) -> list[tuple[str, Any]]:
    """Add the Secret volume and its read-only mount to ``pod``; returns the env entries for the task container."""
    notes.extend(pc.notes)
    env: list[tuple[str, Any]] = list(pc.env)
    extra = pc.extra_lines()
    if extra:
        env.append((EXTRA_CONF_ENV, {"value": "\n".join(extra)}))
    if not pc.secret:
        notes.append("the agent has no clearml.conf (no clearml.clearmlConfig): the task gets only " + "; ".join(extra))
        return env
    spec = pod["spec"]
    volumes = [v for v in spec.get("volumes") or [] if not (isinstance(v, Mapping) and v.get("name") == CONF_VOLUME)]
    volumes.append({"name": CONF_VOLUME, "secret": {"secretName": pc.secret, "items": [{"key": pc.key, "path": CONF_KEY}]}})
    spec["volumes"] = volumes
    first = spec["containers"][0]
    mounts = [m for m in first.get("volumeMounts") or [] if not (isinstance(m, Mapping) and m.get("name") == CONF_VOLUME)]
    mounts.append({"name": CONF_VOLUME, "mountPath": CONF_DIR, "readOnly": True})
    first["volumeMounts"] = mounts
    notes.append(
        f"clearml.conf: the agent's, from Secret {pc.secret} key {pc.key} mounted at {CONF_PATH}"
        + (f", plus {'; '.join(extra)}" if extra else "")
        + " (the reference glue inlines it as base64 in the pod's args)"
    )
    return env
