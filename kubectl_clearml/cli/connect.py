"""Build the Kubernetes and ClearML clients from the parsed global options."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubectl_clearml.cli.options import Globals

if TYPE_CHECKING:
    from kubectl_clearml.adapters.clearml import ClearmlClient
    from kubectl_clearml.adapters.kube import Kube


def kube_from(g: Globals) -> Kube:
    from kubectl_clearml.adapters.kube import connect

    return connect(kubeconfig=g.kubeconfig, context=g.context, namespace=g.namespace)


def clearml_from(g: Globals, kube: Kube | None = None) -> ClearmlClient:
    from kubectl_clearml.adapters.clearml import ClearmlClient
    from kubectl_clearml.adapters.credentials import resolve_credentials

    fallback = None
    if g.from_agent:
        from kubectl_clearml.adapters.agent_credentials import agent_credentials

        fallback = agent_credentials(kube or kube_from(g))
    credentials = resolve_credentials(
        api_host=g.api_host,
        access_key=g.access_key,
        secret_key=g.secret_key,
        config_file=g.clearml_config,
        insecure=g.insecure_skip_tls_verify,
        fallback=fallback,
    )
    return ClearmlClient(credentials)
