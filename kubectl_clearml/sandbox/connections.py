"""Connection limits for the emulators' HTTP servers, as real servers have them.

Without them every idle keep-alive connection holds a thread forever (2,000 idle clients, 2,000 threads).
- **Idle timeout**: a connection that sends no request for ``idle_timeout`` seconds is closed (Go's
  ``http.Server.IdleTimeout``, nginx's ``keepalive_timeout``). A stream being written (a watch, a followed log)
  is not idle.
- **Connection cap**: past ``max_connections`` open connections a new one is answered at once, from the
  accepting thread and without a handler thread, with the server's overload status (the apiserver's 429
  ``TooManyRequests`` with ``Retry-After: 1``, a 503 from the ClearML server's front end), then closed.
"""

from __future__ import annotations

import socket
import threading
from socketserver import ThreadingMixIn
from typing import Any

DEFAULT_IDLE_TIMEOUT = 90.0  # seconds; the apiserver's default keep-alive and nginx's 75 s are of this order
DEFAULT_MAX_CONNECTIONS = 1000


class ConnectionLimits:
    """Counts the open connections of a threading server; ``admit`` refuses past the cap."""

    def __init__(self, idle_timeout: float | None, max_connections: int, overload: bytes) -> None:
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.overload = overload  # the complete HTTP answer sent to a connection over the cap
        self.open = 0
        self.refused = 0
        self._lock = threading.Lock()

    def admit(self, request: socket.socket) -> bool:
        with self._lock:
            if self.open >= self.max_connections:
                self.refused += 1
                admitted = False
            else:
                self.open += 1
                admitted = True
        if not admitted:
            try:
                request.settimeout(1.0)
                request.sendall(self.overload)
            except OSError:
                pass
        elif self.idle_timeout:
            request.settimeout(self.idle_timeout)  # each blocking read waits this long at most
        return admitted

    def release(self) -> None:
        with self._lock:
            self.open -= 1


class LimitedThreadingMixIn(ThreadingMixIn):
    """A ThreadingMixIn whose ``limits`` decide, in the accepting thread, whether a connection gets a thread."""

    limits: ConnectionLimits

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.limits.admit(request):
            self.shutdown_request(request)  # type: ignore[attr-defined]
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.limits.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.limits.release()


def overload_answer(code: int, reason: str, content_type: str, body: bytes, retry_after: int = 1) -> bytes:
    head = (f"HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            f"Retry-After: {retry_after}\r\nConnection: close\r\n\r\n")
    return head.encode() + body
