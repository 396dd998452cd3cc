"""The Kubernetes adapter's wire details: raw responses, query values, continue tokens, and the mapping of
HTTP statuses and transport failures to our error tree (one place, so every verb reports alike)."""

from __future__ import annotations

import json
import re
from typing import Any

from kubectl_clearml.errors import (
    AuthError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    ServerError,
    UnreachableError,
)


def _singular(resource: str) -> str:
    return resource[:-1] if resource.endswith("s") else resource


class RawResponse:
    """Status plus the unread urllib3 response, the same for both client generations."""

    def __init__(self, status: int, response: Any) -> None:
        self.status = status
        self.response = response

    def read(self) -> bytes:
        return bytes(self.response.data or b"")


_LIST_METADATA = re.compile(rb'"metadata"\s*:\s*')


def continue_token(raw: bytes, path: str) -> str | None:
    """A list's ``metadata.continue`` without decoding its items (API servers write metadata first)."""
    head = raw[:16384]
    found = _LIST_METADATA.search(head)
    items = head.find(b'"items"')
    if found and (items < 0 or found.start() < items):
        try:
            metadata, _ = json.JSONDecoder().raw_decode(head[found.end() :].decode("utf-8", "replace"))
            if isinstance(metadata, dict):
                return metadata.get("continue") or None
        except ValueError:
            pass  # not where we expected it: decode the whole page below
    try:
        page = json.loads(raw)
    except ValueError:
        raise ServerError("the Kubernetes API server sent a response that is not JSON", path) from None
    return (page.get("metadata") or {}).get("continue") or None


def query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def dry_run_param(value: str | None) -> str | None:
    # kubectl's --dry-run=server maps to the API's dryRun=All; client and none send nothing.
    return "All" if value in ("server", "All") else None


def status_error(
    status: int, data: bytes | str, what: tuple[str, str, str | None, str | None], server: str
) -> Exception:
    verb, resource, namespace, name = what
    message = ""
    try:
        body = json.loads(data)
        message = str(body.get("message") or "")
    except (ValueError, AttributeError):
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        message = text[:200]
    where = f" in namespace {namespace}" if namespace else ""
    target = f"{_singular(resource)} {name}" if name else resource
    if status == 401:
        return AuthError(
            f"cannot {verb} {target}{where}: unauthorized",
            server,
            "your kubeconfig credentials were refused; log in again or pick another --context",
        )
    if status == 403:
        return AuthError(
            f"cannot {verb} {target}{where}: forbidden",
            message or None,
            f"ask for RBAC permission to {verb} {resource}" + (f" in namespace {namespace}" if namespace else ""),
        )
    if status == 404:
        return NotFoundError(
            f"{_singular(resource)} {name!r} not found{where}" if name else f"{resource} not found{where}",
            None,
            "check the name and the namespace (-n)",
        )
    if status == 409:
        return ConflictError(message or f"conflict on {target}{where}", target, "re-read the object and retry")
    if status in (400, 415, 422):
        return InvalidRequestError(message or f"the API server rejected the {verb} of {target}", target)
    return ServerError(
        f"the Kubernetes API server failed ({status}): {message}".rstrip(": "),
        server,
        "retry later; if it persists, check the API server's health (kubectl get --raw='/readyz?verbose')",
    )


def transport_error(exc: Exception, server: str) -> UnreachableError:
    from kubectl_clearml.adapters.transport import innermost_name, not_http, timed_out, tls_failure

    name = innermost_name(exc)
    tls = tls_failure(exc)
    if tls is not None:
        return UnreachableError(
            f"TLS handshake with the Kubernetes API server failed: {tls}",
            server,
            "check the cluster's server URL (https?), certificate-authority(-data) and insecure-skip-tls-verify "
            "in the kubeconfig",
        )
    if not_http(exc):
        return UnreachableError(
            "the Kubernetes API server address does not speak HTTP",
            server,
            "check the server URL (port?) in the kubeconfig",
        )
    if timed_out(exc):
        return UnreachableError("timed out talking to the Kubernetes API server", server, "is the cluster up?")
    return UnreachableError(
        "cannot reach the Kubernetes API server",
        server,
        f"check the server URL and your network ({name})",
    )
