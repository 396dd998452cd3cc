"""The ClearML REST client: login, envelope parsing, typed errors, bounded retries.

Retries are bounded and safe: a request that may have reached the server (read timeout, 502/504,
dropped connection mid-response) is retried only for idempotent endpoints, because repeating e.g.
``queues.get_next_task`` would pop a second task. A request that surely never left (connection refused,
connect timeout) is retried for every endpoint. The server never answers 503 except in maintenance,
which we treat like 502.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubectl_clearml.adapters.credentials import Credentials
from kubectl_clearml.errors import (
    ClearmlApiError,
    ClearmlBadCredentials,
    ClearmlDuplicateName,
    ClearmlInvalidRequest,
    ClearmlInvalidStatusChange,
    ClearmlQueueNotEmpty,
    ClearmlQueueNotFound,
    ClearmlServerFailure,
    ClearmlTaskAlreadyQueued,
    ClearmlTaskNotFound,
    ClearmlTaskNotQueued,
    ServerError,
    UnreachableError,
    UsageError,
)
from kubectl_clearml.logs import register_secret

LOG = logging.getLogger("kubectl_clearml.clearml")

RETRY_STATUSES = (502, 503, 504)
TOKEN_EXPIRED_SUBCODES = (30,)  # 401/30: invalid or expired token -> log in again once

# (code, subcode) -> error class; code-only keys use subcode None.
ERRORS: dict[tuple[int, int | None], type[ClearmlApiError]] = {
    (400, 10): ClearmlTaskNotFound,
    (400, 101): ClearmlTaskNotFound,
    (400, 701): ClearmlQueueNotFound,
    (400, 110): ClearmlInvalidStatusChange,
    (400, 121): ClearmlInvalidStatusChange,
    (400, 702): ClearmlQueueNotEmpty,
    (400, 703): ClearmlTaskNotQueued,
    (400, 706): ClearmlTaskAlreadyQueued,
    (400, 801): ClearmlDuplicateName,
    (401, None): ClearmlBadCredentials,
    (403, None): ClearmlBadCredentials,
    (400, None): ClearmlInvalidRequest,
}

HINTS: dict[type[ClearmlApiError], str] = {
    ClearmlBadCredentials: "check the access/secret key (flags, CLEARML_API_* env, clearml.conf, or --from-agent)",
    ClearmlTaskNotFound: "check the task id (kubectl clearml queues show QUEUE lists pending tasks)",
    ClearmlQueueNotFound: "check the queue (kubectl clearml queues lists them)",
    ClearmlQueueNotEmpty: "dequeue its tasks first, or pass --force",
    ClearmlInvalidStatusChange: "the task's status changed; re-read it",
    ClearmlDuplicateName: "the name is taken: pick another one",
    ClearmlServerFailure: "the ClearML server failed on this call: retry later, or check its apiserver logs",
}


def is_idempotent(endpoint: str) -> bool:
    action = endpoint.rsplit(".", 1)[-1]
    return action.startswith(("get_all", "get_by_id", "get_default", "peek", "get_num", "get_queue_metrics")) or (
        endpoint in ("auth.login", "workers.status_report", "workers.register", "workers.unregister", "tasks.ping")
    )


def error_for(code: int, subcode: int, message: str, endpoint: str) -> ClearmlApiError:
    cls = ERRORS.get((code, subcode)) or ERRORS.get((code, None))
    if cls is None:
        cls = ClearmlServerFailure if code >= 500 or code == 404 else ClearmlInvalidRequest
    return cls(message or f"ClearML error {code}/{subcode}", endpoint, HINTS.get(cls), code=code, subcode=subcode)


class ClearmlClient:
    def __init__(
        self,
        credentials: Credentials,
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        worker_header: str | None = None,
    ) -> None:
        from kubectl_clearml.adapters.clearml_wire import Wire

        self.credentials = credentials
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._token: str | None = None
        self.requests_made = 0
        headers = {"X-ClearML-Client": "kubectl-clearml"}
        if worker_header:
            headers["X-ClearML-Worker"] = worker_header
        # Proxies, NO_PROXY and the CA bundle are read from the environment once, here (requests re-read them
        # on every call: 9% of the glue's time per task, issue 17). No netrc: our Authorization is the only credential.
        self.wire = Wire(credentials.api_host, credentials.verify, headers)
        register_secret(credentials.secret_key)

    @property
    def server(self) -> str:
        return self.credentials.api_host

    def close(self) -> None:
        self.wire.close()

    # ---- public -----------------------------------------------------------------------------------
    def login(self) -> str:
        data = self._call_once("auth.login", {}, auth=(self.credentials.access_key, self.credentials.secret_key))
        token = data.get("token") if isinstance(data, dict) else None
        if not token:
            raise ServerError("auth.login returned no token", self.server, "is this a ClearML API server?")
        register_secret(token)
        self._token = str(token)
        return self._token

    def token_claims(self) -> dict[str, Any]:
        """The claims of our login token (server and API version), read without verifying the signature."""
        import base64
        import json

        token = self._token or self.login()
        try:
            payload = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError):
            raise ServerError("auth.login returned a token that is not a JWT", self.server) from None
        return dict(claims) if isinstance(claims, dict) else {}

    def call(
        self,
        endpoint: str,
        payload: Mapping[str, Any] | None = None,
        *,
        version: str | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Call ``service.action`` and return the envelope's ``data``; raise a typed error otherwise."""
        if self._token is None:
            self.login()
        try:
            return self._call_once(endpoint, payload or {}, version=version, idempotent=idempotent)
        except ClearmlBadCredentials as exc:
            if exc.code == 401 and exc.subcode in TOKEN_EXPIRED_SUBCODES:
                LOG.info("token rejected (%s); logging in again", exc.subcode)
                self.login()
                return self._call_once(endpoint, payload or {}, version=version, idempotent=idempotent)
            raise

    # ---- transport --------------------------------------------------------------------------------
    def _call_once(
        self,
        endpoint: str,
        payload: Mapping[str, Any],
        *,
        version: str | None = None,
        idempotent: bool | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Any:
        import urllib3.exceptions as wire_errors
        from urllib3.util import make_headers

        from kubectl_clearml.adapters.clearml_wire import CaBundleMissing

        path = f"{('v' + version + '/') if version else ''}{endpoint}"
        headers = (
            {"Authorization": make_headers(basic_auth=":".join(auth))["authorization"]}
            if auth
            else {"Authorization": f"Bearer {self._token}"}
        )
        safe_to_repeat = is_idempotent(endpoint) if idempotent is None else idempotent
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                self.requests_made += 1
                status, body = self.wire.post(path, payload, headers, self.timeout)
            except CaBundleMissing as exc:
                raise UsageError(
                    f"cannot load the TLS CA bundle: {exc}",
                    self.server,
                    "check REQUESTS_CA_BUNDLE / api.verify_certificate, or --insecure-skip-tls-verify",
                ) from None
            except (wire_errors.NewConnectionError, wire_errors.ConnectTimeoutError, wire_errors.ProxyError,
                    wire_errors.ProtocolError, wire_errors.SSLError) as exc:
                _raise_if_not_a_clearml_connection(exc, self.server)  # retrying these cannot help
                # NewConnectionError subclasses ConnectTimeoutError: either way the request never left.
                never_sent = isinstance(exc, wire_errors.ConnectTimeoutError) or _refused(exc)
                if attempt <= self.retries and (never_sent or safe_to_repeat):
                    self._pause(attempt, endpoint, type(exc).__name__)
                    continue
                raise UnreachableError("cannot reach the ClearML API server", self.server, self._unreachable_hint()) from None
            except wire_errors.TimeoutError:  # the read timed out: the server may have acted
                if attempt <= self.retries and safe_to_repeat:
                    self._pause(attempt, endpoint, "timeout")
                    continue
                raise UnreachableError(
                    f"timed out waiting for the ClearML API server on {endpoint}",
                    self.server,
                    "the server may be overloaded; retry later",
                ) from None
            except (wire_errors.HTTPError, ValueError) as exc:  # ValueError: a payload that is not JSON
                raise UnreachableError(
                    f"cannot talk to the ClearML API server: {type(exc).__name__}", self.server
                ) from None
            LOG.debug("POST %s/%s -> %s in %.1f ms", self.server, path, status, (time.monotonic() - started) * 1000)
            if status in RETRY_STATUSES and attempt <= self.retries and (safe_to_repeat or status == 503):
                self._pause(attempt, endpoint, str(status))
                continue
            return self._parse(status, body, endpoint)

    def _unreachable_hint(self) -> str:
        if self.credentials.source_of("api_host").startswith("agent deployment"):
            # --from-agent: the glue's address is often cluster-internal (http://clearml-apiserver.ns.svc:8008)
            return (
                "that is the agent's in-cluster address: from outside the cluster pass --api-host (the agent's "
                "keys are still used), e.g. after kubectl port-forward svc/clearml-apiserver 8008"
            )
        return "check --api-host / CLEARML_API_HOST and the network (the API is usually on port 8008)"

    def _pause(self, attempt: int, endpoint: str, why: str) -> None:
        delay = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        delay *= 0.5 + random.random() / 2  # jitter, so many clients do not retry in step
        LOG.info("retrying %s after %s (attempt %d/%d, %.2fs)", endpoint, why, attempt, self.retries, delay)
        self._sleep(delay)

    def _parse(self, status: int, data: bytes, endpoint: str) -> Any:
        try:
            body = json.loads(data)
            meta = body["meta"]
            code = int(meta.get("result_code", status))
            subcode = int(meta.get("result_subcode") or 0)
            message = str(meta.get("result_msg") or "")
        except (ValueError, KeyError, TypeError, AttributeError):
            if status >= 500:
                raise ClearmlServerFailure(
                    f"the ClearML API server failed ({status})",
                    endpoint,
                    "retry later",
                    code=status,
                ) from None
            raise ServerError(
                f"not a ClearML API response (HTTP {status})",
                self.server,
                "is --api-host the API server (usually port 8008), not the web UI?",
            ) from None
        if code != 200:
            raise error_for(code, subcode, message, endpoint)
        return body.get("data") or {}


def _raise_if_not_a_clearml_connection(exc: Exception, server: str) -> None:
    from kubectl_clearml.adapters.transport import not_http, tls_failure

    tls = tls_failure(exc)
    if tls is not None:
        raise UnreachableError(
            f"TLS handshake with the ClearML API server failed: {tls}",
            server,
            "is it https (the API is often plain http on port 8008)? For a private CA set "
            "api.verify_certificate in clearml.conf or REQUESTS_CA_BUNDLE; or --insecure-skip-tls-verify",
        ) from None
    if not_http(exc):
        raise ServerError(
            "the ClearML API host does not speak HTTP",
            server,
            "is --api-host the ClearML API server (usually port 8008)?",
        ) from None


def _refused(exc: Exception) -> bool:
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text or "NameResolution" in text
