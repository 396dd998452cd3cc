"""A client that hangs up in the middle of an answer is routine for a test double under fault injection:
the emulator must not print a traceback to stderr for it (the soak's log was 34 tracebacks long)."""

from __future__ import annotations

import socket
import struct
import time
from urllib.parse import urlparse

from kubectl_clearml.sandbox.kube import KubeEmulator


def test_a_client_that_resets_mid_answer_leaves_no_traceback(kube: KubeEmulator, capfd) -> None:
    for i in range(3000):  # a list answer of a few MB: larger than the socket buffers
        kube.store.add(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"p{i}", "namespace": "default", "labels": {"padding": "x" * 60}},
                "spec": {"containers": [{"name": "main", "image": "python:3.11-slim"}]},
            }
        )
    url = urlparse(kube.url)
    for _ in range(3):
        with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
            sock.sendall(f"GET /api/v1/pods HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
            sock.recv(1024)  # the answer has started
            # Close with RST (linger 0) so the server's next write fails at once.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.5)
    assert "Traceback" not in capfd.readouterr().err
    # And the server still answers.
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall(f"GET /version HTTP/1.1\r\nHost: {url.netloc}\r\nConnection: close\r\n\r\n".encode())
        assert sock.recv(64).startswith(b"HTTP/1.1 200")
