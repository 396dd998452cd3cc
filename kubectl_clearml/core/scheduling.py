"""What the default kube-scheduler (v1.32) would decide for a pod, from plain API dicts.

Covers the filters that matter for GPU capacity, in the scheduler's own order: NodeUnschedulable,
TaintToleration, NodeAffinity (nodeSelector + required node affinity) and NodeResourcesFit; each node fails
on the *first* failing filter, as in the real framework. Resource amounts are integers: millicores for
``cpu``, whole units (bytes, GPUs, MIG slices) for everything else (see core/quantity.py). A pod's
effective request is max(any init container (+ sidecars started before it), sum of app containers + all
sidecars) + overhead, with a container's request defaulting to its limit.

Used by gpu-report (fit and eligibility) and by the sandbox's simulated scheduler, so that both give the
same answers and the same ``0/3 nodes are available: ...`` messages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubectl_clearml.core.quantity import QuantityError, resource_amount

Resources = dict[str, int]
RequestItems = tuple[tuple[str, int], ...]  # non-zero requests as (name, amount) pairs
Obj = Mapping[str, Any]

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
PODS = "pods"  # the allocatable pod-count resource

REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
REASON_TOO_MANY_PODS = "Too many pods"
PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
PREEMPTION_NO_VICTIMS = "No preemption victims found for incoming pod"
NO_NODES = "no nodes available to schedule pods"

TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})


def insufficient(resource: str) -> str:
    return f"Insufficient {resource}"


def untolerated_taint_reason(taint: Obj) -> str:
    return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '') or ''}}}"


# ---------------------------------------------------------------------------------------------- requests


def pod_spec(pod: Obj) -> Obj:
    """The spec of a pod dict; a bare pod spec (as in agent templates) is accepted as is."""
    spec = pod.get("spec")
    if type(spec) is dict or isinstance(spec, Mapping):  # the exact-type test skips the slow ABC check
        return spec
    return pod


def _amounts(values: Any) -> Resources:
    out: Resources = {}
    if isinstance(values, Mapping):
        for name, quantity in values.items():
            if quantity is None:
                continue
            try:
                out[str(name)] = resource_amount(str(name), quantity)
            except QuantityError as exc:
                exc.obj = exc.obj or f"resources.{name}"
                raise
    return out


def container_requests(container: Obj) -> Resources:
    """Requests of one container; a resource with only a limit is requested at its limit (API defaulting)."""
    return dict(_container_stanza(container)[0])


def _container_stanza(container: Obj) -> tuple[Resources, RequestItems]:
    """(every request, the non-zero ones as pairs) of one container; both may be shared: never mutate them."""
    resources = container.get("resources")
    if not resources:
        return _NO_REQUESTS
    limits = resources.get("limits") or {}
    requests = resources.get("requests") or {}
    if type(limits) is dict and type(requests) is dict:
        # Pods repeat a handful of resource stanzas: parse each distinct one once.
        key = (tuple(limits.items()), tuple(requests.items()))
        try:
            known = _STANZAS.get(key)
        except TypeError:  # an unhashable value: take the plain path
            return _stanza(limits, requests)
        if known is None:
            known = _stanza(limits, requests)
            if len(_STANZAS) >= _STANZAS_MAX:
                _STANZAS.clear()
            _STANZAS[key] = known
        return known
    return _stanza(limits, requests)


_STANZAS: dict[tuple[Any, ...], tuple[Resources, RequestItems]] = {}
_STANZAS_MAX = 4096
_NO_REQUESTS: tuple[Resources, RequestItems] = ({}, ())


def _stanza(limits: Any, requests: Any) -> tuple[Resources, RequestItems]:
    merged = _merged_requests(limits, requests)
    return merged, tuple((name, amount) for name, amount in merged.items() if amount)


def _merged_requests(limits: Any, requests: Any) -> Resources:
    merged = _amounts(limits)
    merged.update(_amounts(requests))
    return merged


def _add(into: Resources, other: Mapping[str, int]) -> None:
    for name, amount in other.items():
        into[name] = into.get(name, 0) + amount


def _max_into(into: Resources, other: Mapping[str, int]) -> None:
    for name, amount in other.items():
        if amount > into.get(name, 0):
            into[name] = amount


def pod_requests(pod: Obj) -> Resources:
    """The pod's effective requests, the scheduler's ``PodRequests`` (sidecar-aware, plus overhead)."""
    spec = pod_spec(pod)
    containers: Sequence[Obj] = spec.get("containers") or []
    if len(containers) == 1 and not spec.get("initContainers") and not spec.get("overhead"):
        return dict(_container_stanza(containers[0])[1])  # the common case, kept fast for 100,000-pod clusters
    return _pod_requests(spec, containers)


def pod_request_items(pod: Obj) -> RequestItems:
    """:func:`pod_requests` as (name, amount) pairs, possibly shared between pods of the same shape.

    For counting many pods (gpu-report reads 100,000): a single-container pod costs one memo lookup.
    """
    spec = pod_spec(pod)
    containers: Sequence[Obj] = spec.get("containers") or []
    if len(containers) == 1 and not spec.get("initContainers") and not spec.get("overhead"):
        return _container_stanza(containers[0])[1]
    return tuple(_pod_requests(spec, containers).items())


def _pod_requests(spec: Obj, containers: Sequence[Obj]) -> Resources:
    total: Resources = {}
    for container in containers:
        _add(total, _container_stanza(container)[0])
    init_peak: Resources = {}
    sidecars: Resources = {}
    for init in spec.get("initContainers") or ():
        requests = _container_stanza(init)[0]
        if init.get("restartPolicy") == "Always":
            # A sidecar keeps running next to later init containers and all app containers.
            _add(sidecars, requests)
            _max_into(init_peak, sidecars)
        else:
            during = dict(sidecars)
            _add(during, requests)
            _max_into(init_peak, during)
    _add(total, sidecars)
    _max_into(total, init_peak)
    _add(total, _amounts(spec.get("overhead")))
    return {name: amount for name, amount in total.items() if amount}


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in TERMINAL_PHASES


def requested_by_node(pods: Iterable[Obj]) -> dict[str, Resources]:
    """Sum of effective requests (and the pod count) of the non-terminal pods bound to each node."""
    used: dict[str, Resources] = {}
    for pod in pods:
        node = pod_spec(pod).get("nodeName")
        if not node or is_terminal(pod):
            continue
        bucket = used.setdefault(node, {})
        _add(bucket, pod_requests(pod))
        bucket[PODS] = bucket.get(PODS, 0) + 1
    return used


def node_allocatable(node: Obj) -> Resources:
    status = node.get("status") or {}
    return _amounts(status.get("allocatable") or status.get("capacity"))


def node_capacity(node: Obj) -> Resources:
    return _amounts((node.get("status") or {}).get("capacity"))


def free_resources(node: Obj, used: Mapping[str, int] | None = None) -> Resources:
    """Allocatable minus requested, per resource (may be negative on an overcommitted node)."""
    free = node_allocatable(node)
    for name, amount in (used or {}).items():
        free[name] = free.get(name, 0) - amount
    return free


# -------------------------------------------------------------------------------------- node filters


def node_ready(node: Obj) -> bool | None:
    """True/False from the Ready condition; None when the node reports no Ready condition (or Unknown)."""
    for condition in (node.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            status = condition.get("status")
            return True if status == "True" else False if status == "False" else None
    return None


def _has_ready_condition(node: Obj) -> bool:
    return any(c.get("type") == "Ready" for c in (node.get("status") or {}).get("conditions") or ())


def node_taints(node: Obj) -> list[Obj]:
    """The node's taints, plus the NoSchedule taint the node lifecycle controller adds for NotReady or
    Unknown nodes when the object does not carry it yet (emulators and fresh snapshots)."""
    taints: list[Obj] = list((node.get("spec") or {}).get("taints") or ())
    if _has_ready_condition(node):
        ready = node_ready(node)
        implied = None if ready else TAINT_NOT_READY if ready is False else TAINT_UNREACHABLE
        if implied and not any(t.get("key") == implied for t in taints):
            taints.append({"key": implied, "effect": "NoSchedule"})
    return taints


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """``v1.Toleration.ToleratesTaint``: empty effect matches all effects, empty key matches all keys."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def first_untolerated_taint(spec: Obj, taints: Iterable[Obj]) -> Obj | None:
    tolerations = spec.get("tolerations") or ()
    for taint in taints:
        if taint.get("effect") not in BLOCKING_EFFECTS:
            continue  # PreferNoSchedule only scores
        if not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def _match_expression(expression: Obj, labels: Mapping[str, str]) -> bool:
    key = expression.get("key", "")
    operator = expression.get("operator")
    values = [str(v) for v in expression.get("values") or ()]
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt"):
        if not present or len(values) != 1:
            return False
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if operator == "Gt" else have < want
    return False


