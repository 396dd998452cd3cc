"""Reading kubeconfig files as kubectl does (explicit paths; never the client's import-time default)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.core.kubeconfig import choose_context, merge_kubeconfigs, resolve_relative_paths
from kubectl_clearml.errors import UsageError

SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


@dataclass
class KubeconfigChoice:
    paths: list[str]
    context: str | None
    namespace: str
    in_cluster: bool = False
    merged: dict[str, Any] = field(default_factory=dict)


def kubeconfig_paths(flag: str | None, env: Mapping[str, str]) -> list[str]:
    if flag:
        return [os.path.expanduser(flag)]
    listed = [p for p in (env.get("KUBECONFIG") or "").split(os.pathsep) if p]
    if listed:
        return [os.path.expanduser(p) for p in listed]
    home = env.get("HOME") or os.path.expanduser("~")
    return [os.path.join(home, ".kube", "config")]


def choose_kubeconfig(
    flag: str | None, context: str | None, namespace: str | None, env: Mapping[str, str]
) -> KubeconfigChoice:
    import yaml

    paths = kubeconfig_paths(flag, env)
    existing = [p for p in paths if os.path.isfile(p)]
    if flag and not existing:
        raise UsageError("kubeconfig file not found", flag, "check the --kubeconfig path")
    if not existing:
        if env.get("KUBERNETES_SERVICE_HOST") and not context:
            return KubeconfigChoice([], None, namespace or _service_account_namespace(), in_cluster=True)
        raise UsageError(
            "no kubeconfig found",
            ", ".join(paths),
            "pass --kubeconfig, set KUBECONFIG, or run inside a pod",
        )
    documents = []
    for path in existing:
        try:
            with open(path, encoding="utf-8") as handle:
                doc = yaml.safe_load(handle)
        except UnicodeDecodeError:  # a binary or Latin-1 file: kubectl wants UTF-8 (YAML's own encoding)
            raise UsageError("cannot read kubeconfig: not UTF-8 text", path, "fix the file or pass another --kubeconfig")
        except (OSError, yaml.YAMLError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UsageError(f"cannot read kubeconfig: {reason}", path, "fix the YAML or pass another --kubeconfig")
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise UsageError("kubeconfig is not a YAML mapping", path, "fix the file or pass another --kubeconfig")
        documents.append(resolve_relative_paths(doc, os.path.dirname(os.path.abspath(path))))
    merged = merge_kubeconfigs(documents)
    chosen, ns = choose_context(merged, context, namespace)
    return KubeconfigChoice(existing, chosen, ns, merged=merged)


def _service_account_namespace() -> str:
    try:
        with open(SA_NAMESPACE_FILE, encoding="utf-8") as handle:
            return handle.read().strip() or "default"
    except OSError:
        return "default"
