"""Authorization as the apiserver's RBAC authorizer does it, from the Role/ClusterRole objects in the store.

Who a request is: ``Identities`` maps bearer tokens to users and users to groups. A service account's user
``system:serviceaccount:<ns>:<name>`` is in the groups ``system:serviceaccounts`` and
``system:serviceaccounts:<ns>``; every identity is in ``system:authenticated``. Members of ``system:masters``
(the sandbox's own admin identity) may do anything, as on a real cluster (the bootstrap cluster-admin binding).
Everyone authenticated may create SelfSubjectAccessReviews and SelfSubjectRulesReviews (``system:basic-user``).

Rules follow the RBAC evaluation of Kubernetes 1.32 (plugin/pkg/auth/authorizer/rbac): a RoleBinding grants its
Role (or a ClusterRole) in the binding's namespace only; a ClusterRoleBinding grants a ClusterRole everywhere;
``*`` matches any verb, group or resource; ``pods/*`` and ``*/log`` match subresources; ``resourceNames``
narrows a rule to named objects (never to list/watch/create of a collection). Aggregation is not modelled.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubectl_clearml.sandbox.kube import status as st
from kubectl_clearml.sandbox.kube.resources import BY_PLURAL, Resource
from kubectl_clearml.sandbox.kube.store import Obj, Store

RBAC_GROUP = "rbac.authorization.k8s.io"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
SA_PREFIX = "system:serviceaccount:"
# system:basic-user: every authenticated identity may ask what it itself may do.
SELF_REVIEWS = frozenset({"selfsubjectaccessreviews", "selfsubjectrulesreviews"})


def service_account_user(namespace: str, name: str) -> str:
    return f"{SA_PREFIX}{namespace}:{name}"


def implied_groups(user: str) -> tuple[str, ...]:
    """The groups an authenticator adds: service-account groups, and system:authenticated for everyone."""
    groups = [AUTHENTICATED]
    if user.startswith(SA_PREFIX):
        namespace = user[len(SA_PREFIX):].split(":", 1)[0]
        groups += ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    return tuple(groups)


class Identities:
    """Bearer tokens → users, users → groups (thread-safe; tests add restricted identities at will)."""

    def __init__(self, admin: str) -> None:
        self._lock = threading.Lock()
        self.admin = admin
        self._tokens: dict[str, str] = {}
        self._groups: dict[str, tuple[str, ...]] = {admin: (MASTERS,)}

    def add(self, token: str, user: str, groups: Iterable[str] = ()) -> None:
        with self._lock:
            self._tokens[token] = user
            if user != self.admin or groups:
                self._groups[user] = tuple(groups)

    def user_for_token(self, token: str) -> str | None:
        with self._lock:
            return self._tokens.get(token)

    def groups(self, user: str) -> tuple[str, ...]:
        with self._lock:
            explicit = self._groups.get(user, ())
        return tuple(dict.fromkeys((*explicit, *implied_groups(user))))

    def clear(self) -> None:
        """Forget every identity a test added; the admin's tokens stay (kubeconfigs written earlier work on)."""
        with self._lock:
            self._tokens = {t: u for t, u in self._tokens.items() if u == self.admin}
            self._groups = {self.admin: (MASTERS,)}


@dataclass(frozen=True)
class Attributes:
    """What a request (or an access review) asks: the authorizer.Attributes of the apiserver."""

    user: str
    groups: tuple[str, ...]
    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""  # a non-resource request (``/healthz``) when set

    @property
    def is_resource(self) -> bool:
        return not self.path


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


class Rbac:
    """Answers "may this identity do this?" from the store's RBAC objects."""

    def __init__(self, store: Store, identities: Identities) -> None:
        self.store = store
        self.identities = identities

    # ---- the request path ----------------------------------------------------------------------------
    def check(self, verb: str, resource: Resource, subresource: str | None, namespace: str | None,
              name: str | None, user: str) -> st.ApiError | None:
        """The Authorizer the handlers call before any read or change: None, or the apiserver's 403."""
        attributes = Attributes(user, self.identities.groups(user), verb, resource.group, resource.plural,
                                subresource or "", namespace or "", name or "")
        if self.decide(attributes).allowed:
            return None
        return st.forbidden(resource, subresource, verb, user, namespace, name)

    # ---- evaluation ------------------------------------------------------------------------------------
    def decide(self, attributes: Attributes) -> Decision:
        if MASTERS in attributes.groups:
            return Decision(True, f'RBAC: allowed because "{attributes.user}" is in group "{MASTERS}"')
        if attributes.is_resource and attributes.resource in SELF_REVIEWS and attributes.verb == "create":
            return Decision(True, 'RBAC: allowed by ClusterRoleBinding "system:basic-user" of ClusterRole '
                                  f'"system:basic-user" to Group "{AUTHENTICATED}"')
        if not attributes.is_resource and AUTHENTICATED in attributes.groups and attributes.verb == "get":
            # system:discovery / system:public-info-viewer: /api, /version, /healthz... for everyone.
            return Decision(True, 'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole '
                                  f'"system:discovery" to Group "{AUTHENTICATED}"')
        for binding, role, subject in self._grants(attributes):
            if any(rule_allows(rule, attributes) for rule in role.get("rules") or ()):
                return Decision(True, f"RBAC: allowed by {_describe(binding, role, subject)}")
        return Decision(False)

    def rules_for(self, user: str, groups: tuple[str, ...], namespace: str) -> list[Obj]:
        """Every rule that applies to the identity in ``namespace`` (a SelfSubjectRulesReview)."""
        attributes = Attributes(user, groups, "", namespace=namespace)
        rules: list[Obj] = []
        if MASTERS in groups:
            rules.append({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})
        rules.append({"verbs": ["create"], "apiGroups": ["authorization.k8s.io"], "resources": sorted(SELF_REVIEWS)})
        for _, role, _ in self._grants(attributes):
            rules.extend(r for r in role.get("rules") or () if not r.get("nonResourceURLs"))
        return rules

    def _grants(self, attributes: Attributes) -> Iterable[tuple[Obj, Obj, Obj]]:
        """(binding, role, matching subject) for every binding that names this identity and applies here."""
        store = self.store
        bindings, _ = store.listing("clusterrolebindings", None)
        candidates = list(bindings)
        if attributes.namespace:
            namespaced, _ = store.listing("rolebindings", attributes.namespace)
            candidates += namespaced
        for binding in candidates:
            subject = _subject_matching(binding, attributes)
            if subject is None:
                continue
            ref = binding.get("roleRef") or {}
            if ref.get("kind") == "Role":
                role = store.read("roles", binding["metadata"].get("namespace"), str(ref.get("name", "")))
            else:
                role = store.read("clusterroles", None, str(ref.get("name", "")))
            if role is not None:
                yield binding, role, subject


