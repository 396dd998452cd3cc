"""The emulator's object store: thread-safe, one global resourceVersion counter, immutable snapshots.

Every stored object is a snapshot nobody mutates: a change stores a new dict. The HTTP side serialises
snapshots directly; the in-process backdoor (used by tests, seeds and the simulated scheduler/kubelet)
hands out copies. Because a snapshot never changes, its list-item JSON is encoded once, on the first list
that returns it, and kept until the next commit of its key: a list page is a join of cached bytes (as the
real apiserver's watch cache keeps serialised objects). Keys are kept sorted per resource (namespace, name), as etcd orders them, so one list
page is found by bisection and built without touching the rest.

Watches read a bounded history of changes; in-process subscribers are called after every change, outside
the lock, in the writing thread.
"""

from __future__ import annotations

import bisect
import datetime
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kubectl_clearml.sandbox.kube import status as st
from kubectl_clearml.sandbox.kube.admission import canonicalise_quantities
from kubectl_clearml.sandbox.kube.objects import prepare_create
from kubectl_clearml.sandbox.kube.resources import BY_KIND, BY_PLURAL, RESOURCES, Resource, resource_for
from kubectl_clearml.sandbox.kube.wire import list_item_json

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace or "", name)
ObjList = list[Obj]  # aliases: the Store.list method shadows the builtin inside the class body
KeyList = list[Key]
LogLines = list[tuple[float, str]]  # (wall time written, line with its end)
ChangeCallback = Callable[[str, str, Obj], None]  # (ADDED|MODIFIED|DELETED, plural, object)

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
INITIAL_PRIORITY_CLASSES = (("system-cluster-critical", 2000000000), ("system-node-critical", 2000001000))
HISTORY = 50_000
# kube-apiserver compacts etcd every 5 minutes (--etcd-compaction-interval): a watch from an older
# resourceVersion is answered 410 Expired, which sends clients down their relist path.
HISTORY_SECONDS = 300.0


@dataclass(frozen=True)
class Change:
    rv: int
    type: str
    plural: str
    obj: Obj
    old: Obj | None = None  # the previous version, for MODIFIED (watch filters need it)


ChangeList = list[Change]


