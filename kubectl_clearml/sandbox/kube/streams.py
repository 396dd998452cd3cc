"""The emulator's streaming answers: watches (chunked JSON lines) and followed pod logs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubectl_clearml.sandbox.kube import status as st
from kubectl_clearml.sandbox.kube import tables
from kubectl_clearml.sandbox.kube.discovery import Route
from kubectl_clearml.sandbox.kube.store import Obj, Store
from kubectl_clearml.sandbox.kube.wire import Response, dumps, int_param, parse_bool

DEFAULT_WATCH_SECONDS = 1800.0
TERMINAL_PHASES = ("Succeeded", "Failed")


def watch(store: Store, stopping: threading.Event, target: Route, keep: Callable[[Obj], bool], query: dict[str, str],
          as_table: bool, bookmark_seconds: float) -> Response:
    """A watch stream: JSON lines of events, ended by timeoutSeconds, shutdown, or 410 Expired."""
    resource, namespace = target.resource, target.namespace
    timeout = float(int_param(query.get("timeoutSeconds"), "timeoutSeconds") or DEFAULT_WATCH_SECONDS)
    since = query.get("resourceVersion") or "0"
    initial: list[Obj] = []
    if since == "0":
        snapshot, cursor = store.listing(resource.plural, namespace)
        initial = [obj for obj in snapshot if keep(obj)]
    else:
        cursor = int_param(since, "resourceVersion")

    def matches(obj: Obj) -> bool:
        return (namespace is None or obj["metadata"].get("namespace") == namespace) and keep(obj)

    bookmarks = parse_bool(query.get("allowWatchBookmarks"))
    headers_sent = [False]

    def event(kind: str, obj: Obj) -> bytes:
        if as_table:
            meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            obj = tables.table(resource, [obj], meta, include_headers=not headers_sent[0])
            headers_sent[0] = True
        return dumps({"type": kind, "object": obj}) + b"\n"

    def events() -> Iterator[bytes]:
        deadline = time.monotonic() + timeout
        last_sent = time.monotonic()
        for obj in initial:
            yield event("ADDED", obj)
        position = cursor
        while not stopping.is_set():
            changes = store.changes_since(position)
            if changes is None:
                expired = st.ApiError(410, f"too old resource version: {position}", "Expired")
                yield dumps({"type": "ERROR", "object": expired.body()}) + b"\n"
                return
            for change in changes:
                position = change.rv
                if change.plural == resource.plural:
                    kind = _filtered_type(change, matches)
                    if kind:
                        yield event(kind, change.obj)
                        last_sent = time.monotonic()
            if bookmarks and time.monotonic() - last_sent >= bookmark_seconds:
                bookmark = {"kind": resource.kind, "apiVersion": resource.group_version,
                            "metadata": {"resourceVersion": str(position)}}
                yield dumps({"type": "BOOKMARK", "object": bookmark}) + b"\n"
                last_sent = time.monotonic()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if not changes:
                store.wait(position, min(remaining, 1.0, bookmark_seconds))

    return Response(200, stream=events())

def pod_log(store: Store, stopping: threading.Event, target: Route, pod: Obj, query: dict[str, str]) -> Response:
    """A pod's log text, or with follow=true a stream of it until the pod ends."""
    name, namespace = target.name or "", target.namespace or ""
    containers = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    container = query.get("container")
    if container is None and len(containers) > 1:
        raise st.ApiError(400, f"a container name must be specified for pod {name}, choose one of: "
                          f"[{' '.join(containers)}]", "BadRequest", {})
    if container is not None and container not in containers:
        raise st.ApiError(400, f"container {container} is not valid for pod {name}", "BadRequest", {})
    container = container or (containers[0] if containers else "")
    text = store.pod_log(namespace, name, container)
    if text is None and (pod.get("status") or {}).get("phase", "Pending") == "Pending":
        raise st.ApiError(400, f'container "{container}" in pod "{name}" is waiting to start: '
                          f"{_waiting_reason(pod, container)}", "BadRequest", {})
    full = text or ""
    shown = _tail(full, int_param(query["tailLines"], "tailLines")) if "tailLines" in query else full
    if not parse_bool(query.get("follow")):
        return Response(200, shown.encode(), "text/plain")

    def follow() -> Iterator[bytes]:
        sent = full
        yield shown.encode()
        while not stopping.is_set():
            store.wait(store.resource_version, 1.0)
            current = store.read("pods", namespace, name)
            latest = store.pod_log(namespace, name, container) or ""
            if latest.startswith(sent) and len(latest) > len(sent):
                yield latest[len(sent):].encode()
            sent = latest
            if current is None or (current.get("status") or {}).get("phase") in TERMINAL_PHASES:
                return

    return Response(200, content_type="text/plain", stream=follow())


def _filtered_type(change: Any, matches: Callable[[Obj], bool]) -> str | None:
    """The event a filtered watch sees: an object entering the filter is ADDED, one leaving it DELETED."""
    now = matches(change.obj)
    if change.type != "MODIFIED" or change.old is None:
        return change.type if now else None
    before = matches(change.old)
    if now and before:
        return "MODIFIED"
    if now:
        return "ADDED"
    return "DELETED" if before else None


def _tail(text: str, lines: int) -> str:
    if lines <= 0:
        return ""
    kept = text.splitlines(keepends=True)[-lines:]
    return "".join(kept)


def _waiting_reason(pod: Obj, container: str) -> str:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff"):
                return "trying and failing to pull image"
            if waiting.get("reason"):
                return str(waiting["reason"])
    return "ContainerCreating"
