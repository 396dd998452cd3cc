"""Request bodies as the apiserver decodes them: JSON (protobuf for a few kinds), DeleteOptions, Go struct types.

A wrong JSON type in a field the emulator (or the plugin) reads is the apiserver's 400 for a create or update
(``Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number into Go struct field
Pod.spec of type v1.PodSpec``) and its 422 on field ``patch`` for a patch result, never a crash. ``null``
values there are dropped, as Go decodes them to zero values that are not encoded back. Fields not listed
are kept as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.sandbox.kube import protobuf
from kubectl_clearml.sandbox.kube import status as st
from kubectl_clearml.sandbox.kube.resources import Resource


@dataclass(frozen=True)
class Struct:
    go_name: str
    fields: dict[str, Any] = field(default_factory=dict)  # name -> Struct | Array | MapOf | scalar type name


@dataclass(frozen=True)
class Array:
    item: Any

    @property
    def go_name(self) -> str:
        return "[]" + _go_name(self.item)


@dataclass(frozen=True)
class MapOf:
    value: Any

    @property
    def go_name(self) -> str:
        return "map[string]" + _go_name(self.value)


_JSON_KIND = {str: "string", bool: "bool", int: "number", float: "number", list: "array", dict: "object"}
_SCALARS = {"string": (str,), "bool": (bool,), "int32": (int,), "int64": (int,)}

STRINGS = MapOf("string")
META = Struct("v1.ObjectMeta", {
    "name": "string", "generateName": "string", "namespace": "string", "uid": "string",
    "resourceVersion": "string", "creationTimestamp": "string", "generation": "int64",
    "labels": STRINGS, "annotations": STRINGS, "finalizers": Array("string"),
    "ownerReferences": Array(Struct("v1.OwnerReference")),
})
CONTAINER = Struct("v1.Container", {
    "name": "string", "image": "string", "command": Array("string"), "args": Array("string"),
    "env": Array(Struct("v1.EnvVar", {"name": "string", "value": "string"})),
    "ports": Array(Struct("v1.ContainerPort", {"containerPort": "int32", "name": "string"})),
    "volumeMounts": Array(Struct("v1.VolumeMount", {"name": "string", "mountPath": "string"})),
    "resources": Struct("v1.ResourceRequirements", {"limits": MapOf(None), "requests": MapOf(None)}),
})
POD_SPEC = Struct("v1.PodSpec", {
    "containers": Array(CONTAINER), "initContainers": Array(CONTAINER),
    "volumes": Array(Struct("v1.Volume", {"name": "string"})),
    "tolerations": Array(Struct("v1.Toleration")), "imagePullSecrets": Array(Struct("v1.LocalObjectReference")),
    "nodeSelector": STRINGS, "nodeName": "string", "restartPolicy": "string", "serviceAccountName": "string",
    "schedulerName": "string",
})
TEMPLATE = Struct("v1.PodTemplateSpec", {"metadata": META, "spec": POD_SPEC})
_SPECS: dict[str, Any] = {
    "pods": POD_SPEC,
    "deployments": Struct("v1.DeploymentSpec", {"replicas": "int32", "selector": Struct("v1.LabelSelector"),
                                                "template": TEMPLATE}),
    "nodes": Struct("v1.NodeSpec", {"unschedulable": "bool", "taints": Array(Struct("v1.Taint"))}),
}
_DATA = {"configmaps": STRINGS, "secrets": STRINGS}
SCALE = Struct("Scale", {"metadata": META, "spec": Struct("v1.ScaleSpec", {"replicas": "int32"})})


def _go_name(shape: Any) -> str:
    return shape if isinstance(shape, str) else "interface {}" if shape is None else shape.go_name


def shape_of(resource: Resource) -> Struct:
    fields: dict[str, Any] = {"metadata": META, "kind": "string", "apiVersion": "string"}
    if resource.plural in _SPECS:
        fields["spec"] = _SPECS[resource.plural]
    if resource.plural in _DATA:
        fields["data"] = _DATA[resource.plural]
        fields["stringData"] = STRINGS
    return Struct(resource.kind, fields)


def decode(resource: Resource, obj: Any, shape: Struct | None = None) -> None:
    """A create or update body: 400 BadRequest if it would not decode into the resource's Go type."""
    shape = shape or shape_of(resource)
    problem = _check(obj, shape, shape.go_name)
    if problem is not None:
        version = "autoscaling/v1" if shape is SCALE else resource.group_version
        raise st.ApiError(400, f'{shape.go_name} in version "{version}" cannot be handled as a {shape.go_name}: '
                          f"{problem}", "BadRequest", {})


def decode_patched(resource: Resource, obj: Any, patch: Any, shape: Struct | None = None) -> None:
    """A patch result: the apiserver answers 422 Invalid on field ``patch`` when it does not decode."""
    shape = shape or shape_of(resource)
    problem = _check(obj, shape, shape.go_name)
    if problem is not None:
        raise patch_invalid(patch, problem)


def patch_invalid(patch: Any, problem: str) -> st.ApiError:
    message = f'Invalid value: "{json.dumps(patch, separators=(",", ":"))}": {problem}'
    return st.ApiError(422, f' "" is invalid: patch: {message}', "Invalid",
                       {"causes": [{"reason": "FieldValueInvalid", "message": message, "field": "patch"}]})


def json_body(body: bytes) -> Any:
    """The request body as JSON; protobuf (typed client-go clients, e.g. `kubectl create deployment`) for the
    kinds ``protobuf.py`` models."""
    if protobuf.is_protobuf(body):
        return protobuf.decode_object(body)
    try:
        return json.loads(body or b"null")
    except ValueError as error:
        raise st.ApiError(400, f"error decoding the request body: {error}", "BadRequest", {}) from None


def delete_options(body: bytes) -> dict[str, Any]:
    """The DeleteOptions a DELETE may carry (kubectl and the clients send one; an empty body is none)."""
    if not body.strip():
        return {}
    options = json_body(body)
    if options is None:
        return {}
    if not isinstance(options, dict) or not isinstance(options.get("preconditions") or {}, dict):
        raise st.ApiError(400, "the body of a delete must be a DeleteOptions object", "BadRequest", {})
    return options


def _check(value: Any, shape: Any, path: str) -> str | None:
    if shape is None:
        return None
    kind = _JSON_KIND.get(type(value), "value")
    if isinstance(shape, Struct):
        if not isinstance(value, dict):
            return _mismatch(kind, path, shape)
        for name, inner in shape.fields.items():
            if name in value and value[name] is None:
                del value[name]  # Go decodes null to a zero value, which is not encoded back
            elif name in value:
                problem = _check(value[name], inner, f"{path}.{name}")
                if problem:
                    return problem
        return None
    if isinstance(shape, Array):
        if not isinstance(value, list):
            return _mismatch(kind, path, shape)
        return next((p for p in (_check(item, shape.item, path) for item in value) if p), None)
    if isinstance(shape, MapOf):
        if not isinstance(value, dict):
            return _mismatch(kind, path, shape)
        return next((p for p in (_check(v, shape.value, path) for v in value.values() if v is not None) if p), None)
    if not isinstance(value, _SCALARS[shape]) or (shape != "bool" and isinstance(value, bool)):
        return _mismatch(kind, path, shape)
    return None


def _mismatch(kind: str, path: str, shape: Any) -> str:
    return f"json: cannot unmarshal {kind} into Go struct field {path} of type {_go_name(shape)}"
