"""Reading kubeconfig files as kubectl does (explicit paths; never the client's import-time default)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.core.kubeconfig import choose_context, merge_kubeconfigs, resolve_relative_paths
from kubectl_clearml.core.names import dns_label_problem
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
        except RecursionError:  # thousands of nested [ or {: no kubeconfig looks like that
            raise UsageError("cannot read kubeconfig: nested too deeply", path,
                             "fix the file or pass another --kubeconfig") from None
        except UnicodeDecodeError:  # a binary or Latin-1 file: kubectl wants UTF-8 (YAML's own encoding)
            raise UsageError("cannot read kubeconfig: not UTF-8 text", path, "fix the file or pass another --kubeconfig")
        except (OSError, yaml.YAMLError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UsageError(f"cannot read kubeconfig: {reason}", path, "fix the YAML or pass another --kubeconfig")
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise UsageError("kubeconfig is not a YAML mapping", path, "fix the file or pass another --kubeconfig")
        _check_sections(doc, path)
        documents.append(resolve_relative_paths(doc, os.path.dirname(os.path.abspath(path))))
    merged = merge_kubeconfigs(documents)
    chosen, ns = choose_context(merged, context, namespace)
    why = dns_label_problem(ns)
    if why is not None:  # the context's namespace goes into request paths just as -n does
        raise UsageError(f"invalid kubeconfig: context {chosen!r} has namespace {ns!r}: {why}", ", ".join(existing),
                         "fix the context's namespace or pass -n NAMESPACE")
    return KubeconfigChoice(existing, chosen, ns, merged=merged)


# Fields kubectl reads as strings: another type is bad input here, not a crash in the client later.
_STRING_FIELDS = {
    "clusters": ("server", "certificate-authority", "certificate-authority-data", "tls-server-name", "proxy-url"),
    "users": ("token", "tokenFile", "client-certificate", "client-key", "client-certificate-data",
              "client-key-data", "username", "password"),
    "contexts": ("cluster", "user", "namespace"),
}


def _check_sections(doc: dict[str, Any], path: str) -> None:
    """clusters/users/contexts are lists of mappings with string fields (kubectl refuses anything else): a bad
    one is bad input naming the key, not a crash further on."""
    hint = "fix the file or pass another --kubeconfig"
    current = doc.get("current-context")
    if current is not None and not isinstance(current, str):
        raise UsageError("invalid kubeconfig: current-context must be a string", f"{path}: current-context", hint)
    for section, inner in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
        entries = doc.get(section)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise UsageError(f"invalid kubeconfig: {section} must be a list, not {type(entries).__name__}",
                             f"{path}: {section}", hint)
        for n, entry in enumerate(entries):
            body = entry.get(inner) if isinstance(entry, dict) else None
            if not isinstance(entry, dict) or not isinstance(entry.get("name", ""), str) or not isinstance(
                body, (dict, type(None))
            ):
                raise UsageError(f"invalid kubeconfig: each of {section} is a mapping with a name and a {inner}",
                                 f"{path}: {section}[{n}]", hint)
            for key in _STRING_FIELDS[section]:
                value = (body or {}).get(key)
                if value is not None and not isinstance(value, str):
                    raise UsageError(f"invalid kubeconfig: {key} must be a string, not {type(value).__name__}",
                                     f"{path}: {section}[{n}].{inner}.{key}", hint)


def inline_token_file(merged: dict[str, Any], context: str | None) -> dict[str, Any]:
    """The chosen user's ``tokenFile`` read now, trimmed, and given as ``token``, as kubectl reads it.

    ``echo $TOKEN > file`` ends in a newline; the client sends it as is ("Bearer tok\\n", an invalid header)
    on every request after its first, whatever is trimmed after loading (its refresh hook re-sets the raw
    value before each request). The client reads the file only once anyway. A missing file is bad input.
    """
    entry = next((c for c in merged.get("contexts") or [] if c.get("name") == context), None)
    user_name = ((entry or {}).get("context") or {}).get("user")
    users = merged.get("users") or []
    index = next((i for i, u in enumerate(users) if u.get("name") == user_name), None)
    if index is None or not isinstance(users[index].get("user"), dict):
        return merged
    user = users[index]["user"]
    token = user.get("token")
    token_file = user.get("tokenFile")
    if isinstance(token, str) and token != token.strip():
        user = {**user, "token": token.strip()}
    elif not token and isinstance(token_file, str) and token_file:
        try:
            with open(token_file, encoding="utf-8") as handle:
                text = handle.read().strip()
        except OSError as exc:
            raise UsageError(f"cannot read the user's tokenFile: {exc.strerror}", f"user {user_name}: {token_file}",
                             "fix the path in the kubeconfig or create the file") from None
        if not text:
            raise UsageError("the user's tokenFile is empty", f"user {user_name}: {token_file}",
                             "write the token into it")
        user = {k: v for k, v in user.items() if k != "tokenFile"} | {"token": text}
    else:
        return merged
    return {**merged, "users": [*users[:index], {**users[index], "user": user}, *users[index + 1:]]}


def _service_account_namespace() -> str:
    try:
        with open(SA_NAMESPACE_FILE, encoding="utf-8") as handle:
            return handle.read().strip() or "default"
    except OSError:
        return "default"
