"""The Kubernetes API emulator's HTTP server and its Python facade, :class:`KubeEmulator`.

HTTP/1.1 with keep-alive, TCP_NODELAY (Nagle plus delayed ACK would cost ~40 ms per request), a
Content-Length on every answer, the request body always read (error paths included) so pooled
connections stay in sync, daemon threads, and chunked streams for watches and followed logs.
``stop()`` closes every open connection too, so clients see the server go away, as with a real one.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

import yaml

from kubectl_clearml.sandbox.connections import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    ConnectionLimits,
    LimitedThreadingMixIn,
    overload_answer,
)
from kubectl_clearml.sandbox.kube import reviews
from kubectl_clearml.sandbox.kube import status as st
from kubectl_clearml.sandbox.kube.faults import DenyRule, DenyRules, Fault, Faults
from kubectl_clearml.sandbox.kube.handlers import Api
from kubectl_clearml.sandbox.kube.rbac import Attributes, Identities, Rbac
from kubectl_clearml.sandbox.kube.store import HISTORY_SECONDS, Store
from kubectl_clearml.sandbox.kube.wire import Request, Response, dumps, error_response

DEFAULT_USER = "system:serviceaccount:default:sandbox"
LOG = logging.getLogger(__name__)
REQUEST_LOG_SIZE = 100_000


class RecordedRequest(NamedTuple):
    method: str
    path: str
    query: dict[str, str]


class KubeEmulator:
    """A stateful Kubernetes API server for tests, benchmarks and the sandbox command.

    ``store`` is the in-process backdoor (seed objects, set pod phases, subscribe to changes);
    ``deny()`` and ``inject()`` shape failures; ``requests`` records what clients asked.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, user: str = DEFAULT_USER,
                 strict_namespaces: bool = True, seed: int | None = None,
                 idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT, max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 watch_window_seconds: float = HISTORY_SECONDS) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.identities = Identities(user)
        self.store = Store()
        self.store.history_seconds = watch_window_seconds  # watches from older resourceVersions get 410
        self.faults = Faults(seed)
        self.rules = DenyRules()
        self.rbac = Rbac(self.store, self.identities)
        self.requests: deque[RecordedRequest] = deque(maxlen=REQUEST_LOG_SIZE)
        self._stopping = threading.Event()
        self.api = Api(self.store, self._authorize, self._stopping, lambda: f"{self.host}:{self.port}",
                       strict_namespaces)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        overload = st.ApiError(429, "Too many requests, please try again later.", "TooManyRequests",
                               {"retryAfterSeconds": 1})
        self.limits = ConnectionLimits(idle_timeout, max_connections,
                                       overload_answer(429, "Too Many Requests", "application/json",
                                                       dumps(overload.body())))

    # ---- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> KubeEmulator:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _Server((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"kube-emulator-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop every open connection (watches included); the state is kept."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        self.store.wake_all()
        httpd.shutdown()
        httpd.server_close()
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def restart(self) -> KubeEmulator:
        """Stop, then serve again on the same port with the same state."""
        self.stop()
        return self.start()

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ---- test controls -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to a fresh cluster: objects, logs, deny rules, faults and the request log."""
        self.store.clear()
        self.faults.clear()
        self.rules.clear()
        self.identities.clear()
        self.requests.clear()

    def deny(self, verb: str, resource: str, namespace: str | None = None) -> DenyRule:
        """Forbid ``verb`` (or ``*``) on ``resource`` (plural, ``pods/log``, or ``*``), checked before any change."""
        return self.rules.add(verb, resource, namespace)

    def add_identity(self, token: str, user: str, groups: tuple[str, ...] = ()) -> None:
        """Let ``token`` authenticate as ``user`` (authorized by the RBAC objects, see rbac.py)."""
        self.identities.add(token, user, groups)

    def inject(self, method: str, path_regex: str, *, status: int | None = 500, error_rate: float = 1.0,
               latency: float = 0.0, drop: bool = False, count: int | None = None) -> Fault:
        """Make matching requests fail (see :class:`Fault`); returns the rule (its ``fired`` counts hits)."""
        return self.faults.add(Fault(method.upper(), path_regex, status, error_rate, latency, drop, count))

    def clear_faults(self) -> None:
        self.faults.clear()

    def write_kubeconfig(self, path: str | os.PathLike[str], namespace: str = "default",
                         context: str = "sandbox", user_token: str = "sandbox-token", user: str | None = None,
                         groups: tuple[str, ...] = ()) -> str:
        """Write a kubeconfig whose current context points at this emulator; returns the path.

        The token is the admin's unless ``user`` names another identity (then RBAC decides what it may do)."""
        self.identities.add(user_token, user or self.user, groups)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": f"{context}-user", "user": {"token": user_token}}],
            "contexts": [{"name": context,
                          "context": {"cluster": context, "user": f"{context}-user", "namespace": namespace}}],
            "current-context": context,
        }
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle, sort_keys=False)
        return os.fspath(path)

    # ---- used by the request handler ---------------------------------------------------------------
    def _authorize(self, *request: Any) -> st.ApiError | None:
        # The deny rules first (a test's "this permission is missing"), then RBAC proper.
        return self.rules.check(*request) or self.rbac.check(*request)

    def _user_for(self, authorization: str | None, impersonate: str | None) -> str | st.ApiError:
        """The request's user: the token's (an unknown token: 401), the admin without a token, and
        ``Impersonate-User`` (kubectl --as) when the caller may impersonate users (the admin may; else 403)."""
        user: str | None = self.user
        if authorization and authorization.lower().startswith("bearer "):
            user = self.identities.user_for_token(authorization[7:].strip())
        if user is None:
            return st.ApiError(401, "Unauthorized", "Unauthorized", {})
        if impersonate:
            if not self.rbac.decide(_impersonation(user, self.identities.groups(user), impersonate)).allowed:
                return st.ApiError(403, f'users "{impersonate}" is forbidden: User "{user}" cannot impersonate '
                                   'resource "users" in API group "" at the cluster scope', "Forbidden",
                                   {"name": impersonate, "kind": "users"})
            return impersonate
        return user

    def _track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)


