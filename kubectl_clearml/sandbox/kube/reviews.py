"""Access reviews (``kubectl auth can-i``) and the health endpoints, answered before the resource handlers.

authorization.k8s.io/v1: SelfSubjectAccessReview (may *I*?), SubjectAccessReview (may *they*? creating one
needs ``create subjectaccessreviews``), LocalSubjectAccessReview (the same, in one namespace) and
SelfSubjectRulesReview (``kubectl auth can-i --list``). Reviews are not stored: the answer is the request
with a ``status`` ``{allowed, reason}``. The emulator's deny rules count too, so a test that denies a verb
sees the same "no" from a review as from the request itself.

SelfSubjectReview (authentication.k8s.io/v1, ``kubectl auth whoami``) names the caller and its groups.
``/healthz``, ``/livez``, ``/readyz`` answer ``ok`` (``?verbose`` lists the checks), as the apiserver does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kubectl_clearml.sandbox.kube import protobuf
from kubectl_clearml.sandbox.kube import status as st
from kubectl_clearml.sandbox.kube.rbac import Attributes, Decision, Rbac, attributes_from_spec, resource_for_review
from kubectl_clearml.sandbox.kube.resources import BY_PLURAL
from kubectl_clearml.sandbox.kube.wire import Request, Response, error_response, json_response

GROUP_PATH = "/apis/authorization.k8s.io/v1/"
REVIEWS = {
    "selfsubjectaccessreviews": "SelfSubjectAccessReview",
    "subjectaccessreviews": "SubjectAccessReview",
    "localsubjectaccessreviews": "LocalSubjectAccessReview",
    "selfsubjectrulesreviews": "SelfSubjectRulesReview",
}
WHOAMI_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"  # kubectl auth whoami
HEALTH_PATHS = ("/healthz", "/livez", "/readyz")
HEALTH_CHECKS = ("ping", "log", "etcd", "poststarthook/start-kube-apiserver-admission-initializer")

DenyCheck = Callable[..., "st.ApiError | None"]


def handles(request: Request) -> bool:
    path = request.path.rstrip("/")
    if request.method == "GET" and (path in HEALTH_PATHS or path.rsplit("/", 1)[0] in HEALTH_PATHS):
        return True
    if request.method == "POST" and path == WHOAMI_PATH:
        return True
    return request.method == "POST" and path.startswith(GROUP_PATH) and path.rsplit("/", 1)[-1] in REVIEWS


def serve(request: Request, rbac: Rbac, deny: DenyCheck) -> Response:
    if request.method == "GET":
        return _health(request)
    if request.path.rstrip("/") == WHOAMI_PATH:  # who the token (or --as) says we are
        return json_response(201, {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                                   "metadata": {"creationTimestamp": None},
                                   "status": {"userInfo": {"username": request.user,
                                                           "groups": list(rbac.identities.groups(request.user))}}})
    try:
        return _review(request, rbac, deny)
    except st.ApiError as error:
        return error_response(error)


def _health(request: Request) -> Response:
    path = request.path.rstrip("/")
    if path not in HEALTH_PATHS:  # /readyz/ping: one named check
        check = path.rsplit("/", 1)[1]
        if check not in HEALTH_CHECKS:
            return Response(404, b"404 page not found\n", "text/plain; charset=utf-8")
        return Response(200, b"ok", "text/plain; charset=utf-8")
    if "verbose" in request.query:
        lines = [f"[+]{check} ok" for check in HEALTH_CHECKS]
        lines.append(f"{path.strip('/')} check passed")
        return Response(200, ("\n".join(lines) + "\n").encode(), "text/plain; charset=utf-8")
    return Response(200, b"ok", "text/plain; charset=utf-8")


def _review(request: Request, rbac: Rbac, deny: DenyCheck) -> Response:
    parts = request.path.rstrip("/")[len(GROUP_PATH):].split("/")
    plural = parts[-1]
    namespace = parts[1] if len(parts) == 3 and parts[0] == "namespaces" else None
    if (plural == "localsubjectaccessreviews") != (namespace is not None) or len(parts) not in (1, 3):
        raise st.ApiError(404, "the server could not find the requested resource", "NotFound", {})
    resource = resource_for_review(plural, "authorization.k8s.io")
    denied = rbac.check("create", resource, None, namespace, None, request.user) or deny(
        "create", resource, None, namespace, None, request.user)
    if denied is not None:
        raise denied
    try:
        body = protobuf.decode_object(request.body) if protobuf.is_protobuf(request.body) \
            else json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise st.ApiError(400, "the request body is not a valid review", "BadRequest", {}) from None
    if not isinstance(body, dict):
        raise st.ApiError(400, "the request body must be a JSON object", "BadRequest", {})
    spec: dict[str, Any] = body["spec"] if isinstance(body.get("spec"), dict) else {}
    if plural.startswith("self"):
        user, groups = request.user, rbac.identities.groups(request.user)
    else:
        user = str(spec.get("user") or "")
        groups = tuple(dict.fromkeys((*[str(g) for g in spec.get("groups") or ()],)))
        if not user and not groups:
            raise st.invalid(resource, "", [("spec.user", "Required value: at least one of user or group "
                                                          "must be specified")])
    answer: dict[str, Any] = {
        "kind": REVIEWS[plural], "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None, **(body.get("metadata") or {})}, "spec": spec,
    }
    if plural == "selfsubjectrulesreviews":
        rules = rbac.rules_for(user, groups, str(spec.get("namespace") or ""))
        answer["status"] = {"resourceRules": [_rules_shape(r) for r in rules],
                            "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis",
                                                                                         "/apis/*", "/healthz",
                                                                                         "/livez", "/readyz",
                                                                                         "/version", "/version/"]}],
                            "incomplete": False}
        return json_response(201, answer)
    attributes = attributes_from_spec(spec, user, groups)
    if namespace is not None and attributes.is_resource:
        attributes = Attributes(**{**attributes.__dict__, "namespace": namespace})
    decision = _decide(rbac, deny, attributes)
    answer["status"] = {"allowed": decision.allowed, **({"reason": decision.reason} if decision.reason else {})}
    return json_response(201, answer)


def _decide(rbac: Rbac, deny: DenyCheck, attributes: Attributes) -> Decision:
    decision = rbac.decide(attributes)
    if decision.allowed and attributes.is_resource:
        resource = BY_PLURAL.get(attributes.resource) or resource_for_review(attributes.resource, attributes.group)
        if deny(attributes.verb, resource, attributes.subresource or None, attributes.namespace or None,
                attributes.name or None, attributes.user) is not None:
            return Decision(False, "denied by a sandbox deny rule")
    return decision


def _rules_shape(rule: dict[str, Any]) -> dict[str, Any]:
    return {key: list(rule[key]) for key in ("verbs", "apiGroups", "resources", "resourceNames") if rule.get(key)}
