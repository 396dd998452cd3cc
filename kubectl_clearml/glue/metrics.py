"""Prometheus text-format metrics on --metrics-port, served by the standard library."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kubectl_clearml.errors import UsageError

HELP = {
    "clearml_glue_tasks_launched_total": "Pods created for tasks, by queue.",
    "clearml_glue_tasks_failed_total": "Tasks the glue failed (image pull, permanent pod errors, pod exit != 0, pod gone while running).",
    "clearml_glue_tasks_aborted_total": "Pods deleted because their task was aborted in ClearML.",
    "clearml_glue_pods_deleted_total": "Finished pods deleted after --delete-finished-after (their task settled).",
    "clearml_glue_errors_total": "Transient errors of the loop, by step.",
    "clearml_glue_pods_active": "Pending and Running pods of this glue.",
    "clearml_glue_leader": "1 when this instance holds the lease (or runs without leader election).",
    "clearml_glue_tasks_waiting_fit": "Tasks kept queued by --fit-check because their pod cannot run now.",
    "clearml_glue_watch_restarts_total": "Pod watch streams restarted (timeouts, errors, relists).",
}


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values[(name, tuple(sorted(labels.items())))] = value

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values.get((name, tuple(sorted(labels.items()))), 0.0)

    def total(self, name: str) -> float:
        with self._lock:
            return sum(v for (n, _), v in self._values.items() if n == name)

    def render(self) -> str:
        with self._lock:
            items = sorted(self._values.items())
        lines: list[str] = []
        seen: set[str] = set()
        for (name, labels), value in items:
            if name not in seen:
                seen.add(name)
                kind = "counter" if name.endswith("_total") else "gauge"
                lines.append(f"# HELP {name} {HELP.get(name, name)}")
                lines.append(f"# TYPE {name} {kind}")
            lines.append(f"{name}{_labels(dict(labels))} {value:g}")
        return "\n".join(lines) + "\n"


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def serve(metrics: Metrics, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Serve /metrics in a daemon thread; returns the server (``.server_address``, ``.shutdown()``)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404)
                return
            body = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # scrapes are not news
            return

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:  # in use, privileged, or no such address: the user's choice to fix
        raise UsageError(
            f"cannot serve metrics on port {port}: {exc.strerror or exc}",
            hint="pick a free port with --metrics-port (or leave it out); nothing was pulled",
        ) from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="glue-metrics", daemon=True).start()
    return server