def copy_json(value: Any) -> Any:
    """Deep copy of JSON-shaped data (several times faster than copy.deepcopy)."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


def copy_obj(obj: Obj) -> Obj:
    copied: Obj = copy_json(obj)
    return copied


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    def __init__(self) -> None:
        self._cond = threading.Condition(threading.RLock())
        self._subscribers: list[ChangeCallback] = []
        self._rv = 0
        self._wakeups = 0
        self.history_seconds = HISTORY_SECONDS
        self.clear()

    # ---- state ---------------------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget every object and log; keep the counter (watchers and clients never see it go back)."""
        with self._cond:
            self._objects: dict[str, dict[Key, Obj]] = {r.plural: {} for r in RESOURCES}
            self._keys: dict[str, list[Key]] = {r.plural: [] for r in RESOURCES}
            self._encoded: dict[str, dict[Key, bytes]] = {r.plural: {} for r in RESOURCES}
            self._history: deque[Change] = deque(maxlen=HISTORY)
            self._history_times: deque[float] = deque(maxlen=HISTORY)  # monotonic commit time of each change
            self._logs: dict[Key, dict[str, str]] = {}
            self._log_times: dict[Key, dict[str, list[float]]] = {}  # wall time each log line was written
            self._history_floor = self._rv
            self._cond.notify_all()
        for name in INITIAL_NAMESPACES:
            self.add({"apiVersion": "v1", "kind": "Namespace",
                      "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                      "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
        for name, value in INITIAL_PRIORITY_CLASSES:  # the apiserver creates these two at start-up
            self.add({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
                      "value": value, "preemptionPolicy": "PreemptLowerPriority",
                      "description": "Used for system critical pods that must not be moved from their current node."})

    @property
    def resource_version(self) -> int:
        with self._cond:
            return self._rv

    # ---- primitives used by the HTTP handlers (snapshots, no copies) ---------------------------------
    def read(self, plural: str, namespace: str | None, name: str) -> Obj | None:
        with self._cond:
            return self._objects[plural].get((namespace or "", name))

    def insert(self, resource: Resource, obj: Obj, *, dry_run: bool = False) -> Obj:
        """Store a new object (metadata filled in here); 409 AlreadyExists if the key is taken."""
        changes: list[Change] = []
        with self._cond:
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = self._generated_name(resource, meta.get("namespace"), meta["generateName"])
            key = (meta.get("namespace", "") if resource.namespaced else "", meta["name"])
            if key in self._objects[resource.plural]:
                raise st.already_exists(resource, meta["name"])
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if dry_run:
                return obj
            changes.append(self._commit(resource.plural, key, obj, "ADDED"))
        self._notify(changes)
        return obj

    def modify(self, resource: Resource, namespace: str | None, name: str, change: Callable[[Obj], Obj],
               *, dry_run: bool = False) -> Obj:
        """Atomically replace an object with ``change(copy of current)``; a no-op change stores nothing.

        ``change`` may raise ApiError (conflict, invalid); nothing is stored then.
        """
        changes: list[Change] = []
        key = (namespace or "" if resource.namespaced else "", name)
        with self._cond:
            current = self._objects[resource.plural].get(key)
            if current is None:
                raise st.not_found(resource, name)
            updated = change(copy_json(current))
            meta = updated.setdefault("metadata", {})
            meta["resourceVersion"] = current["metadata"]["resourceVersion"]
            if updated == current or dry_run:
                return updated if dry_run else current
            changes.append(self._commit(resource.plural, key, updated, "MODIFIED", current))
        self._notify(changes)
        return updated

    def remove(self, resource: Resource, namespace: str | None, name: str, *, dry_run: bool = False,
               check: Callable[[Obj], None] | None = None) -> Obj:
        """Delete an object; ``check(current)`` may raise ApiError (a failed precondition) under the lock."""
        changes: list[Change] = []
        key = (namespace or "" if resource.namespaced else "", name)
        with self._cond:
            current = self._objects[resource.plural].get(key)
            if current is None:
                raise st.not_found(resource, name)
            if check is not None:
                check(current)
            if dry_run:
                return current
            changes.append(self._commit(resource.plural, key, None, "DELETED", current))
            if resource.plural == "pods":
                self._logs.pop(key, None)
                self._log_times.pop(key, None)
            if resource.plural == "namespaces":
                changes.extend(self._drop_namespace(name))
        self._notify(changes)
        return changes[0].obj

    def page(self, plural: str, namespace: str | None, start_after: Key | None, limit: int | None,
             keep: Callable[[Obj], bool]) -> tuple[list[Obj], Key | None, int]:
        """Up to ``limit`` matching objects after ``start_after``; returns (items, last key if more, rv)."""
        with self._cond:
            keys, last = self._page_keys(plural, namespace, start_after, limit, keep)
            objects = self._objects[plural]
            return [objects[key] for key in keys], last, self._rv

    def page_json(self, plural: str, namespace: str | None, start_after: Key | None, limit: int | None,
                  keep: Callable[[Obj], bool]) -> tuple[list[bytes], Key | None, int]:
        """:meth:`page` with each item as its list-item JSON (see ``wire.list_item_json``), cached per snapshot."""
        with self._cond:
            keys, last = self._page_keys(plural, namespace, start_after, limit, keep)
            objects, encoded = self._objects[plural], self._encoded[plural]
            items: list[bytes] = []
            for key in keys:
                data = encoded.get(key)
                if data is None:
                    data = encoded[key] = list_item_json(objects[key])
                items.append(data)
            return items, last, self._rv

    def _page_keys(self, plural: str, namespace: str | None, start_after: Key | None, limit: int | None,
                   keep: Callable[[Obj], bool]) -> tuple[KeyList, Key | None]:
        keys = self._keys[plural]
        objects = self._objects[plural]
        low, high = self._range(keys, namespace)
        if start_after is not None:
            low = max(low, bisect.bisect_right(keys, start_after))
        found: KeyList = []
        for index in range(low, high):
            key = keys[index]
            if not keep(objects[key]):
                continue
            if limit is not None and len(found) >= limit:
                return found, found[-1]
            found.append(key)
        return found, None

    def count_after(self, plural: str, namespace: str | None, start_after: Key) -> int:
        with self._cond:
            keys = self._keys[plural]
            low, high = self._range(keys, namespace)
            return max(0, high - max(low, bisect.bisect_right(keys, start_after)))

    # ---- watch support ----------------------------------------------------------------------------
    def changes_since(self, rv: int) -> list[Change] | None:
        """Changes after ``rv`` in order, or None when the history no longer reaches back that far."""
        with self._cond:
            if rv < self._history_floor or (self._history and self._history[0].rv > rv + 1):
                return None
            newer: list[Change] = []
            for change in reversed(self._history):
                if change.rv <= rv:
                    break
                newer.append(change)
            newer.reverse()
            return newer

    def wait(self, rv: int, timeout: float) -> None:
        """Block until the counter passes ``rv``, ``wake_all`` is called, or ``timeout`` passes."""
        with self._cond:
            wakeups = self._wakeups
            self._cond.wait_for(lambda: self._rv > rv or self._wakeups != wakeups, timeout)

    def wake_all(self) -> None:
        with self._cond:
            self._wakeups += 1
            self._cond.notify_all()

    def listing(self, plural: str, namespace: str | None) -> tuple[list[Obj], int]:
        """Every object (snapshots) and the counter, read atomically: a watch's synthetic ADDED events."""
        with self._cond:
            keys = self._keys[plural]
            low, high = self._range(keys, namespace)
            return [self._objects[plural][keys[i]] for i in range(low, high)], self._rv

    # ---- backdoor for tests, seeds and the simulated cluster (copies in, copies out) -------------------
    def add(self, obj: Obj) -> Obj:
        """Create or replace any object as given (status included, no defaulting); returns a copy."""
        resource = BY_KIND.get(obj.get("kind", ""))
        if resource is None:
            raise KeyError(f"the sandbox does not serve kind {obj.get('kind')!r}")
        obj = copy_json(obj)
        canonicalise_quantities(resource, obj, strict=False)  # quantities are strings on a real apiserver
        meta = obj.setdefault("metadata", {})
        if resource.namespaced:
            meta.setdefault("namespace", "default")
        else:
            meta.pop("namespace", None)
        changes: list[Change] = []
        with self._cond:
            key = (meta.get("namespace", ""), meta["name"])
            old = self._objects[resource.plural].get(key)
            meta.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
            meta.setdefault("creationTimestamp",
                            old["metadata"]["creationTimestamp"] if old else now_rfc3339())
            if resource.plural in ("deployments", "replicasets"):
                meta.setdefault("generation", 1)
            changes.append(self._commit(resource.plural, key, obj, "MODIFIED" if old else "ADDED", old))
        self._notify(changes)
        return copy_obj(obj)

    def create(self, obj: Obj) -> Obj:
        """Create as a client's POST would (defaulting, validation, generateName); returns a copy.

        For the simulated controllers: their pods get the same defaults as pods a client creates.
        """
        resource = BY_KIND[obj["kind"]]
        obj = copy_json(obj)
        meta = obj.setdefault("metadata", {})
        for key in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation"):
            meta.pop(key, None)
        if resource.namespaced:
            meta.setdefault("namespace", "default")
        canonicalise_quantities(resource, obj, strict=False)
        prepare_create(resource, obj)
        return copy_obj(self.insert(resource, obj))

    def get(self, resource: str, name: str, namespace: str | None = None) -> Obj | None:
        res = resource_for(resource)
        found = self.read(res.plural, (namespace or "default") if res.namespaced else None, name)
        return copy_json(found) if found is not None else None

    def list(self, resource: str, namespace: str | None = None) -> ObjList:
        """Copies of every object of ``resource`` (all namespaces unless one is given), in key order."""
        items, _ = self.listing(resource_for(resource).plural, namespace)
        return [copy_json(item) for item in items]

    def delete(self, resource: str, name: str, namespace: str | None = None) -> bool:
        res = resource_for(resource)
        try:
            self.remove(res, (namespace or "default") if res.namespaced else None, name)
        except st.ApiError:
            return False
        return True

    def update(self, resource: str, name: str, namespace: str | None, change: Callable[[Obj], None]) -> Obj | None:
        """Apply ``change`` (which mutates its argument) to a copy of the object; None if it is gone."""
        res = resource_for(resource)

        def apply(obj: Obj) -> Obj:
            change(obj)
            return obj

        try:
            return copy_obj(self.modify(res, (namespace or "default") if res.namespaced else None, name, apply))
        except st.ApiError:
            return None

    def update_status(self, resource: str, namespace: str | None, name: str, status: Obj) -> Obj | None:
        return self.update(resource, name, namespace, lambda obj: obj.__setitem__("status", copy_json(status)))

    def update_pod_status(self, namespace: str, name: str, status: Obj) -> None:
        self.update_status("pods", namespace, name, status)

    def set_pod_phase(self, namespace: str, name: str, phase: str) -> Obj | None:
        return self.update("pods", name, namespace,
                           lambda obj: obj.setdefault("status", {}).__setitem__("phase", phase))

    def bind_pod(self, namespace: str, name: str, node_name: str) -> None:
        self.update("pods", name, namespace, lambda obj: obj.setdefault("spec", {}).__setitem__("nodeName", node_name))

    def create_event(self, event: Obj) -> Obj:
        event = copy_json(event)
        event.setdefault("apiVersion", "v1")
        event.setdefault("kind", "Event")
        meta = event.setdefault("metadata", {})
        involved = event.get("involvedObject") or {}
        meta.setdefault("namespace", involved.get("namespace") or "default")
        if not meta.get("name"):
            meta["name"] = f"{involved.get('name', 'event')}.{uuid.uuid4().hex[:16]}"
        return self.add(event)

    def set_pod_log(self, namespace: str, name: str, text: str, container: str | None = None) -> None:
        """The log text of a pod (of one container, or of every container when none is named)."""
        with self._cond:
            logs = self._logs.setdefault((namespace, name), {})
            old = logs.get(container or "", "")
            times = self._log_times.setdefault((namespace, name), {}).get(container or "", [])
            kept = times[:old.count("\n")] if text.startswith(old) else []  # appended lines are new now
            kept += [time.time()] * (len(text.splitlines()) - len(kept))
            self._log_times[(namespace, name)][container or ""] = kept
            logs[container or ""] = text
            self._wakeups += 1
            self._cond.notify_all()

    def pod_log(self, namespace: str, name: str, container: str | None = None) -> str | None:
        with self._cond:
            logs = self._logs.get((namespace, name), {})
            return logs.get(container or "", logs.get(""))

    def pod_log_lines(self, namespace: str, name: str, container: str | None = None) -> LogLines:
        """The log's lines (ends kept), each with the wall time it was written."""
        with self._cond:
            logs, times = self._logs.get((namespace, name), {}), self._log_times.get((namespace, name), {})
            key = container or "" if (container or "") in logs else ""
            lines = logs.get(key, "").splitlines(keepends=True)
            stamps = times.get(key, [])
            return [(stamps[i] if i < len(stamps) else 0.0, line) for i, line in enumerate(lines)]

    def subscribe(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call ``callback(type, plural, object copy)`` after every change; returns the unsubscribe function."""
        with self._cond:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._cond:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    # ---- internals ------------------------------------------------------------------------------------
    def _commit(self, plural: str, key: Key, obj: Obj | None, kind: str, old: Obj | None = None) -> Change:
        self._rv += 1
        objects, keys = self._objects[plural], self._keys[plural]
        self._encoded[plural].pop(key, None)
        if obj is None:
            del objects[key]
            del keys[bisect.bisect_left(keys, key)]
            obj = copy_json(old)
            obj["metadata"]["resourceVersion"] = str(self._rv)
        else:
            obj["metadata"]["resourceVersion"] = str(self._rv)
            if key not in objects:
                bisect.insort(keys, key)
            objects[key] = obj
        change = Change(self._rv, kind, plural, obj, old if kind == "MODIFIED" else None)
        self._history.append(change)
        now = time.monotonic()
        self._history_times.append(now)
        while self._history_times and self._history_times[0] < now - self.history_seconds:  # compaction
            self._history_times.popleft()
            self._history_floor = self._history.popleft().rv
        self._cond.notify_all()
        return change

    def _drop_namespace(self, namespace: str) -> Iterator[Change]:
        for resource in RESOURCES:
            if not resource.namespaced:
                continue
            keys = self._keys[resource.plural]
            low, high = self._range(keys, namespace)
            for key in list(keys[low:high]):
                yield self._commit(resource.plural, key, None, "DELETED", self._objects[resource.plural][key])

    @staticmethod
    def _range(keys: KeyList, namespace: str | None) -> tuple[int, int]:
        if namespace is None:
            return 0, len(keys)
        return bisect.bisect_left(keys, (namespace, "")), bisect.bisect_left(keys, (namespace + "\0", ""))

    def _generated_name(self, resource: Resource, namespace: str | None, prefix: str) -> str:
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        while True:
            suffix = "".join(alphabet[b % len(alphabet)] for b in uuid.uuid4().bytes[:5])
            key = (namespace or "" if resource.namespaced else "", prefix + suffix)
            if key not in self._objects[resource.plural]:
                return prefix + suffix

    def _notify(self, changes: ChangeList) -> None:
        with self._cond:
            subscribers = list(self._subscribers)
        for change in changes:
            for callback in subscribers:
                callback(change.type, change.plural, copy_json(change.obj))


__all__ = ["BY_PLURAL", "Change", "Obj", "Store", "copy_json"]
