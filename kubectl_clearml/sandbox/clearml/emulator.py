"""``ClearmlEmulator``: start/stop/restart the server, reach its state, inject faults, write a clearml.conf."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from kubectl_clearml.sandbox.clearml.auth import Authenticator, identity_for
from kubectl_clearml.sandbox.clearml.faults import FaultInjector, FaultRule
from kubectl_clearml.sandbox.clearml.files import FileStore
from kubectl_clearml.sandbox.clearml.requestlog import RequestLog
from kubectl_clearml.sandbox.clearml.server import ClearmlHTTPServer
from kubectl_clearml.sandbox.clearml.state import ClearmlState
from kubectl_clearml.sandbox.connections import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    ConnectionLimits,
    overload_answer,
)

DEFAULT_ACCESS_KEY = "SANDBOXACCESSKEY01"
DEFAULT_SECRET_KEY = "sandbox-secret-0123456789abcdefghijklmnopqrstuvwxyz"


class ClearmlEmulator:
    """A local ClearML API server (in-memory, thread-safe) for tests, benchmarks and the sandbox command.

    ``clock`` is a callable returning epoch seconds (tests pass a fake one to age tasks and workers).
    State (tasks, queues, workers, issued tokens) survives ``restart()``; ``reset()`` empties it.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: Mapping[str, str] | None = None,
        clock: Callable[[], float] | None = None,
        *,
        hang_seconds: float = 10.0,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.tls = tls  # serve https with this server-side context (TLS tests of the clients)
        self.port = port
        self.credentials = dict(credentials or {DEFAULT_ACCESS_KEY: DEFAULT_SECRET_KEY})
        self._initial_clock: Callable[[], float] = clock or time.time
        self.clock: Callable[[], float] = self._initial_clock
        self.hang_seconds = hang_seconds
        self.auth = Authenticator(self.credentials, clock=self._now)
        self.state = ClearmlState(clock=self._now, user=identity_for(self.access_key).user)
        self.faults = FaultInjector()
        self.requests = RequestLog()
        self.files = FileStore()  # the files server (api.files_server is this emulator's address)
        self._httpd: ClearmlHTTPServer | None = None
        self._thread: threading.Thread | None = None
        overload = json.dumps({"meta": {"result_code": 503, "result_subcode": 0,
                                        "result_msg": "Service Unavailable: too many connections"}}).encode()
        self.limits = ConnectionLimits(idle_timeout, max_connections,
                                       overload_answer(503, "Service Unavailable", "application/json", overload))

    def _now(self) -> float:
        return self.clock()

    # ---- identity ---------------------------------------------------------------------------------
    @property
    def access_key(self) -> str:
        return next(iter(self.credentials))

    @property
    def secret_key(self) -> str:
        return self.credentials[self.access_key]

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    # ---- lifecycle --------------------------------------------------------------------------------
    def start(self) -> ClearmlEmulator:
        if self._httpd is not None:
            return self
        httpd = ClearmlHTTPServer((self.host, self.port), self)
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"clearml-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut open keep-alive connections (clients then see a refused/reset connection)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        httpd.drop_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def restart(self, downtime: float = 0.0) -> None:
        """Stop and start again on the same port, keeping all state (a server restart or outage)."""
        self.stop()
        if downtime:
            time.sleep(downtime)
        self.start()

    def reset(self) -> None:
        """Fresh data (only the ``default`` queue), no faults, an empty request log, the original clock."""
        self.clock = self._initial_clock
        self.faults.clear()
        self.state.reset()
        self.requests.clear()
        self.files.clear()

    def __enter__(self) -> ClearmlEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- faults -----------------------------------------------------------------------------------
    def inject(
        self,
        endpoint_regex: str,
        *,
        error_rate: float = 0.1,
        kinds: Iterable[str] = ("500", "timeout", "drop"),
        latency: float = 0.0,
        seed: int | None = None,
        times: int | None = None,
    ) -> FaultRule:
        """Fail requests whose endpoint (``service.action``) matches the regex (``re.search``).

        ``times`` caps how many faults the rule injects; ``latency`` is added to every matching request.
        """
        return self.faults.add(
            endpoint_regex, error_rate=error_rate, kinds=kinds, latency=latency, seed=seed, times=times
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    # ---- client configuration --------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The environment an SDK or CLI process needs to talk to this server."""
        return {
            "CLEARML_API_HOST": self.url,
            "CLEARML_WEB_HOST": self.url,
            "CLEARML_FILES_HOST": self.url,
            "CLEARML_API_ACCESS_KEY": self.access_key,
            "CLEARML_API_SECRET_KEY": self.secret_key,
        }

    def clearml_conf(self) -> str:
        return (
            "# written by kubectl-clearml sandbox\n"
            "api {\n"
            f'  api_server: "{self.url}"\n'
            f'  web_server: "{self.url}"\n'
            f'  files_server: "{self.url}"\n'
            "  credentials {\n"
            f'    access_key: "{self.access_key}"\n'
            f'    secret_key: "{self.secret_key}"\n'
            "  }\n"
            "}\n"
            "sdk {\n}\n"
        )

    def write_clearml_conf(self, path: str | Path) -> Path:
        target = Path(path)
        if target.is_dir():
            target = target / "clearml.conf"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.clearml_conf())
        target.chmod(0o600)
        return target

    def __repr__(self) -> str:
        return f"ClearmlEmulator(url={self.url!r}, running={self.running})"
