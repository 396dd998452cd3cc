"""The HTTP layer: path and body parsing, authentication, the envelope, faults, keep-alive.

Threaded HTTP/1.1 with TCP_NODELAY (Nagle plus delayed ACK would add ~40 ms per request), one write
per response with Content-Length always set, and every request body read, so keep-alive clients never
hang. Any method is accepted, as on the real server (the SDK sends GET with a JSON body).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from kubectl_clearml.sandbox.clearml import (  # noqa: F401
    api_lifecycle,
    api_misc,
    api_queues,
    api_tasks,
    api_workers,
    errors,
    fieldtypes,
)
from kubectl_clearml.sandbox.clearml.auth import API_VERSION, COOKIE_NAME, Identity
from kubectl_clearml.sandbox.clearml.endpoints import Call, resolve
from kubectl_clearml.sandbox.clearml.requestlog import RequestRecord
from kubectl_clearml.sandbox.connections import LimitedThreadingMixIn

if TYPE_CHECKING:
    from kubectl_clearml.sandbox.clearml.emulator import ClearmlEmulator

LOG = logging.getLogger("kubectl_clearml.sandbox.clearml")
PATH_RE = re.compile(r"^/(?:v(\d+)\.(\d+)/)?([a-zA-Z_]\w+\.[a-zA-Z_]\w+)/?$")
ANONYMOUS = Identity(user="", company="", user_name="", company_name="", role="guest")
PROXY_PAGE = (
    "<html><head><title>{code} {phrase}</title></head><body><center><h1>{code} {phrase}</h1></center></body></html>\n"
)


def _convert(value: str) -> Any:
    if value in ("true", "false"):
        return value == "true"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def query_args(query: str) -> dict[str, Any]:
    """Query-string arguments as the server merges them: ``k[]``/repeats → lists, ``a.b`` nests."""
    out: dict[str, Any] = {}
    for raw_key, raw_value in parse_qsl(query, keep_blank_values=True):
        is_list = raw_key.endswith("[]")
        key = raw_key[:-2] if is_list else raw_key
        value = _convert(raw_value)
        *parents, leaf = key.split(".")
        target = out
        for part in parents:
            target = target.setdefault(part, {})
        if is_list:
            target.setdefault(leaf, []).append(value)
        elif leaf in target:
            existing = target[leaf]
            target[leaf] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            target[leaf] = value
    return out


def _version_value(version: str, requested: str) -> str | float:
    """Versions are strings, except that the server answers floats to requests below 2.1 (legacy)."""
    major, _, minor = requested.partition(".")
    return float(version) if (int(major), int(minor or 0)) < (2, 1) else version


class ClearmlHTTPServer(LimitedThreadingMixIn, ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: ClearmlEmulator) -> None:
        self.emulator = emulator
        self.limits = emulator.limits
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.stopping = threading.Event()
        super().__init__(address, ClearmlHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.emulator.tls is not None:  # the handshake runs in the connection's thread, not the accept loop
            try:
                request = self.emulator.tls.wrap_socket(request, server_side=True)
            except OSError:  # ssl.SSLError included: the client refused our certificate, or spoke plain HTTP
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (and our own injected drops) are normal here, not worth a traceback.
        LOG.debug("connection from %s ended with an error", client_address, exc_info=True)

    def drop_connections(self) -> None:
        with self.connections_lock:
            open_now = list(self.connections)
        for sock in open_now:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class ClearmlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: ClearmlHTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def version_string(self) -> str:
        return "clearml"

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s " + format, self.address_string(), *args)

    def do_OPTIONS(self) -> None:
        self._read_body()
        self._send(200, b"", "text/plain")

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # ---- plumbing ---------------------------------------------------------------------------------
    def _header(self, name: str) -> str | None:
        return self.headers.get(f"X-ClearML-{name}") or self.headers.get(f"X-Trains-{name}")

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, code: int, body: bytes, content_type: str, extra: list[tuple[str, str]] | None = None) -> None:
        phrase = HTTPStatus(code).phrase
        lines = [
            f"HTTP/1.1 {code} {phrase}",
            "server: clearml",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
        ]
        lines += [f"{k}: {v}" for k, v in extra or []]
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _hang(self) -> None:
        self.server.stopping.wait(self.server.emulator.hang_seconds)
        self._drop()

    def _serve_file(self, raw: bytes, path: str) -> bool:
        """The files server: a multipart POST stores objects, a GET of a stored path returns it."""
        files = self.server.emulator.files
        if self.command == "POST":
            stored = files.upload(self.headers.get("Content-Type") or "", raw)
            if stored is None:
                return False
            self._send(200, json.dumps({"uploaded": stored}).encode(), "application/json")
            return True
        data = files.download(path) if self.command == "GET" else None
        if data is None:
            return False
        self._send(200, data, "application/octet-stream")
        return True

    # ---- one request ------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        started = time.perf_counter()
        emulator = self.server.emulator
        raw = self._read_body()
        url = urlsplit(self.path)
        match = PATH_RE.match(url.path)
        if match is None and self._serve_file(raw, url.path):
            return
        name = match.group(3) if match else url.path
        version = f"{match.group(1)}.{match.group(2)}" if match and match.group(1) else API_VERSION
        latency, fault = emulator.faults.plan(name) if emulator.faults.active else (0.0, None)
        if latency:
            time.sleep(latency)
        if fault in ("timeout", "drop"):
            self._record(name, version, 0, 0, {}, started, fault)
            self._hang() if fault == "timeout" else self._drop()
            return
        if fault in ("502", "504"):
            code = int(fault)
            page = PROXY_PAGE.format(code=code, phrase=HTTPStatus(code).phrase).encode()
            self._record(name, version, code, 0, {}, started, fault)
            self._send(code, page, "text/html")
            return
        call_id = uuid.uuid4().hex
        payload: dict[str, Any] = {}
        cookies: list[str] = []
        actual: str | None = None
        data: Any = {}
        with emulator.state.lock:
            try:
                if fault == "500":
                    raise errors.ApiError(500, 0, "General data error", "injected fault")
                if match is None:
                    raise errors.invalid_path(url.path)
                found = resolve(name, version)
                actual = found.min_version
                if self.headers.get("Content-Encoding"):
                    raise errors.ApiError(415, 0, "Content encoding is not supported")
                payload, batch = self._payload(raw, url.query, name)
                identity = ANONYMOUS
                if found.authenticate:
                    identity = emulator.auth.authenticate(self.headers.get("Authorization"), self._cookie_token())
                    self._check_impersonation()
                    emulator.state.watchdog()
                fieldtypes.check(payload, name)  # after authentication, as the server validates data last
                call = Call(
                    state=emulator.state,
                    auth=emulator.auth,
                    identity=identity,
                    payload=payload,
                    endpoint=name,
                    ip=self.headers.get("X-Real-IP") or self.headers.get("X-Forwarded-For") or self.client_address[0],
                    worker_header=self._header("Worker"),
                    authorization=self.headers.get("Authorization"),
                    batch=batch,
                )
                data = found.handler(call)
                cookies = call.set_cookie
                code, subcode, message = 200, 0, "OK"
            except errors.ApiError as exc:
                code, subcode, message, data = exc.code, exc.subcode, exc.message, {}
            except Exception as exc:  # an emulator bug must answer like the server's unhandled error, not hang
                LOG.exception("internal error in %s", name)
                code, subcode, message, data = 500, 0, f"General data error ({type(exc).__name__}: {exc})", {}
            envelope = {
                "meta": {
                    "id": call_id,
                    "trx": self._header("Trx") or call_id,
                    "endpoint": {
                        "name": name,
                        "requested_version": _version_value(version, version),
                        "actual_version": _version_value(actual, version) if actual else None,
                    },
                    "result_code": code,
                    "result_subcode": subcode,
                    "result_msg": message,
                    "error_stack": None,
                    "error_data": {},
                },
                "data": data if data is not None else {},
            }
            body = json.dumps(envelope, separators=(",", ":"), default=str).encode()
        self._record(name, version, code, subcode, payload, started, fault)
        if fault == "drop_after":
            self._drop()
            return
        if fault == "timeout_after":
            self._hang()
            return
        self._send(code, body, "application/json", [("Set-Cookie", c) for c in cookies])

    def _payload(self, raw: bytes, query: str, name: str) -> tuple[dict[str, Any], list[Any] | None]:
        batch: list[Any] | None = None
        payload: dict[str, Any] = {}
        text = raw.decode("utf-8", errors="replace").strip()
        lines_type = "json-lines" in (self.headers.get("Content-Type") or "")
        if text and (lines_type or name == "events.add_batch"):
            try:
                batch = [json.loads(line) for line in text.splitlines() if line.strip()]
            except ValueError:
                raise errors.bad_request("Invalid JSON lines") from None
        elif text:
            try:
                parsed = json.loads(text)
            except ValueError as exc:
                raise errors.bad_request(f"Failed to decode JSON object: {exc}") from None
            if not isinstance(parsed, dict):
                raise errors.bad_request("Expected a JSON object")
            payload = parsed
        if query:
            payload.update(query_args(query))
        return payload, batch

    def _cookie_token(self) -> str | None:
        cookie = self.headers.get("Cookie")
        if not cookie:
            return None
        for part in cookie.split(";"):
            key, _, value = part.strip().partition("=")
            if key == COOKIE_NAME:
                return value
        return None

    def _check_impersonation(self) -> None:
        impersonate, act_as = self._header("Impersonate-As"), self._header("Act-As")
        if impersonate and act_as:
            raise errors.ApiError(400, 5, "Invalid headers", "only one of impersonate-as and act-as may be used")
        if impersonate or act_as:
            raise errors.ApiError(400, 6, "Impersonation error", "role user may not impersonate")

    def _record(
        self,
        name: str,
        version: str,
        code: int,
        subcode: int,
        payload: dict[str, Any],
        started: float,
        fault: str | None,
    ) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        self.server.emulator.requests.add(RequestRecord(name, version, code, subcode, payload, elapsed, fault))
