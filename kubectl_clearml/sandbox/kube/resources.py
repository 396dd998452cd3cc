"""The one table of resources the Kubernetes emulator serves; discovery, routing and selectors read it."""

from __future__ import annotations

from dataclasses import dataclass

COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
# Field values the apiserver renders when the field is unset (Go zero values formatted as text).
FIELD_DEFAULTS = {"spec.unschedulable": "false"}


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    fields: frozenset[str] = frozenset()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ("create", "delete", "get", "list", "patch", "update", "watch")

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified(self) -> str:
        """``pods`` or ``deployments.apps``: how Status messages name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def field_allowed(self, field: str) -> bool:
        # Nodes and namespaces have their own field-label conversions, which know no metadata.namespace.
        if field == "metadata.namespace" and not self.namespaced:
            return False
        return field in COMMON_FIELDS or field in self.fields

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


# The access reviews: answered (from the stored RBAC objects, rbac.py), never stored, by reviews.py.
_REVIEW_VERBS = ("create",)
REVIEW_RESOURCES = (
    Resource("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
             verbs=_REVIEW_VERBS),
    Resource("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False,
             verbs=_REVIEW_VERBS),
    Resource("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False,
             verbs=_REVIEW_VERBS),
    Resource("authorization.k8s.io", "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", True,
             verbs=_REVIEW_VERBS),
    Resource("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False, verbs=_REVIEW_VERBS),
)

RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "namespaces", "Namespace", False, ("ns",), frozenset({"status.phase"}), ("status",)),
    Resource("", "v1", "nodes", "Node", False, ("no",), frozenset({"spec.unschedulable"}), ("status",)),
    Resource(
        "", "v1", "pods", "Pod", True, ("po",),
        frozenset({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                   "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"}),
        ("status", "log", "binding", "eviction", "ephemeralcontainers"),
    ),
    Resource("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    Resource("", "v1", "secrets", "Secret", True, (), frozenset({"type"})),
    Resource("", "v1", "services", "Service", True, ("svc",), subresources=("status",)),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), subresources=("status",)),
    Resource(
        "", "v1", "events", "Event", True, ("ev",),
        frozenset({"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                   "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                   "reason", "reportingComponent", "source", "type"}),
    ),
    Resource("apps", "v1", "deployments", "Deployment", True, ("deploy",), subresources=("status", "scale")),
    Resource("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), subresources=("status", "scale")),
    Resource("coordination.k8s.io", "v1", "leases", "Lease", True),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), subresources=("status",)),
    *REVIEW_RESOURCES,
    Resource("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, ("pc",)),
)

# `kubectl get all` lists the resources in the "all" category.
CATEGORY_ALL = frozenset({"pods", "services", "deployments", "replicasets"})

BY_PLURAL: dict[str, Resource] = {r.plural: r for r in RESOURCES}
BY_KIND: dict[str, Resource] = {r.kind: r for r in RESOURCES}
BY_GROUP_VERSION: dict[tuple[str, str, str], Resource] = {(r.group, r.version, r.plural): r for r in RESOURCES}
GROUPS: tuple[tuple[str, str], ...] = tuple(sorted({(r.group, r.version) for r in RESOURCES if r.group}))


def resource_for(name: str) -> Resource:
    """Look a resource up by plural, kind, singular or short name (``pods``, ``Pod``, ``pod``, ``po``)."""
    for resource in RESOURCES:
        if name in (resource.plural, resource.kind, resource.singular) or name in resource.short_names:
            return resource
    raise KeyError(f"the sandbox does not serve resource {name!r}")
