"""Build the Kubernetes and ClearML clients from the parsed global options."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from kubectl_clearml.cli.options import Globals
from kubectl_clearml.errors import (
    AuthError,
    ExitStatus,
    KubectlClearmlError,
    NotConfiguredError,
    NotFoundError,
    UsageError,
)

if TYPE_CHECKING:
    from kubectl_clearml.adapters.clearml import ClearmlClient
    from kubectl_clearml.adapters.credentials import PartialCredentials
    from kubectl_clearml.adapters.kube import Kube


def kube_from(g: Globals, request_timeout: float | None = None) -> Kube:
    """The Kubernetes client; ``request_timeout`` also bounds each run of an exec credential plugin."""
    from kubectl_clearml.adapters.kube_connect import connect

    if request_timeout is None:
        return connect(kubeconfig=g.kubeconfig, context=g.context, namespace=g.namespace)
    return connect(kubeconfig=g.kubeconfig, context=g.context, namespace=g.namespace, exec_timeout=request_timeout)


def clearml_from(g: Globals, kube: Kube | None = None) -> ClearmlClient:
    from kubectl_clearml.adapters.clearml import ClearmlClient
    from kubectl_clearml.adapters.credentials import resolve_credentials

    def from_agent() -> PartialCredentials:  # read the agent's Secret only when flags/env/files fall short
        from kubectl_clearml.adapters.agent_credentials import agent_credentials

        return agent_credentials(kube or kube_from(g))

    credentials = resolve_credentials(
        api_host=g.api_host,
        access_key=g.access_key,
        secret_key=g.secret_key,
        config_file=g.clearml_config,
        insecure=g.insecure_skip_tls_verify,
        fallback=from_agent if g.from_agent else None,
    )
    return ClearmlClient(credentials)


def clearml_is_optional_after(exc: KubectlClearmlError) -> bool:
    """For commands where ClearML is optional (queues, gpu-report): may this failure become a note?

    Yes when the server is unreachable, refuses us, or nothing configures ClearML at all; no when a setting
    the user gave is wrong (an ftp:// host, a malformed or missing --clearml-config): that is bad input.
    """
    return not isinstance(exc, UsageError) or isinstance(exc, NotConfiguredError)


def degraded_status(exc: KubectlClearmlError) -> int:
    """The exit status a partial-data mode owes for a source it went on without.

    Refused ClearML credentials (4) and a kubeconfig whose current context does not exist (3) are the
    user's settings, wrong: the table still prints, but a script must not read success. A server that
    does not answer stays a warning with exit 0 (documented); asking for degraded output (--no-kube,
    --no-clearml) skips the source, so there is nothing to fail.
    """
    if isinstance(exc, AuthError):
        return int(ExitStatus.AUTH)
    if isinstance(exc, NotFoundError):
        return int(ExitStatus.NOT_FOUND)
    return 0


def exit_degraded(status: int) -> None:
    """End a command that printed what it could with the status of what failed (0: return normally)."""
    if status:
        raise click.exceptions.Exit(status)
