"""Simulated kube-controller-manager loops: Deployments, ReplicaSets and the garbage collector.

What users' commands wait on, modelled on the real controllers' observable behaviour:
- **Deployment**: one ReplicaSet per distinct pod template (``<name>-<pod-template-hash>``), revisions in the
  ``deployment.kubernetes.io/revision`` annotation (an old template coming back, as ``rollout undo`` does it,
  reuses its ReplicaSet under a new revision). RollingUpdate brings the new ReplicaSet up and scales the old
  ones to zero once it is available (maxSurge 1 / maxUnavailable 0 for small replica counts, the defaults'
  rounding); Recreate scales the old ones down first. Status fields and the Available / Progressing
  conditions are the ones ``kubectl rollout status`` and ``kubectl wait --for=condition=Available`` read.
  ``revisionHistoryLimit`` old ReplicaSets are kept; ``paused`` stops rollouts.
- **ReplicaSet**: creates or deletes owned pods to match ``replicas``; adopts orphan pods its selector
  matches (a seeded pod is adopted, not duplicated); reports replicas / ready / available.
- **Garbage collector**: an object whose every owner is gone is deleted (background propagation).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

from kubectl_clearml.core.selectors import SelectorError, labels_match, match_labels_selector
from kubectl_clearml.sandbox.cluster.clock import utc_timestamp
from kubectl_clearml.sandbox.cluster.store import ClusterStore, Obj

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's SafeEncodeString alphabet
OWNED_KINDS = ("pods", "replicasets", "configmaps", "secrets", "services", "serviceaccounts", "deployments")
OWNER_ONLY_KINDS = ("nodes", "namespaces", "leases")  # may own objects; never collected here


def template_hash(template: Obj) -> str:
    """A stable short hash of a pod template (what the ``pod-template-hash`` label carries)."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    out = ""
    for _ in range(10):
        number, index = divmod(number, len(_SAFE))
        out += _SAFE[index]
    return out


def _meta(obj: Obj) -> Obj:
    meta: Obj = obj.setdefault("metadata", {})
    return meta