def rule_allows(rule: Obj, attributes: Attributes) -> bool:
    verbs = rule.get("verbs") or ()
    if "*" not in verbs and attributes.verb not in verbs:
        return False
    if not attributes.is_resource:
        return any(_path_matches(pattern, attributes.path) for pattern in rule.get("nonResourceURLs") or ())
    groups = rule.get("apiGroups") or ()
    if "*" not in groups and attributes.group not in groups:
        return False
    if not any(_resource_matches(r, attributes.resource, attributes.subresource) for r in rule.get("resources") or ()):
        return False
    names = rule.get("resourceNames") or ()
    return not names or (bool(attributes.name) and attributes.name in names)


def _resource_matches(pattern: str, resource: str, subresource: str) -> bool:
    if pattern == "*":
        return True
    combined = f"{resource}/{subresource}" if subresource else resource
    if pattern == combined:
        return True
    if subresource and pattern == f"*/{subresource}":
        return True
    return bool(subresource) and pattern == f"{resource}/*"


def _path_matches(pattern: str, path: str) -> bool:
    return pattern == "*" or pattern == path or (pattern.endswith("*") and path.startswith(pattern[:-1]))


def _subject_matching(binding: Obj, attributes: Attributes) -> Obj | None:
    namespace = (binding.get("metadata") or {}).get("namespace") or ""
    for subject in binding.get("subjects") or ():
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "User" and name == attributes.user:
            return dict(subject)
        if kind == "Group" and name in attributes.groups:
            return dict(subject)
        if kind == "ServiceAccount" and service_account_user(subject.get("namespace") or namespace,
                                                             str(name)) == attributes.user:
            return dict(subject)
    return None


def _describe(binding: Obj, role: Obj, subject: Obj) -> str:
    """The reason string the RBAC authorizer gives, e.g. RoleBinding "agent/clearml" of Role "agent" to ..."""
    meta, role_meta = binding.get("metadata") or {}, role.get("metadata") or {}
    where = f'{meta.get("name")}/{meta["namespace"]}' if meta.get("namespace") else str(meta.get("name"))
    kind = "RoleBinding" if meta.get("namespace") else "ClusterRoleBinding"
    role_kind = "Role" if role_meta.get("namespace") else "ClusterRole"
    who = subject.get("name")
    if subject.get("kind") == "ServiceAccount":
        who = f'{who}/{subject.get("namespace") or meta.get("namespace")}'
    return f'{kind} "{where}" of {role_kind} "{role_meta.get("name")}" to {subject.get("kind")} "{who}"'


def resource_for_review(plural: str, group: str) -> Resource:
    """The served resource a review names, or a stand-in (reviews may ask about kinds the sandbox lacks)."""
    served = BY_PLURAL.get(plural)
    if served is not None and served.group == group:
        return served
    return Resource(group, "v1", plural or "*", plural.capitalize() or "Unknown", True)


def attributes_from_spec(spec: dict[str, Any], user: str, groups: tuple[str, ...]) -> Attributes:
    """A review's spec (resourceAttributes or nonResourceAttributes) as authorizer attributes."""
    resource = spec.get("resourceAttributes")
    if isinstance(resource, dict):
        return Attributes(user, groups, str(resource.get("verb") or ""), str(resource.get("group") or ""),
                          str(resource.get("resource") or ""), str(resource.get("subresource") or ""),
                          str(resource.get("namespace") or ""), str(resource.get("name") or ""))
    other = spec.get("nonResourceAttributes") or {}
    return Attributes(user, groups, str(other.get("verb") or ""), path=str(other.get("path") or "/"))
