"""auth.login plus the small calls clients make around the main services (events, users, projects)."""

from __future__ import annotations

from typing import Any

from kubectl_clearml.sandbox.clearml import errors
from kubectl_clearml.sandbox.clearml.auth import API_VERSION, COOKIE_NAME, SERVER_BUILD, SERVER_VERSION
from kubectl_clearml.sandbox.clearml.endpoints import Call, endpoint
from kubectl_clearml.sandbox.clearml.query import project, run_query

COOKIE_MAX_AGE = 99999999999
MAX_EVENTS_KEPT = 10000


@endpoint("auth.login", "1.0")
def login(call: Call) -> dict[str, Any]:
    expiration = call.get("expiration_sec")
    token = call.auth.issue(call.identity, int(expiration) if expiration else None)
    call.set_cookie.append(f"{COOKIE_NAME}={token}; Max-Age={COOKIE_MAX_AGE}; HttpOnly; Path=/; SameSite=Lax")
    return {"token": token}


@endpoint("events.add_batch", "1.0")
def add_batch(call: Call) -> dict[str, Any]:
    """Events arrive as JSON lines (the glue's "task pulled" log lines); we keep the last few thousand."""
    batch = call.batch if call.batch is not None else [call.payload] if call.payload else []
    events = call.state.events
    events.extend(e for e in batch if isinstance(e, dict))
    del events[:-MAX_EVENTS_KEPT]
    return {"added": len(batch), "errors": 0, "errors_info": {}}


@endpoint("events.get_task_log", "2.9")
def get_task_log(call: Call) -> dict[str, Any]:
    """A task's console log, newest first (``navigate_earlier``, the server's default), ``batch_size`` lines:
    where the reference glue's "task <id> pulled from <queue id> by worker <id>" line is read back."""
    task_id = str(call.require("task"))
    lines = [e for e in call.state.events if e.get("task") == task_id and e.get("type", "log") == "log"]
    lines.sort(key=lambda e: e.get("timestamp") or 0, reverse=call.flag("navigate_earlier", True))
    batch = lines[: int(call.get("batch_size", 500))]
    return {"events": batch, "returned": len(batch), "total": len(lines), "scroll_id": None}


@endpoint("users.get_vaults", "2.15")
def get_vaults(call: Call) -> dict[str, Any]:
    return {"vaults": []}


@endpoint("users.get_current_user", "1.0")
def get_current_user(call: Call) -> dict[str, Any]:
    who = call.identity
    return {
        "user": {
            "id": who.user,
            "name": who.user_name,
            "company": {"id": who.company, "name": who.company_name},
            "role": who.role,
        },
        "getting_started": None,
        "settings": {},
    }


@endpoint("projects.create", "1.0")
def create_project(call: Call) -> dict[str, Any]:
    name = str(call.require("name")).strip()
    if len(name) < 3:
        raise errors.data_validation_error("name is shorter than 3 characters", name=name)
    return {"id": call.state.create_project(name, description=call.text("description"), user=call.identity.user)}


@endpoint("projects.get_all", "1.0")
def get_all_projects(call: Call) -> dict[str, Any]:
    selected, _ = run_query(call.state.projects.values(), call.payload)
    only = call.payload.get("only_fields")
    return {"projects": [project(p, only) if only else p for p in selected]}


@endpoint("projects.get_by_id", "1.0")
def get_project(call: Call) -> dict[str, Any]:
    found = call.state.projects.get(call.require("project"))
    if found is None:
        raise errors.invalid_project_id(id=call.payload["project"])
    return {"project": found}


@endpoint("server.info", "1.0")
def server_info(call: Call) -> dict[str, Any]:
    return {"version": SERVER_VERSION, "build": SERVER_BUILD, "api_version": API_VERSION, "commit": "sandbox"}


@endpoint("debug.ping", "1.0", authenticate=False)
def ping(call: Call) -> dict[str, Any]:
    return {"msg": "ClearML server"}
