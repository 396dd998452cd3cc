"""What the apiserver does to a body before it stores it: field validation, quantities, defaulting, validation.

- **Unknown fields** are found with the generated key table (``core/k8s_keys.py``, the same one lint uses; no
  second schema). ``fieldValidation=Strict`` (kubectl's default since 1.27) answers 400 ``strict decoding error:
  unknown field "spec.containers[0].resoures"``; otherwise (``Warn``, the server default, or ``Ignore``) the field
  is dropped, as Go's decoder drops it, and ``Warn`` reports it in a ``Warning`` header.
- **Quantities** (container resources, node capacity) are parsed as ``resource.Quantity`` does, so ``"lots"`` is
  the decoder's 400 and ``1`` / ``0.5`` / ``1.5Gi`` are stored as the canonical strings ``"1"`` / ``"500m"`` /
  ``"1536Mi"`` (the typed clients' models require strings).
- **Defaulting** (``SetDefaults_Pod``): a container's requests default from its limits.
- **Validation** (422 Invalid): RFC 1123 names, requests above limits, extended resources without limits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from kubectl_clearml.core.k8s_keys import MODELS
from kubectl_clearml.core.quantity import QuantityError, format_quantity, parse_quantity, quantity_format
from kubectl_clearml.sandbox.kube import status as st
from kubectl_clearml.sandbox.kube.resources import Resource

Obj = dict[str, Any]

MODEL_OF = {
    "pods": "V1Pod", "deployments": "V1Deployment", "replicasets": "V1ReplicaSet", "namespaces": "V1Namespace",
    "configmaps": "V1ConfigMap", "secrets": "V1Secret", "serviceaccounts": "V1ServiceAccount",
    "services": "V1Service", "nodes": "V1Node", "events": "CoreV1Event", "leases": "V1Lease",
    "priorityclasses": "V1PriorityClass",
}
QUANTITY_PATTERN = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
# Resources a node may not overcommit: requests must equal limits, and a limit is required (extended resources).
_NATIVE_PREFIXES = ("kubernetes.io/", "requests.")


# ---- unknown fields ---------------------------------------------------------------------------------------
def unknown_fields(resource: Resource, obj: Any, *, drop: bool) -> list[str]:
    """The paths of fields the resource's Go type does not have (removed from ``obj`` when ``drop``)."""
    model = MODEL_OF.get(resource.plural)
    found: list[str] = []
    if model is not None and isinstance(obj, dict):
        _walk(obj, model, "", found, drop)
    return found


def _walk(value: Any, ftype: str, path: str, found: list[str], drop: bool) -> None:
    if ftype.startswith("list:"):
        if isinstance(value, list):
            for index, item in enumerate(value):
                _walk(item, ftype[5:], f"{path}[{index}]", found, drop)
        return
    if ftype.startswith("map:"):
        if isinstance(value, dict):
            for key, item in value.items():
                _walk(item, ftype[4:], f"{path}[{key}]", found, drop)
        return
    fields = MODELS.get(ftype)
    if fields is None or not isinstance(value, dict):
        return
    for key in list(value):
        where = f"{path}.{key}" if path else key
        inner = fields.get(key)
        if inner is None:
            found.append(where)
            if drop:
                del value[key]
        else:
            _walk(value[key], inner, where, found, drop)


def strict_error(resource: Resource, fields: list[str]) -> st.ApiError:
    text = ", ".join(f'unknown field "{field}"' for field in fields)
    return st.ApiError(400, f'{resource.kind} in version "{resource.group_version}" cannot be handled as a '
                       f"{resource.kind}: strict decoding error: {text}", "BadRequest", {})


# ---- quantities -----------------------------------------------------------------------------------------
def canonical_quantity(value: Any) -> str:
    """The string ``Quantity.String()`` prints for a decoded quantity; QuantityError when it does not parse."""
    if isinstance(value, str):
        return format_quantity(parse_quantity(value), quantity_format(value.strip()))
    return format_quantity(parse_quantity(value))


