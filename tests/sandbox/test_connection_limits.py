"""Issue 21 item 14: the emulators close idle connections and cap how many are open, as real servers do."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from kubectl_clearml.sandbox.clearml import ClearmlEmulator
from kubectl_clearml.sandbox.kube import KubeEmulator

SERVERS: dict[str, Callable[..., Any]] = {"kube": KubeEmulator, "clearml": ClearmlEmulator}


def idle_socket(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


@pytest.mark.parametrize("kind", SERVERS)
def test_idle_connections_are_closed_and_their_threads_end(kind: str) -> None:
    with SERVERS[kind](idle_timeout=0.3) as server:
        threads_before = threading.active_count()
        sockets = [idle_socket(server.port) for _ in range(20)]
        deadline = time.monotonic() + 5
        while server.limits.open < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.limits.open == 20
        assert all(closed_by_server(sock, 5) for sock in sockets)
        deadline = time.monotonic() + 5
        while (server.limits.open or threading.active_count() > threads_before) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.limits.open == 0 and threading.active_count() <= threads_before
        for sock in sockets:
            sock.close()
        # A busy keep-alive connection is not idle: requests spaced under the timeout keep it.
        with requests.Session() as session:
            for _ in range(3):
                assert session.get(server.url + "/version" if kind == "kube" else server.url + "/debug.ping",
                                   timeout=5).status_code < 500
                time.sleep(0.1)


@pytest.mark.parametrize(("kind", "code"), [("kube", 429), ("clearml", 503)])
def test_connections_over_the_cap_are_refused_at_once(kind: str, code: int) -> None:
    with SERVERS[kind](max_connections=3) as server:
        held = [idle_socket(server.port) for _ in range(3)]
        deadline = time.monotonic() + 5
        while server.limits.open < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        refused = requests.get(server.url + "/version", timeout=5)
        assert refused.status_code == code and refused.headers["Retry-After"] == "1"
        if kind == "kube":
            assert refused.json()["reason"] == "TooManyRequests"
        assert server.limits.refused == 1
        for sock in held:
            sock.close()
        deadline = time.monotonic() + 5
        while server.limits.open and time.monotonic() < deadline:
            time.sleep(0.01)
        assert requests.get(server.url + "/version", timeout=5).status_code != code