def _match_term(term: Obj, node: Obj) -> bool:
    expressions = term.get("matchExpressions") or ()
    fields = term.get("matchFields") or ()
    if not expressions and not fields:
        return False  # an empty term matches no objects
    labels = (node.get("metadata") or {}).get("labels") or {}
    if not all(_match_expression(e, labels) for e in expressions):
        return False
    node_fields = {"metadata.name": (node.get("metadata") or {}).get("name", "")}
    return all(_match_expression(f, node_fields) for f in fields)


def matches_node_selector(spec: Obj, node: Obj) -> bool:
    """nodeSelector (exact label values) AND required node affinity (terms ORed, expressions ANDed)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != str(value):
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if required is None:
        return True
    return any(_match_term(term, node) for term in required.get("nodeSelectorTerms") or ())


def eligibility_reasons(pod: Obj, node: Obj) -> list[str]:
    """Why the node can never take this pod whatever it runs (empty list: eligible), first filter wins."""
    spec = pod_spec(pod)
    if (node.get("spec") or {}).get("unschedulable"):
        cordon = {"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule"}
        if not any(tolerates(t, cordon) for t in spec.get("tolerations") or ()):
            return [REASON_UNSCHEDULABLE]
    taint = first_untolerated_taint(spec, node_taints(node))
    if taint is not None:
        return [untolerated_taint_reason(taint)]
    if not matches_node_selector(spec, node):
        return [REASON_AFFINITY]
    return []


def resource_reasons(
    requests: Mapping[str, int], allocatable: Mapping[str, int], used: Mapping[str, int] | None = None
) -> list[str]:
    """NodeResourcesFit: ``Too many pods`` then one ``Insufficient <resource>`` per short resource."""
    used = used or {}
    reasons = []
    if used.get(PODS, 0) + 1 > allocatable.get(PODS, 0):
        reasons.append(REASON_TOO_MANY_PODS)
    for name in sorted(requests, key=lambda n: (n not in ("cpu", "memory", "ephemeral-storage"), n)):
        want = requests[name]
        if want > 0 and want > allocatable.get(name, 0) - used.get(name, 0):
            reasons.append(insufficient(name))
    return reasons


def filter_reasons(pod: Obj, node: Obj, used: Mapping[str, int] | None = None) -> list[str]:
    """All reasons this node rejects the pod now (empty list: it fits)."""
    reasons = eligibility_reasons(pod, node)
    if reasons:
        return reasons
    return resource_reasons(pod_requests(pod), node_allocatable(node), used)


def fits(pod: Obj, node: Obj, used: Mapping[str, int] | None = None) -> bool:
    return not filter_reasons(pod, node, used)


def _histogram(reasons: Iterable[str]) -> str:
    # FitError.Error(): "<count> <reason>" strings sorted as strings, joined by ", ".
    return ", ".join(sorted(f"{count} {reason}" for reason, count in Counter(reasons).items()))


def unschedulable_message(node_reasons: Sequence[Sequence[str]], *, preemption: bool = False) -> str:
    """The scheduler's FailedScheduling message from each node's filter reasons.

    ``preemption=True`` appends the DefaultPreemption post-filter part, assuming no lower-priority
    victims: resource shortages read "No preemption victims found", everything else "not helpful".
    """
    total = len(node_reasons)
    if total == 0:
        return NO_NODES
    message = f"0/{total} nodes are available: " + _histogram(r for reasons in node_reasons for r in reasons) + "."
    if preemption:
        resource_only = (
            PREEMPTION_NO_VICTIMS
            if reasons and all(r == REASON_TOO_MANY_PODS or r.startswith("Insufficient ") for r in reasons)
            else PREEMPTION_NOT_HELPFUL
            for reasons in node_reasons
        )
        message += f" preemption: 0/{total} nodes are available: {_histogram(resource_only)}."
    return message


def schedule(
    pod: Obj, nodes: Sequence[Obj], used_by_node: Mapping[str, Mapping[str, int]], *, preemption: bool = False
) -> tuple[list[str], str | None]:
    """(names of the nodes that fit the pod now, in the given order; the failure message when none does)."""
    fitting: list[str] = []
    all_reasons: list[list[str]] = []
    requests = pod_requests(pod)
    for node in nodes:
        name = (node.get("metadata") or {}).get("name", "")
        reasons = eligibility_reasons(pod, node) or resource_reasons(
            requests, node_allocatable(node), used_by_node.get(name)
        )
        if reasons:
            all_reasons.append(reasons)
        else:
            fitting.append(name)
    if fitting:
        return fitting, None
    return [], unschedulable_message(all_reasons, preemption=preemption)
