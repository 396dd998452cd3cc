"""Server-side tables (``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``), as ``kubectl get`` asks.

The columns follow the apiserver's printers for the resources the sandbox shows most (pods, nodes,
deployments, namespaces, configmaps, secrets, events, leases); other resources get NAME and AGE.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from kubectl_clearml.sandbox.kube.resources import Resource

Obj = dict[str, Any]
Column = tuple[str, str, int, Callable[[Obj], Any]]  # (name, type, priority, cell)


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def table(resource: Resource, objects: list[Obj], meta: Obj, include_headers: bool = True,
          include: str | None = None) -> Obj:
    """``include``: the request's includeObject, ``Object`` (the whole object in each row: what kubectl asks
    for ``--sort-by``), ``None`` (nothing) or ``Metadata`` (the default, PartialObjectMetadata)."""
    columns = COLUMNS.get(resource.plural, []) or [("Name", "string", 0, _name), ("Age", "string", 0, _age)]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": [
            {"name": name, "type": kind, "format": "name" if name == "Name" else "", "description": "",
             "priority": priority}
            for name, kind, priority, _ in columns
        ] if include_headers else [],
        "rows": [{"cells": [cell(obj) for *_, cell in columns], **_row_object(resource, obj, include)}
                 for obj in objects],
    }


def human_duration(seconds: float) -> str:
    """kubectl's duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 120:
        return f"{max(s, 0)}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24 % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _row_object(resource: Resource, obj: Obj, include: str | None) -> Obj:
    if include == "None":
        return {}
    if include == "Object":
        return {"object": {"kind": resource.kind, "apiVersion": resource.group_version, **obj}}
    return {"object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                       "metadata": obj.get("metadata", {})}}


def _since(timestamp: str | None) -> str:
    try:
        then = datetime.datetime.strptime(str(timestamp)[:19], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - then).total_seconds())


def _name(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def _age(obj: Obj) -> str:
    return _since(obj.get("metadata", {}).get("creationTimestamp"))


def _pod_ready(pod: Obj) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    containers = (pod.get("spec") or {}).get("containers") or []
    return f"{sum(1 for s in statuses if s.get('ready'))}/{len(containers)}"


def _pod_status(pod: Obj) -> str:
    status = pod.get("status") or {}
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return "Terminating"
    reason = str(status.get("reason") or status.get("phase") or "Unknown")
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
    return reason


def _pod_restarts(pod: Obj) -> int:
    return sum(int(s.get("restartCount", 0)) for s in (pod.get("status") or {}).get("containerStatuses") or [])


def _node_status(node: Obj) -> str:
    conditions = {c.get("type"): c.get("status") for c in (node.get("status") or {}).get("conditions") or []}
    text = "Ready" if conditions.get("Ready") == "True" else "NotReady" if "Ready" in conditions else "Unknown"
    return text + (",SchedulingDisabled" if (node.get("spec") or {}).get("unschedulable") else "")


def _node_roles(node: Obj) -> str:
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix):] for k in (node.get("metadata", {}).get("labels") or {}) if k.startswith(prefix))
    return ",".join(roles) or "<none>"


def _node_info(node: Obj, key: str) -> str:
    return str((_status(node, "nodeInfo", {}) or {}).get(key, ""))


def _node_address(node: Obj, kind: str) -> str:
    found = [a.get("address", "") for a in _status(node, "addresses", []) or [] if a.get("type") == kind]
    return found[0] if found else "<none>"


