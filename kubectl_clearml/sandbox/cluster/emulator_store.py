"""The Kubernetes emulator's store backdoor, as the ClusterStore the scheduler and kubelet use.

The emulator's ``Store`` already speaks most of the protocol (copies in, copies out, change callbacks);
this wrapper adds ``add(resource, obj)`` for the world loader, filling in ``kind`` from the plural.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubectl_clearml.sandbox.cluster.store import ChangeCallback, Obj

KINDS = {
    "namespaces": "Namespace",
    "nodes": "Node",
    "pods": "Pod",
    "secrets": "Secret",
    "configmaps": "ConfigMap",
    "serviceaccounts": "ServiceAccount",
    "services": "Service",
    "deployments": "Deployment",
    "replicasets": "ReplicaSet",
    "events": "Event",
    "leases": "Lease",
    "roles": "Role",
    "rolebindings": "RoleBinding",
    "clusterroles": "ClusterRole",
    "clusterrolebindings": "ClusterRoleBinding",
}
RBAC_V1 = "rbac.authorization.k8s.io/v1"
API_VERSIONS = {"deployments": "apps/v1", "replicasets": "apps/v1", "leases": "coordination.k8s.io/v1",
                "roles": RBAC_V1, "rolebindings": RBAC_V1, "clusterroles": RBAC_V1, "clusterrolebindings": RBAC_V1}


class EmulatorStore:
    def __init__(self, store: Any) -> None:
        self.store = store

    def add(self, resource: str, obj: Obj) -> None:
        obj = dict(obj)
        obj.setdefault("kind", KINDS[resource])
        obj.setdefault("apiVersion", API_VERSIONS.get(resource, "v1"))
        self.store.add(obj)

    def list(self, resource: str) -> list[Obj]:
        items: list[Obj] = self.store.list(resource)
        return items

    def get(self, resource: str, name: str, namespace: str | None = None) -> Obj | None:
        found: Obj | None = self.store.get(resource, name, namespace)
        return found

    def create(self, resource: str, obj: Obj) -> Obj:
        obj = dict(obj)
        obj.setdefault("kind", KINDS[resource])
        obj.setdefault("apiVersion", API_VERSIONS.get(resource, "v1"))
        created: Obj = self.store.create(obj)
        return created

    def update(self, resource: str, name: str, namespace: str | None, change: Callable[[Obj], None]) -> Obj | None:
        updated: Obj | None = self.store.update(resource, name, namespace, change)
        return updated

    def delete(self, resource: str, name: str, namespace: str | None = None) -> bool:
        return bool(self.store.delete(resource, name, namespace))

    def bind_pod(self, namespace: str, name: str, node_name: str) -> None:
        self.store.bind_pod(namespace, name, node_name)

    def update_pod_status(self, namespace: str, name: str, status: Obj) -> None:
        self.store.update_pod_status(namespace, name, status)

    def create_event(self, event: Obj) -> None:
        self.store.create_event(event)

    def set_pod_log(self, namespace: str, name: str, text: str) -> None:
        self.store.set_pod_log(namespace, name, text)

    def subscribe(self, callback: ChangeCallback) -> Callable[[], None]:
        unsubscribe: Callable[[], None] = self.store.subscribe(callback)
        return unsubscribe