def _impersonation(user: str, groups: tuple[str, ...], wanted: str) -> Attributes:
    return Attributes(user, groups, "impersonate", "", "users", name=wanted)


class _Server(LimitedThreadingMixIn, ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: KubeEmulator) -> None:
        self.emulator = emulator
        self.limits = emulator.limits
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (a timed-out watch, an injected drop) is normal for a test
        # double under fault injection; socketserver would print a traceback to stderr for each one.
        LOG.debug("connection from %s ended with an error", client_address, exc_info=True)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.emulator._track(request, True)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.emulator._track(request, False)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "kube-sandbox/1.32"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        emulator = self.server.emulator
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        emulator.requests.append(RecordedRequest(self.command, parts.path, query))
        fault = emulator.faults.pick(self.command, parts.path)
        if fault is not None:
            if fault.latency and emulator._stopping.wait(fault.latency):
                self.close_connection = True
                return
            if fault.drop:
                self.close_connection = True
                return
            if fault.status is not None:
                error = st.ApiError(fault.status, f"injected fault: {fault.status} for {self.command} {parts.path}")
                self._send(Response(fault.status, dumps(error.body())))
                return
        user = emulator._user_for(self.headers.get("Authorization"), self.headers.get("Impersonate-User"))
        if isinstance(user, st.ApiError):
            self._send(Response(user.code, dumps(user.body())))
            return
        request = Request(self.command, parts.path, query, body, self.headers.get("Content-Type") or "",
                          user, self.headers.get("Accept") or "")
        try:
            if reviews.handles(request):
                response = reviews.serve(request, emulator.rbac, emulator.rules.check)
            else:
                response = emulator.api.handle(request)
        except Exception as error:  # an emulator bug answers like the apiserver's 500, not a dropped connection
            LOG.exception("internal error serving %s %s", self.command, parts.path)
            response = error_response(st.ApiError(500, f"Internal error occurred: {error}", "InternalError", {}))
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.code)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Cache-Control", "no-cache, private")
        for warning in response.warnings:
            quoted = warning.replace("\\", "\\\\").replace('"', '\\"')
            self.send_header("Warning", f'299 - "{quoted}"')
        if response.stream is None:
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        stream = response.stream
        try:
            for chunk in stream:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client went away (or the emulator stopped): end this connection
            self.close_connection = True
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