def _template_containers(workload: Obj) -> list[Obj]:
    containers: list[Obj] = (((workload.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers") or []
    return containers


def _selector(workload: Obj) -> str:
    selector = (workload.get("spec") or {}).get("selector") or {}
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        values = ",".join(expression.get("values") or [])
        parts.append(f"{expression.get('key')} {str(expression.get('operator', '')).lower()} ({values})")
    return ",".join(parts) or "<none>"


def _status(obj: Obj, key: str, default: Any = 0) -> Any:
    return (obj.get("status") or {}).get(key, default)


def _none(value: Any) -> str:
    return str(value) if value not in (None, "") else "<none>"


# `-o wide` of deployments and replicasets (the apiserver's printers, priority 1).
_WORKLOAD_WIDE: list[Column] = [
    ("Containers", "string", 1, lambda d: ",".join(c.get("name", "") for c in _template_containers(d))),
    ("Images", "string", 1, lambda d: ",".join(c.get("image", "") for c in _template_containers(d))),
    ("Selector", "string", 1, _selector),
]

COLUMNS: dict[str, list[Column]] = {
    "pods": [
        ("Name", "string", 0, _name),
        ("Ready", "string", 0, _pod_ready),
        ("Status", "string", 0, _pod_status),
        ("Restarts", "string", 0, _pod_restarts),
        ("Age", "string", 0, _age),
        ("IP", "string", 1, lambda p: _none(_status(p, "podIP", None))),
        ("Node", "string", 1, lambda p: _none((p.get("spec") or {}).get("nodeName"))),
        ("Nominated Node", "string", 1, lambda p: _none(_status(p, "nominatedNodeName", None))),
        ("Readiness Gates", "string", 1, lambda p: "<none>"),
    ],
    "nodes": [
        ("Name", "string", 0, _name),
        ("Status", "string", 0, _node_status),
        ("Roles", "string", 0, _node_roles),
        ("Age", "string", 0, _age),
        ("Version", "string", 0, lambda n: _node_info(n, "kubeletVersion")),
        ("Internal-IP", "string", 1, lambda n: _node_address(n, "InternalIP")),
        ("External-IP", "string", 1, lambda n: _node_address(n, "ExternalIP")),
        ("OS-Image", "string", 1, lambda n: _node_info(n, "osImage")),
        ("Kernel-Version", "string", 1, lambda n: _node_info(n, "kernelVersion")),
        ("Container-Runtime", "string", 1, lambda n: _node_info(n, "containerRuntimeVersion")),
    ],
    "deployments": [
        ("Name", "string", 0, _name),
        ("Ready", "string", 0, lambda d: f"{_status(d, 'readyReplicas')}/{(d.get('spec') or {}).get('replicas', 1)}"),
        ("Up-to-date", "integer", 0, lambda d: _status(d, "updatedReplicas")),
        ("Available", "integer", 0, lambda d: _status(d, "availableReplicas")),
        ("Age", "string", 0, _age),
        *_WORKLOAD_WIDE,
    ],
    "replicasets": [
        ("Name", "string", 0, _name),
        ("Desired", "integer", 0, lambda r: (r.get("spec") or {}).get("replicas", 1)),
        ("Current", "integer", 0, lambda r: _status(r, "replicas")),
        ("Ready", "integer", 0, lambda r: _status(r, "readyReplicas")),
        ("Age", "string", 0, _age),
        *_WORKLOAD_WIDE,
    ],
    "priorityclasses": [
        ("Name", "string", 0, _name),
        ("Value", "integer", 0, lambda pc: pc.get("value", 0)),
        ("Global-Default", "boolean", 0, lambda pc: bool(pc.get("globalDefault"))),
        ("Age", "string", 0, _age),
        ("PreemptionPolicy", "string", 0, lambda pc: pc.get("preemptionPolicy", "")),
    ],
    "namespaces": [("Name", "string", 0, _name), ("Status", "string", 0, lambda n: _status(n, "phase", "")),
                   ("Age", "string", 0, _age)],
    "configmaps": [("Name", "string", 0, _name), ("Data", "integer", 0, lambda c: len(c.get("data") or {})
                                                  + len(c.get("binaryData") or {})), ("Age", "string", 0, _age)],
    "secrets": [("Name", "string", 0, _name), ("Type", "string", 0, lambda s: s.get("type", "")),
                ("Data", "integer", 0, lambda s: len(s.get("data") or {})), ("Age", "string", 0, _age)],
    "events": [
        ("Last Seen", "string", 0, lambda e: _since(e.get("lastTimestamp") or e.get("eventTime")
                                                    or e.get("metadata", {}).get("creationTimestamp"))),
        ("Type", "string", 0, lambda e: e.get("type", "")),
        ("Reason", "string", 0, lambda e: e.get("reason", "")),
        ("Object", "string", 0, lambda e: f"{(e.get('involvedObject') or {}).get('kind', '').lower()}/"
                                          f"{(e.get('involvedObject') or {}).get('name', '')}"),
        ("Message", "string", 0, lambda e: e.get("message", "")),
    ],
    "leases": [("Name", "string", 0, _name),
               ("Holder", "string", 0, lambda le: (le.get("spec") or {}).get("holderIdentity", "")),
               ("Age", "string", 0, _age)],
}
