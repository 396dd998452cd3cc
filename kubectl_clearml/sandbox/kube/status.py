"""Kubernetes ``Status`` error bodies, built the way the apiserver words them."""

from __future__ import annotations

from typing import Any

from kubectl_clearml.sandbox.kube.resources import Resource

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """An error answer; ``body()`` is the Status object sent to the client."""

    def __init__(self, code: int, message: str, reason: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details

    def body(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            status["details"] = self.details
        return status


def _details(resource: Resource, name: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": resource.plural}
    if name:
        details = {"name": name, **({"group": resource.group} if resource.group else {}), **details}
    return details


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(404, f'{resource.qualified} "{name}" not found', "NotFound", _details(resource, name))


def already_exists(resource: Resource, name: str) -> ApiError:
    return ApiError(409, f'{resource.qualified} "{name}" already exists', "AlreadyExists",
                    _details(resource, name))


def conflict(resource: Resource, name: str, why: str | None = None) -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(409, f'Operation cannot be fulfilled on {resource.qualified} "{name}": {why}', "Conflict",
                    _details(resource, name))


def invalid(resource: Resource, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 with the apiserver's ``Kind "name" is invalid: field: message`` wording."""
    text = ", ".join(f"{field}: {message}" for field, message in causes)
    message = f'{resource.kind} "{name}" is invalid: {text}' if len(causes) == 1 else \
        f'{resource.kind} "{name}" is invalid: [{text}]'
    details = {"name": name, "kind": resource.kind,
               "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes]}
    if resource.group:
        details["group"] = resource.group
    return ApiError(422, message, "Invalid", details)


def forbidden(resource: Resource, subresource: str | None, verb: str, user: str, namespace: str | None,
              name: str | None) -> ApiError:
    what = resource.plural + (f"/{subresource}" if subresource else "")
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    reason = f'User "{user}" cannot {verb} resource "{what}" in API group "{resource.group}" {scope}'
    subject = f'{resource.qualified} "{name}"' if name else resource.qualified
    return ApiError(403, f"{subject} is forbidden: {reason}", "Forbidden", _details(resource, name))


def success(resource: Resource, name: str, uid: str | None = None) -> dict[str, Any]:
    details = _details(resource, name)
    if uid:
        details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
