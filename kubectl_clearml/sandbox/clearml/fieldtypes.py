"""Request fields whose type the server's request schemas (jsonmodels) check before an endpoint runs.

A value of the wrong type is the server's 400/12 validation error, never a crash in an endpoint (which the
emulator would answer 500: an SDK retries that, a real server never sends it for bad input). The names
below have one type in every endpoint that takes them; other fields are left to the endpoints.
"""

from __future__ import annotations

import re
from typing import Any

from kubectl_clearml.sandbox.clearml import errors

INTEGERS = frozenset({"timeout", "last_seen", "timestamp", "page", "page_size", "max_task_entries",
                      "expiration_sec", "size"})
OBJECTS = frozenset({"script", "execution", "container", "runtime", "models",
                     "machine_stats"})
STRINGS = frozenset({"project", "parent", "worker", "queue_name", "new_status", "status_reason", "status_message"})
# In a get_all query these are filters, lists of ids (what the SDK always sends: project=[id]).
QUERY_LISTS = frozenset({"project", "parent", "worker"})
_INTEGER_TEXT = re.compile(r"^-?\d+$")


def check(payload: dict[str, Any], endpoint: str = "") -> None:
    """Raise 400/12 for the first typed field whose value has the wrong JSON type (null means absent)."""
    query = endpoint.endswith((".get_all", ".get_all_ex"))
    for key, value in payload.items():
        if value is None:
            continue
        if key in INTEGERS and not _is_integer(value):
            raise errors.validation_error(f"field {key} must be an integer", **{key: value})
        if key in OBJECTS and not isinstance(value, dict):
            raise errors.validation_error(f"field {key} must be an object", **{key: value})
        if query and key in QUERY_LISTS and isinstance(value, list) and all(isinstance(v, str) for v in value):
            continue
        if key in STRINGS and not isinstance(value, str):
            raise errors.validation_error(f"field {key} must be a string", **{key: value})


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, str) and bool(_INTEGER_TEXT.match(value))
