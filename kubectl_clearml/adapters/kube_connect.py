"""Building the Kubernetes client: kubeconfig file(s) and context, or the in-cluster service account.

Kept apart from adapters/kube.py (the calls): what is set up here (TLS, auth, exec credential plugins,
token trimming, urllib3 retries) is done once per command, and its failures are bad input, not API errors.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from kubectl_clearml.adapters.exec_bound import DEFAULT_EXEC_TIMEOUT, bound_exec_plugins
from kubectl_clearml.adapters.kube import Kube
from kubectl_clearml.adapters.kubeconfig import KubeconfigChoice, choose_kubeconfig, inline_token_file
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
    exec_timeout: float = DEFAULT_EXEC_TIMEOUT,
) -> Kube:
    """Build a client from the chosen kubeconfig file(s) and context, or in-cluster config.

    ``retries=False`` makes every request a single attempt (TAB completion: fail fast and silently);
    ``exec_timeout`` bounds each run of an exec credential plugin (adapters/exec_bound.py).
    """
    env = os.environ if env is None else env
    choice = choose_kubeconfig(kubeconfig, context, namespace, env)
    # The 35.x client's Configuration() sets the urllib3 logger to WARNING (its `debug = False`), which
    # silenced -vv's request lines once a client was built; the level is ours (logs.configure) to keep.
    urllib3_logger = logging.getLogger("urllib3")
    level = urllib3_logger.level
    try:
        return _build(choice, retries, exec_timeout)
    finally:
        urllib3_logger.setLevel(level)


def _build(choice: KubeconfigChoice, retries: bool = True, exec_timeout: float = DEFAULT_EXEC_TIMEOUT) -> Kube:
    from urllib3.util.retry import Retry

    from kubectl_clearml.adapters.kube_import import client_parts

    api_client_class, configuration_class, config = client_parts()
    configuration = _trimming_configuration(configuration_class)
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
                bound_exec_plugins(inline_token_file(choice.merged, choice.context), exec_timeout),
                context=choice.context,
                client_configuration=configuration,
                persist_config=False,
            )
        except (config.ConfigException, ValueError, TypeError, KeyError) as exc:
            raise KubeconfigError(choice, str(exc)) from None
    for value in (configuration.api_key or {}).values():  # known from now on, before any request is logged
        register_secret(str(value).strip().split(" ", 1)[-1])
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


def _trimming_configuration(base: Any) -> Any:
    """A client Configuration whose bearer token is trimmed and registered as a secret on every request.

    kubectl trims tokens (``echo $TOKEN > file`` ends in a newline); the client does not, and "Bearer tok\n" is
    an invalid header that failed requests as "cannot reach (ValueError)". Trimming once after loading is not
    enough: before each request the client's refresh hook re-sets the loader's raw value and replaces the
    hook itself (kubeconfig and in-cluster loaders alike), so only the request's own read of the key is a
    place that stays ours, on both client generations (35: ``(identifier)``, 36+: ``(identifier, alias)``).
    """
    class TrimmingConfiguration(base):  # type: ignore[misc]
        def get_api_key_with_prefix(self, *args: Any, **kwargs: Any) -> Any:
            value = super().get_api_key_with_prefix(*args, **kwargs)
            if isinstance(value, str):
                value = value.strip()
                register_secret(value.split(" ", 1)[-1])
            return value

    return TrimmingConfiguration()


class KubeconfigError(InvalidRequestError):
    def __init__(self, choice: KubeconfigChoice, reason: str) -> None:
        super().__init__(
            f"invalid kubeconfig: {reason.splitlines()[0] if reason else 'unreadable'}",
            ", ".join(choice.paths) or None,
            "fix the file or pick another with --kubeconfig / --context",
        )