def _owner_ref(owner: Obj, kind: str, api_version: str) -> Obj:
    meta = owner["metadata"]
    return {"apiVersion": api_version, "kind": kind, "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def _owned_by(ref: Obj) -> Callable[[Obj], None]:
    def adopt(obj: Obj) -> None:
        _meta(obj)["ownerReferences"] = [ref]

    return adopt


def _controller_uid(obj: Obj) -> str | None:
    for ref in _meta(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def _selects(selector: Any, obj: Obj) -> bool:
    try:
        return labels_match(match_labels_selector(selector), _meta(obj).get("labels"))
    except SelectorError:
        return False


def _without_hash(template: Obj) -> Obj:
    template = copy.deepcopy(template or {})
    labels = (template.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return template


def _ready(pod: Obj) -> bool:
    if _meta(pod).get("deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def _active(pod: Obj) -> bool:
    return not _meta(pod).get("deletionTimestamp") and (pod.get("status") or {}).get("phase") not in (
        "Succeeded", "Failed")


def _revision(obj: Obj) -> int:
    try:
        return int((_meta(obj).get("annotations") or {}).get(REVISION) or 0)
    except ValueError:
        return 0


class Controllers:
    def __init__(self, store: ClusterStore) -> None:
        self.store = store
        self.collect_garbage = True  # set after deletions; the collector then runs once

    def step(self, pods: list[Obj]) -> None:
        deployments = self.store.list("deployments")
        replicasets = self.store.list("replicasets")
        for deployment in deployments:
            self._deployment(deployment, replicasets)
        replicasets = self.store.list("replicasets")
        for replicaset in replicasets:
            self._replicaset(replicaset, pods)
        if self.collect_garbage:
            self.collect_garbage = False
            self._collect()

    # ---- Deployment ---------------------------------------------------------------------------------
    def _deployment(self, deployment: Obj, all_replicasets: list[Obj]) -> None:
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        namespace = meta.get("namespace", "default")
        owned = [rs for rs in all_replicasets
                 if rs["metadata"].get("namespace") == namespace and self._owns(deployment, rs)]
        template = spec.get("template") or {}
        pod_hash, bare = template_hash(template), _without_hash(template)
        # The ReplicaSet this template made (its hash), or one whose template it is (rollout undo copies one).
        current = next((rs for rs in owned if (_meta(rs).get("labels") or {}).get(HASH_LABEL) == pod_hash), None) \
            or next((rs for rs in owned if _without_hash((rs.get("spec") or {}).get("template") or {}) == bare), None)
        replicas = int(spec.get("replicas", 1))
        top = max((_revision(rs) for rs in owned), default=0)
        if current is None and not spec.get("paused"):
            current = self._new_replicaset(deployment, template, top + 1,
                                           0 if self._recreate_pending(spec, owned) else replicas)
            owned.append(current)
        elif current is not None and _revision(current) < top and not spec.get("paused"):
            self._set_revision(current, top + 1)  # an old template is back (rollout undo)
        if current is not None and not spec.get("paused"):
            self._roll(spec, current, owned, replicas)
        self._prune_history(spec, current, owned)
        self._deployment_status(deployment, current, owned)

    def _owns(self, deployment: Obj, replicaset: Obj) -> bool:
        uid = _controller_uid(replicaset)
        if uid is not None:
            return uid == str(deployment["metadata"]["uid"])
        selector = (deployment.get("spec") or {}).get("selector")
        if _selects(selector, replicaset):  # an orphan the selector matches is adopted
            ref = _owner_ref(deployment, "Deployment", "apps/v1")
            self.store.update("replicasets", replicaset["metadata"]["name"], replicaset["metadata"]["namespace"],
                              _owned_by(ref))
            return True
        return False

    def _new_replicaset(self, deployment: Obj, template: Obj, revision: int, replicas: int) -> Obj:
        meta = deployment["metadata"]
        pod_hash = template_hash(template)
        template = copy.deepcopy(template)
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels[HASH_LABEL] = pod_hash
        selector = copy.deepcopy((deployment.get("spec") or {}).get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        annotations = {REVISION: str(revision)}
        cause = (meta.get("annotations") or {}).get("kubernetes.io/change-cause")
        if cause:
            annotations["kubernetes.io/change-cause"] = cause
        replicaset = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{meta['name']}-{pod_hash}", "namespace": meta.get("namespace", "default"),
                         "labels": dict(labels), "annotations": annotations,
                         "ownerReferences": [_owner_ref(deployment, "Deployment", "apps/v1")]},
            "spec": {"replicas": replicas, "selector": selector, "template": template},
        }
        return self.store.create("replicasets", replicaset)

    @staticmethod
    def _recreate_pending(spec: Obj, owned: list[Obj]) -> bool:
        strategy = (spec.get("strategy") or {}).get("type")
        return strategy == "Recreate" and any((rs.get("status") or {}).get("replicas") for rs in owned)

    def _roll(self, spec: Obj, current: Obj, owned: list[Obj], replicas: int) -> None:
        old = [rs for rs in owned if rs is not current]
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        old_running = sum(int((rs.get("status") or {}).get("replicas") or 0) for rs in old)
        wanted_new = 0 if recreate and old_running else replicas
        self._scale(current, wanted_new)
        available = int((current.get("status") or {}).get("availableReplicas") or 0)
        if recreate or available >= replicas:
            for rs in old:
                self._scale(rs, 0)

    def _scale(self, replicaset: Obj, replicas: int) -> None:
        if int((replicaset.get("spec") or {}).get("replicas", 1)) != replicas:
            self.store.update("replicasets", replicaset["metadata"]["name"], replicaset["metadata"]["namespace"],
                              lambda rs: rs.setdefault("spec", {}).__setitem__("replicas", replicas))

    def _set_revision(self, replicaset: Obj, revision: int) -> None:
        self.store.update("replicasets", replicaset["metadata"]["name"], replicaset["metadata"]["namespace"],
                          lambda rs: _meta(rs).setdefault("annotations", {}).__setitem__(REVISION, str(revision)))
        _meta(replicaset).setdefault("annotations", {})[REVISION] = str(revision)

    def _prune_history(self, spec: Obj, current: Obj | None, owned: list[Obj]) -> None:
        limit = int(spec.get("revisionHistoryLimit", 10))
        idle = sorted((rs for rs in owned if rs is not current and not (rs.get("spec") or {}).get("replicas")
                       and not (rs.get("status") or {}).get("replicas")), key=_revision)
        for rs in idle[:max(0, len(idle) - limit)]:
            self.store.delete("replicasets", rs["metadata"]["name"], rs["metadata"]["namespace"])

    def _deployment_status(self, deployment: Obj, current: Obj | None, owned: list[Obj]) -> None:
        spec, meta = deployment.get("spec") or {}, deployment["metadata"]
        replicas = int(spec.get("replicas", 1))

        def count(rs: Obj, field: str) -> int:
            return int((rs.get("status") or {}).get(field) or 0)

        total = sum(count(rs, "replicas") for rs in owned)
        updated = count(current, "replicas") if current is not None else 0
        ready = sum(count(rs, "readyReplicas") for rs in owned)
        available = sum(count(rs, "availableReplicas") for rs in owned)
        complete = current is not None and updated == replicas == total and available >= replicas
        previous = {c.get("type"): c for c in (deployment.get("status") or {}).get("conditions") or ()}
        rs_name = current["metadata"]["name"] if current is not None else meta["name"]
        conditions = [
            _condition(previous, "Available", available >= replicas,
                       "MinimumReplicasAvailable" if available >= replicas else "MinimumReplicasUnavailable",
                       "Deployment has minimum availability." if available >= replicas else
                       "Deployment does not have minimum availability."),
            _condition(previous, "Progressing", True, "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                       f'ReplicaSet "{rs_name}" has successfully progressed.' if complete else
                       f'ReplicaSet "{rs_name}" is progressing.'),
        ]
        status: Obj = {"observedGeneration": int(meta.get("generation", 1)), "replicas": total,
                       "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": available,
                       "conditions": conditions}
        if replicas - available > 0:
            status["unavailableReplicas"] = replicas - available
        for key in ("readyReplicas", "availableReplicas", "updatedReplicas", "replicas"):
            if not status[key]:
                del status[key]  # zero counts are omitted, as the apiserver encodes them
        revision = str(_revision(current)) if current is not None else None

        def write(obj: Obj) -> None:
            obj["status"] = status
            if revision:
                _meta(obj).setdefault("annotations", {})[REVISION] = revision

        if deployment.get("status") != status or (
                revision and (meta.get("annotations") or {}).get(REVISION) != revision):
            self.store.update("deployments", meta["name"], meta.get("namespace"), write)

    # ---- ReplicaSet ---------------------------------------------------------------------------------
    def _replicaset(self, replicaset: Obj, all_pods: list[Obj]) -> None:
        meta, spec = replicaset["metadata"], replicaset.get("spec") or {}
        namespace = meta.get("namespace", "default")
        pods = []
        for pod in all_pods:
            if _meta(pod).get("namespace") != namespace:
                continue
            owner = _controller_uid(pod)
            if owner == meta["uid"]:
                pods.append(pod)
            elif owner is None and _active(pod) and _selects(spec.get("selector"), pod):
                ref = _owner_ref(replicaset, "ReplicaSet", "apps/v1")
                self.store.update("pods", pod["metadata"]["name"], namespace, _owned_by(ref))
                pods.append(pod)
        active = [pod for pod in pods if _active(pod)]
        wanted = int(spec.get("replicas", 1))
        for _ in range(wanted - len(active)):
            active.append(self._new_pod(replicaset))
        if len(active) > wanted:
            # Not-ready pods go first, then the youngest (the controller's ranking, simplified).
            victims = sorted(active, key=lambda p: (_ready(p), _meta(p).get("creationTimestamp", "")),
                             reverse=False)[:len(active) - wanted]
            for pod in victims:
                self.store.delete("pods", pod["metadata"]["name"], namespace)
                active.remove(pod)
        ready = sum(1 for pod in active if _ready(pod))
        status: Obj = {"replicas": len(active), "fullyLabeledReplicas": len(active), "readyReplicas": ready,
                       "availableReplicas": ready, "observedGeneration": int(meta.get("generation", 1))}
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        if replicaset.get("status") != status:
            self.store.update("replicasets", meta["name"], namespace, lambda rs: rs.__setitem__("status", status))
            replicaset["status"] = status

    def _new_pod(self, replicaset: Obj) -> Obj:
        meta = replicaset["metadata"]
        template = copy.deepcopy((replicaset.get("spec") or {}).get("template") or {})
        pod_meta = template.get("metadata") or {}
        pod_meta.update(generateName=f"{meta['name']}-", namespace=meta.get("namespace", "default"),
                        ownerReferences=[_owner_ref(replicaset, "ReplicaSet", "apps/v1")])
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template.get("spec") or {}}
        return self.store.create("pods", pod)

    # ---- garbage collector -------------------------------------------------------------------------
    def _collect(self) -> None:
        objects = {kind: self.store.list(kind) for kind in OWNED_KINDS}
        uids = {str(o["metadata"].get("uid")) for items in objects.values() for o in items}
        uids.update(str(o["metadata"].get("uid")) for kind in OWNER_ONLY_KINDS for o in self.store.list(kind))
        for kind, items in objects.items():
            for obj in items:
                refs = obj["metadata"].get("ownerReferences") or ()
                if refs and not any(str(ref.get("uid")) in uids for ref in refs):
                    self.store.delete(kind, obj["metadata"]["name"], obj["metadata"].get("namespace"))


def _condition(previous: dict[str, Obj], kind: str, ok: bool, reason: str, message: str) -> Obj:
    value = "True" if ok else "False"
    before = previous.get(kind) or {}
    now = before.get("lastUpdateTime") if before.get("reason") == reason else None
    stamp = now or utc_timestamp()
    transition = before.get("lastTransitionTime") if before.get("status") == value else None
    return {"type": kind, "status": value, "lastUpdateTime": stamp, "lastTransitionTime": transition or stamp,
            "reason": reason, "message": message}
