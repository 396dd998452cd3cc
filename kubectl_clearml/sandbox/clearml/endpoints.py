"""The endpoint registry and the per-call context handed to each endpoint function.

Endpoint modules register with ``@endpoint("service.action", "2.4")``; the version is the handler's
``min_version``: requests below it get 404, and it is what the envelope reports as ``actual_version``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.sandbox.clearml import errors
from kubectl_clearml.sandbox.clearml.auth import Authenticator, Identity
from kubectl_clearml.sandbox.clearml.state import ClearmlState


@dataclass
class Call:
    state: ClearmlState
    auth: Authenticator
    identity: Identity
    payload: dict[str, Any]
    endpoint: str
    ip: str = "127.0.0.1"
    worker_header: str | None = None
    authorization: str | None = None
    batch: list[Any] | None = None
    set_cookie: list[str] = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        value = self.payload.get(key)
        return default if value is None else value

    def require(self, key: str) -> Any:
        value = self.payload.get(key)
        if value is None or value == "":
            raise errors.missing_field(key)
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.payload.get(key)
        if value is None:
            return default
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes")
        return bool(value)

    def text(self, key: str) -> str:
        value = self.payload.get(key)
        return "" if value is None else str(value)


Handler = Callable[[Call], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    name: str
    min_version: str
    handler: Handler
    authenticate: bool = True

    @property
    def min_tuple(self) -> tuple[int, int]:
        return version_tuple(self.min_version)


ENDPOINTS: dict[str, Endpoint] = {}


def version_tuple(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def endpoint(name: str, min_version: str = "1.0", *, authenticate: bool = True) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        ENDPOINTS[name] = Endpoint(name, min_version, func, authenticate)
        return func

    return register


def resolve(name: str, version: str) -> Endpoint:
    found = ENDPOINTS.get(name)
    if found is None or version_tuple(version) < found.min_tuple:
        raise errors.unknown_endpoint(name, version)
    return found
