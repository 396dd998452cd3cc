"""API errors with the real server's codes, subcodes and message format.

The server renders ``<default message>[ (<extra>)][: k1=v1, k2=v2]`` with lists as ``(a, b)``
(apierrors/base.py); clients match on the codes, people read the message, so both follow the original.
"""

from __future__ import annotations

from typing import Any

DEFAULT_COMPANY = "d1bd92a3b039400cbafc60a7a5b1e52b"


def _render(value: Any) -> str:
    if isinstance(value, (list, tuple, set)):
        return "(" + ", ".join(str(v) for v in value) + ")"
    return str(value)


class ApiError(Exception):
    def __init__(self, code: int, subcode: int, message: str, extra: str | None = None, **args: Any) -> None:
        text = message
        if extra:
            text += f" ({extra})"
        if args:
            text += ": " + ", ".join(f"{k}={_render(v)}" for k, v in args.items())
        super().__init__(text)
        self.code = code
        self.subcode = subcode
        self.message = text


def bad_request(extra: str | None = None) -> ApiError:
    return ApiError(400, 0, "Bad request", extra)


def validation_error(extra: str | None = None, **args: Any) -> ApiError:
    return ApiError(400, 12, "Validation error", extra, **args)


def missing_field(name: str) -> ApiError:
    return validation_error(f"required field: {name}")


def invalid_id(**args: Any) -> ApiError:
    return ApiError(400, 10, "Invalid object id", **args)


def invalid_task_id(**args: Any) -> ApiError:
    return ApiError(400, 101, "Invalid task id", **args)


def invalid_status_change(current: str, new: str) -> ApiError:
    return ApiError(400, 110, "Invalid task status", "Invalid status change", current_status=current, new_status=new)


def invalid_task_status(extra: str | None = None, **args: Any) -> ApiError:
    return ApiError(400, 110, "Invalid task status", extra, **args)


def invalid_project_id(**args: Any) -> ApiError:
    return ApiError(400, 401, "Invalid project id", **args)


def invalid_queue_id(**args: Any) -> ApiError:
    return ApiError(400, 701, "Invalid queue id", **args)


def queue_not_empty(queue_id: str) -> ApiError:
    return ApiError(400, 702, "Queue is not empty", "use force=true to delete", id=queue_id)


def task_not_in_queue(queue_id: str, task_id: str) -> ApiError:
    return ApiError(400, 703, "Invalid queue id or task not in queue", queue=queue_id, task=task_id)


def task_already_queued(queue_id: str, task_id: str) -> ApiError:
    return ApiError(400, 706, "Task already queued", queue=queue_id, task=task_id)


def no_default_queue() -> ApiError:
    return ApiError(400, 707, "No queue is tagged as the default queue for this company")


def data_validation_error(extra: str | None = None, **args: Any) -> ApiError:
    return ApiError(400, 800, "Data validation error", extra, **args)


def not_unique(extra: str, **args: Any) -> ApiError:
    return ApiError(400, 801, "Value combination already exists", extra, **args)


def worker_registration_failed(extra: str, **args: Any) -> ApiError:
    return ApiError(400, 1002, "Worker registration failed", extra, **args)


def missing_credentials() -> ApiError:
    return ApiError(401, 20, "Unauthorized", "missing credentials")


def malformed_credentials() -> ApiError:
    return ApiError(401, 21, "Unauthorized", "malformed credentials")


def invalid_credentials() -> ApiError:
    return ApiError(401, 22, "Unauthorized (invalid credentials)", "failed to locate provided credentials")


def invalid_token(reason: str) -> ApiError:
    return ApiError(401, 30, "Invalid token", "invalid jwt token", reason=reason)


def bad_auth_type() -> ApiError:
    return ApiError(401, 10, "Unauthorized", "bad authentication header type")


def unknown_endpoint(name: str, version: str) -> ApiError:
    return ApiError(404, 0, f"Unable to find endpoint for name {name} and version {version}")


def invalid_path(path: str) -> ApiError:
    return ApiError(400, 0, f"Invalid request path {path}")
