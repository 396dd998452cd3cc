"""Discovery documents (legacy, non-aggregated) and request routing, both generated from the resource table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubectl_clearml.sandbox.kube import status as st
from kubectl_clearml.sandbox.kube.resources import BY_GROUP_VERSION, CATEGORY_ALL, GROUPS, RESOURCES, Resource

KUBE_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-sandbox",
    "gitCommit": "sandbox",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23",
    "compiler": "gc",
    "platform": "linux/amd64",
}

SUBRESOURCE_VERBS = {"status": ["get", "patch", "update"], "scale": ["get", "patch", "update"],
                      "log": ["get"], "binding": ["create"], "eviction": ["create"],
                     "ephemeralcontainers": ["get", "patch", "update"]}
_SUBRESOURCE_KIND = {"scale": ("autoscaling", "v1", "Scale"), "binding": ("", "v1", "Binding"),
                     "eviction": ("policy", "v1", "Eviction")}


@dataclass(frozen=True)
class Route:
    """A resource request: ``/api/v1/namespaces/ns/pods/name/log`` → (pods, ns, name, log)."""

    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str | None


def discovery_document(path: str, host: str) -> dict[str, Any] | None:
    """The discovery answer for ``path``, or None when ``path`` is not a discovery path."""
    if path == "/version":
        return KUBE_VERSION
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g, v) for g, v in GROUPS]}
    if path == "/api/v1":
        return _resource_list("", "v1")
    if path == "/openapi/v3":
        return {"paths": {_gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash=sandbox"}
                          for g, v in (("", "v1"), *GROUPS)}}
    if path.startswith("/openapi/v3/"):
        for group, version in (("", "v1"), *GROUPS):
            if path == f"/openapi/v3/{_gv_path(group, version)}":
                return _openapi_v3(group, version)
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "apis":
        for group, version in GROUPS:
            if group == parts[1]:
                return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, version)}
    if len(parts) == 3 and parts[0] == "apis" and (parts[1], parts[2]) in GROUPS:
        return _resource_list(parts[1], parts[2])
    return None


def route(path: str) -> Route:
    """Parse a resource path; 404 (the apiserver's plain ``the server could not find...``) otherwise."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise _no_route()
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and (group, version, rest[2]) in BY_GROUP_VERSION:
        namespace, rest = rest[1], rest[2:]
    if not rest or (group, version, rest[0]) not in BY_GROUP_VERSION or len(rest) > 3:
        raise _no_route()
    resource = BY_GROUP_VERSION[(group, version, rest[0])]
    if (resource.namespaced and namespace is None and len(rest) > 1) or (
        not resource.namespaced and namespace is not None
    ):
        raise _no_route()
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if subresource is not None and subresource not in resource.subresources:
        raise _no_route()
    return Route(resource, namespace, name, subresource)


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _openapi_v3(group: str, version: str) -> dict[str, Any]:
    """Just enough OpenAPI v3 for kubectl to see that the server validates fields itself.

    kubectl (``--validate``, the default) then skips client-side schema validation, which would need the
    full OpenAPI v2 document, and ``kubectl create -f`` / ``apply -f`` work without ``--validate=false``.
    """
    paths: dict[str, Any] = {}
    for r in RESOURCES:
        if (r.group, r.version) != (group, version):
            continue
        base = "/" + _gv_path(group, version) + ("/namespaces/{namespace}" if r.namespaced else "")
        paths[f"{base}/{r.plural}/{{name}}"] = {"patch": {
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": r.kind},
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
            "responses": {},
        }}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": KUBE_VERSION["gitVersion"]},
            "paths": paths, "components": {}}


def _no_route() -> st.ApiError:
    return st.ApiError(404, "the server could not find the requested resource", "NotFound", {})


def _group(group: str, version: str) -> dict[str, Any]:
    gv = {"groupVersion": f"{group}/{version}", "version": version}
    return {"name": group, "versions": [gv], "preferredVersion": gv}


def _resource_list(group: str, version: str) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for r in RESOURCES:
        if (r.group, r.version) != (group, version):
            continue
        entry: dict[str, Any] = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                                 "kind": r.kind, "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.plural in CATEGORY_ALL:
            entry["categories"] = ["all"]
        resources.append(entry)
        for sub in r.subresources:
            sub_group, sub_version, kind = _SUBRESOURCE_KIND.get(sub, ("", "", r.kind))
            sub_entry: dict[str, Any] = {"name": f"{r.plural}/{sub}", "singularName": "",
                                         "namespaced": r.namespaced, "kind": kind, "verbs": SUBRESOURCE_VERBS[sub]}
            if sub_group:
                sub_entry.update(group=sub_group, version=sub_version)
            resources.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}".lstrip("/"),
            "resources": resources}