def resource_maps(resource: Resource, obj: Obj) -> Iterator[Obj]:
    """Every quantity map of an object: containers' limits/requests (pods, templates), node capacity."""
    if resource.plural == "nodes":
        status = obj.get("status")
        if isinstance(status, dict):
            yield from (m for m in (status.get("capacity"), status.get("allocatable")) if isinstance(m, dict))
        return
    spec = obj.get("spec")
    if resource.plural in ("deployments", "replicasets"):
        template = spec.get("template") if isinstance(spec, dict) else None
        spec = template.get("spec") if isinstance(template, dict) else None
    elif resource.plural != "pods":
        return
    if not isinstance(spec, dict):
        return
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or ():
            resources = container.get("resources") if isinstance(container, dict) else None
            if isinstance(resources, dict):
                yield from (m for m in (resources.get("limits"), resources.get("requests")) if isinstance(m, dict))


def canonicalise_quantities(resource: Resource, obj: Obj, *, strict: bool = True) -> None:
    """Decode every quantity and store it canonical. Strict (a request): one that does not parse is the
    decoder's 400; lenient (the backdoor): it is left as given."""
    for quantities in resource_maps(resource, obj):
        for name, value in quantities.items():
            try:
                quantities[name] = canonical_quantity(value)
            except QuantityError:
                if strict:
                    raise st.ApiError(400, f'{resource.kind} in version "{resource.group_version}" cannot be '
                                      f"handled as a {resource.kind}: quantities must match the regular "
                                      f"expression '{QUANTITY_PATTERN}'", "BadRequest", {}) from None


# ---- defaulting and validation ------------------------------------------------------------------------
def default_requests_from_limits(spec: Obj) -> None:
    """``SetDefaults_Pod``: a resource with a limit and no request is requested at its limit."""
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or ():
            resources = container.get("resources") or {}
            limits = resources.get("limits") or {}
            if limits:
                requests = resources.setdefault("requests", {})
                for name, value in limits.items():
                    requests.setdefault(name, value)
                container["resources"] = resources


def name_problems(resource: Resource, meta: Obj) -> list[tuple[str, str]]:
    name = meta.get("name")
    if not name:
        name, field = (meta.get("generateName") or "") + "x", "metadata.generateName"
    else:
        field = "metadata.name"
    dns_label = resource.plural in ("namespaces", "services")
    pattern, message = (_LABEL, LABEL_MESSAGE) if dns_label else (_SUBDOMAIN, SUBDOMAIN_MESSAGE)
    limit = 63 if dns_label else 253
    shown = meta.get("name") or meta.get("generateName") or ""
    if not pattern.match(name):
        return [(field, f'Invalid value: "{shown}": {message}')]
    if len(name) > limit:
        return [(field, f'Invalid value: "{shown}": must be no more than {limit} characters')]
    return []


def container_problems(spec: Obj) -> list[tuple[str, str]]:
    """Container names (RFC 1123 labels) and each container's requests against its limits."""
    causes: list[tuple[str, str]] = []
    for field in ("containers", "initContainers"):
        for index, container in enumerate(spec.get(field) or ()):
            where = f"spec.{field}[{index}]"
            name = container.get("name")
            if name and not _LABEL.match(str(name)):
                causes.append((f"{where}.name", f'Invalid value: "{name}": {LABEL_MESSAGE}'))
            causes.extend(_resource_problems(container.get("resources") or {}, f"{where}.resources"))
    return causes


def _resource_problems(resources: Obj, where: str) -> list[tuple[str, str]]:
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    causes: list[tuple[str, str]] = []
    for name, value in requests.items():
        extended = _is_extended(name)
        if extended and name not in limits:
            causes.append((f"{where}.limits[{name}]", "Required value: Limit must be set for non overcommitable "
                                                      "resources"))
            continue
        if name not in limits:
            continue
        try:
            request, limit = parse_quantity(value), parse_quantity(limits[name])
        except QuantityError:
            continue
        if extended and request != limit:
            causes.append((f"{where}.requests[{name}]", f'Invalid value: "{value}": must be equal to {name} limit '
                                                        f"of {limits[name]}"))
        elif request > limit:
            causes.append((f"{where}.requests[{name}]", f'Invalid value: "{value}": must be less than or equal '
                                                        f"to {name} limit of {limits[name]}"))
    return causes


def _is_extended(name: str) -> bool:
    """An extended resource (``nvidia.com/gpu``): a domain-qualified name outside kubernetes.io."""
    return "/" in name and not name.startswith(_NATIVE_PREFIXES) and not name.startswith("hugepages-")
