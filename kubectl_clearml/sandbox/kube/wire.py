"""Transport-free request and response values shared by the handlers, the streams and the server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.sandbox.kube import status as st

JSON = "application/json"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str = ""
    user: str = "sandbox"
    accept: str = ""


@dataclass
class Response:
    code: int
    body: bytes = b""
    content_type: str = JSON
    stream: Iterator[bytes] | None = None
    warnings: list[str] = field(default_factory=list)  # sent as `Warning: 299 - "..."` headers


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def list_item_json(obj: dict[str, Any]) -> bytes:
    """An object as an item of a list: a real apiserver leaves out each item's kind and apiVersion."""
    return dumps({k: v for k, v in obj.items() if k not in ("kind", "apiVersion")})


def json_response(code: int, value: Any) -> Response:
    return Response(code, dumps(value))


def error_response(error: st.ApiError) -> Response:
    return Response(error.code, dumps(error.body()))


def parse_bool(value: str | None) -> bool:
    """Go's strconv.ParseBool truthy values (client 35 sends ``True``, client 37 ``true``)."""
    return value in ("1", "t", "T", "true", "TRUE", "True")


def int_param(value: str | None, name: str) -> int:
    if value in (None, ""):
        return 0
    try:
        return int(value or 0)
    except ValueError:
        raise st.ApiError(400, f"invalid {name}: {value!r}", "BadRequest", {}) from None
