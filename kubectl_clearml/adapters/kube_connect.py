"""Building the Kubernetes client: kubeconfig file(s) and context, or the in-cluster service account.

Kept apart from adapters/kube.py (the calls): what is set up here (TLS, auth, exec credential plugins,
token trimming, urllib3 retries) is done once per command, and its failures are bad input, not API errors.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from kubectl_clearml.adapters.kube import Kube
from kubectl_clearml.adapters.kubeconfig import KubeconfigChoice, choose_kubeconfig
from kubectl_clearml.errors import InvalidRequestError
from kubectl_clearml.logs import register_secret

# urllib3's default (3 retries of anything, GETs included after a read timeout) made one hung API server
# cost 4 x the read timeout before we could say so. Connection failures before a request went out are
# still retried; a failed read once (a keep-alive connection the server dropped), never more.
CONNECT_RETRIES = 3
READ_RETRIES = 1


def connect(
    kubeconfig: str | None = None,
    context: str | None = None,
    namespace: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    retries: bool = True,
) -> Kube:
    """Build a client from the chosen kubeconfig file(s) and context, or in-cluster config.

    ``retries=False`` makes every request a single attempt (TAB completion: fail fast and silently).
    """
    env = os.environ if env is None else env
    choice = choose_kubeconfig(kubeconfig, context, namespace, env)
    # The 35.x client's Configuration() sets the urllib3 logger to WARNING (its `debug = False`), which
    # silenced -vv's request lines once a client was built; the level is ours (logs.configure) to keep.
    urllib3_logger = logging.getLogger("urllib3")
    level = urllib3_logger.level
    try:
        return _build(choice, retries)
    finally:
        urllib3_logger.setLevel(level)


def _build(choice: KubeconfigChoice, retries: bool = True) -> Kube:
    from urllib3.util.retry import Retry

    from kubectl_clearml.adapters.kube_import import client_parts

    api_client_class, configuration_class, config = client_parts()
    configuration = configuration_class()
    if choice.in_cluster:
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException as exc:  # e.g. automountServiceAccountToken: false
            raise InvalidRequestError(
                f"in-cluster configuration failed: {str(exc).rstrip('.')}",
                "service account",
                "mount the pod's service account token, or pass --kubeconfig",
            ) from None
    else:
        try:
            config.load_kube_config_from_dict(
                choice.merged, context=choice.context, client_configuration=configuration, persist_config=False
            )
        except (config.ConfigException, ValueError, TypeError, KeyError) as exc:
            raise KubeconfigError(choice, str(exc)) from None
    _trim_tokens(configuration)
    # The 36+ client picks the environment's proxy for the host whenever the host is set, and the kubeconfig
    # loader's refresh hook sets the host again before every request: a scan of os.environ per request (issue
    # 17). Setting the proxy it chose pins it (its setter ends the lookup from env); the host never changes.
    configuration.proxy = configuration.proxy
    configuration.retries = (
        Retry(total=CONNECT_RETRIES, read=READ_RETRIES, redirect=CONNECT_RETRIES) if retries else Retry(0, redirect=0)
    )
    api_client = api_client_class(configuration)
    server = str(api_client.configuration.host)
    if not server.startswith(("http://", "https://")):
        raise KubeconfigError(choice, f"server URL {server!r} is not http(s)")
    return Kube(api_client=api_client, namespace=choice.namespace, context=choice.context, server=server)


def _trim_tokens(configuration: Any) -> None:
    """kubectl trims a tokenFile (``echo $TOKEN > file`` ends in a newline); the client does not, and
    "Bearer tok\n" is an invalid header that failed every request as "cannot reach (ValueError)". The
    client re-sets the token from its loader before each request (its refresh hook), so trim after it."""

    def trim() -> None:
        for key, value in list((configuration.api_key or {}).items()):
            if isinstance(value, str) and value != value.strip():
                configuration.api_key[key] = value.strip()
        for value in (configuration.api_key or {}).values():
            register_secret(str(value).split(" ", 1)[-1])

    refresh = configuration.refresh_api_key_hook

    def refresh_then_trim(config: Any) -> None:
        if refresh is not None:
            refresh(config)
        trim()

    trim()
    configuration.refresh_api_key_hook = refresh_then_trim


class KubeconfigError(InvalidRequestError):
    def __init__(self, choice: KubeconfigChoice, reason: str) -> None:
        super().__init__(
            f"invalid kubeconfig: {reason.splitlines()[0] if reason else 'unreadable'}",
            ", ".join(choice.paths) or None,
            "fix the file or pick another with --kubeconfig / --context",
        )
