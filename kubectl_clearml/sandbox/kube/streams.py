"""The emulator's streaming answers: watches (chunked JSON lines) and followed pod logs."""

from __future__ import annotations

import datetime
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
            obj = tables.table(resource, [obj], meta, include_headers=not headers_sent[0],
                               include=query.get("includeObject"))
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
    """A pod's log, or with follow=true a stream of it until the pod ends.

    kubelet's options: ``container`` (init containers too), ``previous``, ``timestamps``, ``sinceSeconds`` /
    ``sinceTime``, ``tailLines``, ``limitBytes``; each line's time is when the simulated process wrote it.
    """
    name, namespace = target.name or "", target.namespace or ""
    spec = pod.get("spec") or {}
    containers = [c.get("name", "") for c in spec.get("containers") or []]
    init = [c.get("name", "") for c in spec.get("initContainers") or []]
    container = query.get("container")
    if container is None and len(containers) > 1:
        also = f" or one of the init containers: [{' '.join(init)}]" if init else ""
        raise st.ApiError(400, f"a container name must be specified for pod {name}, choose one of: "
                          f"[{' '.join(containers)}]{also}", "BadRequest", {})
    if container is not None and container not in containers + init:
        raise st.ApiError(400, f"container {container} is not valid for pod {name}", "BadRequest", {})
    container = container or (containers[0] if containers else "")
    if parse_bool(query.get("previous")):
        # The simulated kubelet never restarts a container, so there is no previous instance to read.
        raise st.ApiError(400, f'previous terminated container "{container}" in pod "{name}" not found',
                          "BadRequest", {})
    text = store.pod_log(namespace, name, container)
    if text is None and (pod.get("status") or {}).get("phase", "Pending") == "Pending":
        raise st.ApiError(400, f'container "{container}" in pod "{name}" is waiting to start: '
                          f"{_waiting_reason(pod, container)}", "BadRequest", {})
    options = _LogOptions.parse(query)
    lines = store.pod_log_lines(namespace, name, container)
    shown = options.render(lines, tail=True)
    if not parse_bool(query.get("follow")):
        return Response(200, shown, "text/plain")

    def follow() -> Iterator[bytes]:
        sent = len(lines)
        yield shown
        while not stopping.is_set():
            store.wait(store.resource_version, 1.0)
            current = store.read("pods", namespace, name)
            latest = store.pod_log_lines(namespace, name, container)
            if len(latest) > sent:
                yield options.render(latest[sent:], tail=False)
            sent = len(latest)
            if current is None or (current.get("status") or {}).get("phase") in TERMINAL_PHASES:
                return

    return Response(200, content_type="text/plain", stream=follow())


class _LogOptions:
    def __init__(self, since: float | None, timestamps: bool, tail: int | None, limit: int | None) -> None:
        self.since, self.timestamps, self.tail, self.limit = since, timestamps, tail, limit

    @classmethod
    def parse(cls, query: dict[str, str]) -> _LogOptions:
        since: float | None = None
        if query.get("sinceSeconds"):
            since = time.time() - int_param(query["sinceSeconds"], "sinceSeconds")
        elif query.get("sinceTime"):
            try:
                since = datetime.datetime.fromisoformat(query["sinceTime"].replace("Z", "+00:00")).timestamp()
            except ValueError:
                raise st.ApiError(400, f"invalid sinceTime: {query['sinceTime']!r}", "BadRequest", {}) from None
        tail = int_param(query["tailLines"], "tailLines") if "tailLines" in query else None
        limit = int_param(query["limitBytes"], "limitBytes") if query.get("limitBytes") else None
        return cls(since, parse_bool(query.get("timestamps")), tail, limit)

    def render(self, lines: list[tuple[float, str]], *, tail: bool) -> bytes:
        if self.since is not None:
            lines = [(at, line) for at, line in lines if at >= self.since]
        if tail and self.tail is not None:
            lines = lines[-self.tail:] if self.tail > 0 else []
        if self.timestamps:
            text = "".join(f"{_rfc3339_nano(at)} {line}" for at, line in lines)
        else:
            text = "".join(line for _, line in lines)
        data = text.encode()
        return data[:self.limit] if self.limit is not None else data


def _rfc3339_nano(at: float) -> str:
    moment = datetime.datetime.fromtimestamp(at, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}000Z"


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


def _waiting_reason(pod: Obj, container: str) -> str:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff"):
                return "trying and failing to pull image"
            if waiting.get("reason"):
                return str(waiting["reason"])
    return "ContainerCreating"
