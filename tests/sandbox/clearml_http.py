"""A bare HTTP client for the emulator tests: it shows the wire (status, envelope), nothing hidden."""

from __future__ import annotations

from typing import Any

import requests

from kubectl_clearml.sandbox.clearml import ClearmlEmulator


class Wire:
    def __init__(self, emulator: ClearmlEmulator, *, login: bool = True) -> None:
        self.emulator = emulator
        self.session = requests.Session()
        self.token: str | None = None
        if login:
            response = self.session.post(
                f"{emulator.url}/auth.login", auth=(emulator.access_key, emulator.secret_key), timeout=5
            )
            assert response.status_code == 200, response.text
            self.token = response.json()["data"]["token"]

    def raw(self, endpoint: str, payload: dict[str, Any] | None = None, *, method: str = "POST", **kw: Any):
        headers = kw.pop("headers", {})
        if self.token and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.token}"
        kw.setdefault("timeout", 5)
        return self.session.request(method, f"{self.emulator.url}/{endpoint}", json=payload, headers=headers, **kw)

    def call(self, endpoint: str, payload: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """The envelope's data; fails the test on any non-200 answer."""
        response = self.raw(endpoint, payload or {}, **kw)
        body = response.json()
        assert response.status_code == 200, body["meta"]
        return body["data"]

    def error(self, endpoint: str, payload: dict[str, Any] | None = None, **kw: Any) -> tuple[int, int, str]:
        """(code, subcode, message) of a failing call; HTTP status must equal meta.result_code."""
        response = self.raw(endpoint, payload or {}, **kw)
        meta = response.json()["meta"]
        assert response.status_code == meta["result_code"]
        return meta["result_code"], meta["result_subcode"], meta["result_msg"]
