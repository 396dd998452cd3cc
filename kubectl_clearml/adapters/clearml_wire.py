"""The ClearML client's HTTP: one urllib3 pool, set up once from the environment as requests would set it up.

Why not ``requests.Session.post``: per call, requests prepares the request (header and cookie merging,
hooks), looks up its adapter, rebuilds the TLS context key and wraps the response, which was a quarter
of run-glue's CPU per task (issue 17, py-spy at 10,000 queued tasks). urllib3 is the engine requests
drives; we call it directly with headers and a body built once per call. requests still decides what the
environment means (proxies, ``NO_PROXY``, the default CA bundle), once, at construction, so a client
routes exactly as a requests client built at the same moment would.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from kubectl_clearml import __version__

# As many connections as threads may share one client (the glue's loop, its side calls, a worker pool);
# a pool of 1 would open and drop a connection per call whenever two threads call at once.
POOL_SIZE = 16


class CaBundleMissing(OSError):
    """The configured CA bundle (verify=PATH, REQUESTS_CA_BUNDLE) does not exist; reported on the first call."""


class Wire:
    """POST JSON to one API host; returns (status, body bytes); urllib3's exceptions pass through."""

    def __init__(self, api_host: str, verify: bool | str, headers: Mapping[str, str]) -> None:
        import requests.utils
        import urllib3

        self.api_host = api_host.rstrip("/")
        parts = urlsplit(self.api_host)
        self._prefix = parts.path.rstrip("/")
        self.headers = {
            "User-Agent": f"kubectl-clearml/{__version__}",
            "Accept-Encoding": "gzip, deflate",
            "Accept": "application/json",
            "Content-Type": "application/json",
            **headers,
        }
        if verify is True:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.ca_problem: str | None = None
        tls: dict[str, Any] = {}
        if parts.scheme == "https":
            tls = self._tls(verify, requests.utils.DEFAULT_CA_BUNDLE_PATH)
        proxy = requests.utils.select_proxy(self.api_host, requests.utils.get_environ_proxies(self.api_host))
        self._manager = _manager(proxy, tls) if proxy else urllib3.PoolManager(maxsize=POOL_SIZE, **tls)
        self._pool: Any = None  # without a proxy every call goes to one pool: no per-call URL parse, pool lookup
        self._url_error: Exception | None = None  # raised by each call, as requests raised a bad URL per call
        if not proxy:
            try:
                self._pool = self._manager.connection_from_url(self.api_host)
            except urllib3.exceptions.LocationValueError as exc:
                self._url_error = exc
        self.proxy = proxy

    def _tls(self, verify: bool | str, default_bundle: str) -> dict[str, Any]:
        if verify is False:
            return {"cert_reqs": "CERT_NONE", "assert_hostname": False}
        bundle = default_bundle if verify is True else str(verify)
        if not os.path.exists(bundle):
            self.ca_problem = f"no CA bundle at {bundle}"
            return {"cert_reqs": "CERT_REQUIRED"}
        where = "ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"
        return {"cert_reqs": "CERT_REQUIRED", where: bundle}

    def post(
        self, endpoint_path: str, payload: Mapping[str, Any], headers: Mapping[str, str], timeout: tuple[float, float]
    ) -> tuple[int, bytes]:
        import urllib3

        if self.ca_problem:
            raise CaBundleMissing(self.ca_problem)
        if self._url_error is not None:
            raise self._url_error
        body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
        options: dict[str, Any] = {
            "body": body,
            "headers": {**self.headers, **headers},
            "retries": False,  # ClearmlClient decides what may be repeated
            "redirect": False,
            "timeout": urllib3.Timeout(connect=timeout[0], read=timeout[1]),
        }
        if self._pool is not None:
            response = self._pool.urlopen("POST", f"{self._prefix}/{endpoint_path}", **options)
        else:
            response = self._manager.urlopen("POST", f"{self.api_host}/{endpoint_path}", **options)
        return int(response.status), bytes(response.data or b"")

    def close(self) -> None:
        self._manager.clear()


def _manager(proxy: str, tls: dict[str, Any]) -> Any:
    import urllib3
    from requests.utils import get_auth_from_url

    user, password = get_auth_from_url(proxy)
    if proxy.lower().startswith("socks"):
        from urllib3.contrib.socks import SOCKSProxyManager  # needs PySocks, as requests[socks] does

        return SOCKSProxyManager(proxy, username=user or None, password=password or None, maxsize=POOL_SIZE, **tls)
    proxy_headers = urllib3.make_headers(proxy_basic_auth=f"{user}:{password}") if user else None
    return urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, maxsize=POOL_SIZE, **tls)

