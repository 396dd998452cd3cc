"""DELETE as the apiserver does it: preconditions, graceful pod deletion, and ``propagationPolicy: Orphan``.

Background propagation (the default) is the garbage collector's (sandbox/cluster/controllers.py).
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable
from typing import Any

from kubectl_clearml.sandbox.kube import status as st
from kubectl_clearml.sandbox.kube.discovery import Route
from kubectl_clearml.sandbox.kube.resources import RESOURCES
from kubectl_clearml.sandbox.kube.store import Obj, Store
from kubectl_clearml.sandbox.kube.wire import Response, json_response


def delete(store: Store, target: Route, dry_run: bool, options: dict[str, Any], *,
           graceful_pods: bool) -> Response:
    assert target.name is not None
    preconditions = options.get("preconditions") or {}

    def check(current: Obj) -> None:
        # The apiserver's checkPreconditions: a uid or resourceVersion that is not the stored one is a 409.
        meta = current["metadata"]
        for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            wanted = preconditions.get(field)
            if wanted and str(wanted) != meta.get(field):
                where = "object meta" if field == "uid" else "meta"
                raise st.conflict(target.resource, target.name or "", f"Precondition failed: {label} in "
                                  f"precondition: {wanted}, {label} in {where}: {meta.get(field)}")

    if target.resource.plural == "pods" and graceful_pods:
        marked = _delete_gracefully(store, target, options, dry_run, check)
        if marked is not None:
            return json_response(200, marked)
    deleted = store.remove(target.resource, target.namespace, target.name, dry_run=dry_run,
                           check=check if preconditions else None)
    if options.get("propagationPolicy") == "Orphan" and not dry_run:
        _orphan(store, target.namespace, deleted["metadata"].get("uid"))
    if target.resource.plural == "pods":
        return json_response(200, deleted)
    return json_response(200, st.success(target.resource, target.name, deleted["metadata"].get("uid")))


def _delete_gracefully(store: Store, target: Route, options: dict[str, Any], dry_run: bool,
                       check: Callable[[Obj], None]) -> Obj | None:
    """The pod strategy's graceful delete: a bound, unfinished pod gets ``deletionTimestamp`` and stays
    until its kubelet has stopped it (``gracePeriodSeconds``, else ``terminationGracePeriodSeconds``).
    None: delete now (unbound or finished pods, a grace period of 0)."""
    assert target.name is not None
    current = store.read(target.resource.plural, target.namespace, target.name)
    if current is None:
        raise st.not_found(target.resource, target.name)
    spec, phase = current.get("spec") or {}, (current.get("status") or {}).get("phase")
    grace = options.get("gracePeriodSeconds")
    grace = int(spec.get("terminationGracePeriodSeconds", 30) if grace is None else grace)
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed") or grace <= 0:
        return None
    meta = current["metadata"]
    if meta.get("deletionTimestamp") and int(meta.get("deletionGracePeriodSeconds") or 0) <= grace:
        return current  # already terminating, and a longer grace never extends it

    def mark(pod: Obj) -> Obj:
        check(pod)
        deadline = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=grace)
        pod["metadata"]["deletionTimestamp"] = deadline.strftime("%Y-%m-%dT%H:%M:%SZ")
        pod["metadata"]["deletionGracePeriodSeconds"] = grace
        return pod

    assert target.name is not None
    return store.modify(target.resource, target.namespace, target.name, mark, dry_run=dry_run)


def _orphan(store: Store, namespace: str | None, uid: str | None) -> None:
    """``propagationPolicy: Orphan``: the dependents lose their owner reference instead of being collected."""
    if not uid:
        return
    for resource in RESOURCES:
        if not resource.namespaced:
            continue
        for obj in store.list(resource.plural, namespace):
            refs = obj["metadata"].get("ownerReferences") or []
            if any(ref.get("uid") == uid for ref in refs):
                kept = [ref for ref in refs if ref.get("uid") != uid]
                store.update(resource.plural, obj["metadata"]["name"], namespace,
                                  functools.partial(_set_owners, owners=kept))



def _set_owners(obj: Obj, owners: list[Obj]) -> None:
    if owners:
        obj["metadata"]["ownerReferences"] = owners
    else:
        obj["metadata"].pop("ownerReferences", None)


