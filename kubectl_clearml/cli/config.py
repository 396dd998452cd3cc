"""``kubectl clearml config``: which cluster, namespace and ClearML server would a command use, and why."""

from __future__ import annotations

from typing import Any

import click

from kubectl_clearml.cli.options import get_globals, global_options
from kubectl_clearml.core.secrets import MASK, mask_access_key, mask_url_userinfo
from kubectl_clearml.errors import KubectlClearmlError
from kubectl_clearml.output import Column, View, echo, render, warn


@click.command("config", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--check", is_flag=True, help="Also connect: Kubernetes /version and ClearML auth.login.")
@global_options
def command(check: bool) -> None:
    """Show the resolved Kubernetes context/namespace and ClearML server/credentials (secrets masked).

    Each setting says where it came from, following kubectl's and ClearML's precedence:
    flags > environment > files (> the live agent with --from-agent).

    \b
    Examples:
      kubectl clearml config
      kubectl clearml config --check -o yaml
      kubectl clearml config --context prod -n clearml --from-agent --check
    """
    g = get_globals()
    fmt = g.output_format(("table", "wide", "json", "yaml"))
    rows: list[dict[str, Any]] = []
    failures: list[KubectlClearmlError] = []

    from kubectl_clearml.cli.connect import clearml_from, kube_from

    kube = None
    try:
        kube = kube_from(g)
        rows += [
            {"name": "kubernetes.context", "value": kube.context or "(in-cluster)", "source": _kube_source(g)},
            {"name": "kubernetes.namespace", "value": kube.namespace, "source": _namespace_source(g, kube)},
            {"name": "kubernetes.server", "value": mask_url_userinfo(kube.server or ""), "source": "kubeconfig"},
        ]
        if check:
            version = kube.version()
            rows.append({"name": "kubernetes.version", "value": version.get("gitVersion"), "source": "server"})
    except KubectlClearmlError as exc:
        failures.append(exc)
        rows.append({"name": "kubernetes", "value": None, "source": "unresolved"})
    try:
        client = clearml_from(g, kube)
        creds = client.credentials
        rows += [
            {"name": "clearml.api_host", "value": mask_url_userinfo(creds.api_host), "source": creds.source_of("api_host")},
            {"name": "clearml.access_key", "value": mask_access_key(creds.access_key), "source": creds.source_of("access_key")},
            {"name": "clearml.secret_key", "value": MASK, "source": creds.source_of("secret_key")},
            {"name": "clearml.verify_tls", "value": str(creds.verify).lower(), "source": creds.source_of("verify")},
        ]
        if check:
            claims = client.token_claims()
            rows.append({"name": "clearml.server_version", "value": claims.get("server_version"), "source": "server"})
            rows.append({"name": "clearml.api_version", "value": claims.get("api_version"), "source": "server"})
    except KubectlClearmlError as exc:
        failures.append(exc)
        rows.append({"name": "clearml", "value": None, "source": "unresolved"})

    view = View(
        kind="setting",
        items=rows,
        columns=[Column("SETTING", "name"), Column("VALUE", "value"), Column("SOURCE", "source")],
        document={"settings": {r["name"]: r["value"] for r in rows}, "sources": {r["name"]: r["source"] for r in rows}},
    )
    echo(render(view, fmt, no_headers=g.no_headers))
    # Print what did resolve, then fail with the ClearML problem first (the others as warnings): this is the
    # ClearML tool, and its credentials are the part users most often get wrong.
    failures.reverse()
    for extra in failures[1:]:
        warn(extra.one_line())
    if failures:
        raise failures[0]


def _kube_source(g: Any) -> str:
    if g.context:
        return "flag --context"
    return "flag --kubeconfig" if g.kubeconfig else "current-context"


def _namespace_source(g: Any, kube: Any) -> str:
    """kubectl's order: -n, else the context's namespace, else "default" (which the context may not say)."""
    if g.namespace:
        return "flag -n"
    if kube.context is None:
        return "service account"
    import os

    from kubectl_clearml.adapters.kubeconfig import choose_kubeconfig

    merged = choose_kubeconfig(g.kubeconfig, g.context, None, os.environ).merged
    entry = next((c for c in merged.get("contexts") or [] if isinstance(c, dict) and c.get("name") == kube.context), {})
    return "context" if (entry.get("context") or {}).get("namespace") else "default (the context sets none)"
