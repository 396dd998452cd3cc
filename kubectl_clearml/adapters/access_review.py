"""Access reviews: may I (SelfSubjectAccessReview), may this service account (SubjectAccessReview)?

What `kubectl auth can-i` asks. The answers are one HTTP call each; callers run them concurrently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubectl_clearml.adapters.kube import Kube

Ask = tuple[str, str, str | None]  # (verb, resource or "resource/subresource", namespace or None = cluster)


def _attributes(verb: str, resource: str, namespace: str | None) -> dict[str, Any]:
    plural, _, sub = resource.partition("/")
    attributes: dict[str, Any] = {"verb": verb, "resource": plural}
    if sub:
        attributes["subresource"] = sub
    if namespace:
        attributes["namespace"] = namespace
    return attributes


def may_i(kube: Kube, verb: str, resource: str, namespace: str | None) -> bool:
    """``kubectl auth can-i VERB RESOURCE -n NAMESPACE`` for the caller's own identity."""
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": _attributes(verb, resource, namespace)}}
    answer = kube.create("selfsubjectaccessreviews", body)
    return bool((answer.get("status") or {}).get("allowed"))


def may_they(kube: Kube, user: str, groups: Sequence[str], verb: str, resource: str, namespace: str | None) -> bool:
    """The same question for another identity (needs ``create subjectaccessreviews``)."""
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": list(groups),
                     "resourceAttributes": _attributes(verb, resource, namespace)}}
    answer = kube.create("subjectaccessreviews", body)
    return bool((answer.get("status") or {}).get("allowed"))


def service_account_identity(namespace: str, name: str) -> tuple[str, list[str]]:
    """The user and groups the apiserver's token authenticator gives a service account."""
    return (f"system:serviceaccount:{namespace}:{name}",
            ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"])
