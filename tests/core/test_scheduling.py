"""Scheduler rules over plain dicts: effective requests, node filters, fit and the FailedScheduling text."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubectl_clearml.core.quantity import QuantityError
from kubectl_clearml.core.scheduling import (
    NO_NODES,
    container_requests,
    eligibility_reasons,
    filter_reasons,
    fits,
    free_resources,
    matches_node_selector,
    node_taints,
    pod_request_items,
    pod_requests,
    requested_by_node,
    schedule,
    tolerates,
    unschedulable_message,
)

GPU = "nvidia.com/gpu"


def container(
    name: str = "c", requests: dict[str, Any] | None = None, limits: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    return {"name": name, "image": "busybox", "resources": resources, **extra}


def pod(
    *containers: dict[str, Any],
    init: list[dict[str, Any]] | None = None,
    node: str | None = None,
    phase: str = "Running",
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": list(containers), **spec}
    if init:
        body["initContainers"] = init
    if node:
        body["nodeName"] = node
    return {"metadata": {"name": "p", "namespace": "default"}, "spec": body, "status": {"phase": phase}}


def node(
    name: str,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, Any]] | None = None,
    ready: str | None = "True",
    unschedulable: bool = False,
    res: dict[str, Any] | None = None,
) -> dict[str, Any]:
    alloc = {"cpu": "8", "memory": "32Gi", "pods": "110"}
    alloc.update({k: str(v) for k, v in (res or {}).items()})
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    status: dict[str, Any] = {"allocatable": alloc, "capacity": dict(alloc)}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready}]
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": spec, "status": status}


# ------------------------------------------------------------------------------------------ requests


def test_request_defaults_to_limit_per_resource() -> None:
    c = container(requests={"cpu": "500m"}, limits={"cpu": "2", "memory": "1Gi", GPU: "1"})
    assert container_requests(c) == {"cpu": 500, "memory": 2**30, GPU: 1}


def test_limits_without_requests() -> None:
    assert pod_requests(pod(container(limits={GPU: 2}))) == {GPU: 2}


def test_pod_is_max_of_init_and_sum_of_containers() -> None:
    p = pod(
        container("a", limits={GPU: 1, "cpu": "1"}),
        container("b", requests={"cpu": "1500m"}),
        init=[container("i1", limits={GPU: 4}), container("i2", requests={"cpu": "2", "memory": "1Gi"})],
    )
    # GPUs: init 4 beats containers 1; cpu: containers 2500m beat init 2000m; memory only from init.
    assert pod_requests(p) == {GPU: 4, "cpu": 2500, "memory": 2**30}


def test_sidecars_add_to_containers_and_to_later_inits() -> None:
    p = pod(
        container("app", requests={"cpu": "1"}),
        init=[
            container("sidecar", requests={"cpu": "500m"}, restartPolicy="Always"),
            container("setup", requests={"cpu": "1200m"}),
        ],
    )
    # setup runs next to the sidecar: 1700m; app + sidecar: 1500m.
    assert pod_requests(p)["cpu"] == 1700


def test_overhead_is_added() -> None:
    p = pod(container(requests={"cpu": "1"}), overhead={"cpu": "250m"})
    assert pod_requests(p)["cpu"] == 1250


def test_bare_pod_spec_is_accepted() -> None:
    assert pod_requests({"containers": [container(limits={"nvidia.com/mig-1g.5gb": 1})]}) == {
        "nvidia.com/mig-1g.5gb": 1
    }


def test_requested_by_node_ignores_terminal_and_unbound_pods() -> None:
    pods = [
        pod(container(limits={GPU: 1}), node="n1"),
        pod(container(limits={GPU: 2}), node="n1", phase="Pending"),
        pod(container(limits={GPU: 4}), node="n1", phase="Succeeded"),
        pod(container(limits={GPU: 4}), node="n1", phase="Failed"),
        pod(container(limits={GPU: 8})),  # not bound
    ]
    assert requested_by_node(pods) == {"n1": {GPU: 3, "pods": 2}}
    assert free_resources(node("n1", res={GPU: 8}), {GPU: 3, "pods": 2})[GPU] == 5


# ------------------------------------------------------------------------------------------- filters


@pytest.mark.parametrize(
    ("toleration", "taint", "expected"),
    [
        ({"key": "gpu", "operator": "Exists"}, {"key": "gpu", "value": "x", "effect": "NoSchedule"}, True),
        ({"key": "gpu", "value": "x"}, {"key": "gpu", "value": "x", "effect": "NoSchedule"}, True),
        (
            {"key": "gpu", "operator": "Equal", "value": "y"},
            {"key": "gpu", "value": "x", "effect": "NoSchedule"},
            False,
        ),
        ({"operator": "Exists"}, {"key": "anything", "value": "v", "effect": "NoExecute"}, True),
        ({"key": "gpu", "operator": "Exists", "effect": "NoExecute"}, {"key": "gpu", "effect": "NoSchedule"}, False),
        ({"key": "other", "operator": "Exists"}, {"key": "gpu", "effect": "NoSchedule"}, False),
        ({"key": "gpu"}, {"key": "gpu", "effect": "NoSchedule"}, True),  # Equal with both values empty
    ],
)
def test_tolerates(toleration: dict[str, Any], taint: dict[str, Any], expected: bool) -> None:
    assert tolerates(toleration, taint) is expected


def test_untolerated_taint_reason_and_prefer_no_schedule_ignored() -> None:
    tainted = node("n", taints=[{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}])
    p = pod(container())
    assert eligibility_reasons(p, tainted) == ["node(s) had untolerated taint {dedicated: infra}"]
    ok = pod(container(), tolerations=[{"key": "dedicated", "operator": "Equal", "value": "infra"}])
    assert eligibility_reasons(ok, tainted) == []
    soft = node("n", taints=[{"key": "x", "effect": "PreferNoSchedule"}])
    assert eligibility_reasons(p, soft) == []


def test_cordoned_node_is_unschedulable_unless_tolerated() -> None:
    cordoned = node("n", unschedulable=True)
    assert eligibility_reasons(pod(container()), cordoned) == ["node(s) were unschedulable"]
    tolerant = pod(container(), tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}])
    assert eligibility_reasons(tolerant, cordoned) == []


def test_not_ready_node_gets_implied_taint() -> None:
    assert node_taints(node("n", ready="False")) == [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]
    assert eligibility_reasons(pod(container()), node("n", ready="Unknown")) == [
        "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"
    ]
    assert node_taints(node("n", ready=None)) == []  # no condition reported: nothing implied


LABELS = {"nvidia.com/gpu.product": "Tesla-T4", "nvidia.com/gpu.count": "4", "zone": "a"}


def affinity(*terms: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": t} for t in terms]
            }
        }
    }


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"key": "zone", "operator": "In", "values": ["a", "b"]}, True),
        ({"key": "zone", "operator": "In", "values": ["b"]}, False),
        ({"key": "zone", "operator": "NotIn", "values": ["b"]}, True),
        ({"key": "missing", "operator": "NotIn", "values": ["b"]}, True),
        ({"key": "zone", "operator": "Exists"}, True),
        ({"key": "missing", "operator": "Exists"}, False),
        ({"key": "missing", "operator": "DoesNotExist"}, True),
        ({"key": "zone", "operator": "DoesNotExist"}, False),
        ({"key": "nvidia.com/gpu.count", "operator": "Gt", "values": ["2"]}, True),
        ({"key": "nvidia.com/gpu.count", "operator": "Gt", "values": ["4"]}, False),
        ({"key": "nvidia.com/gpu.count", "operator": "Lt", "values": ["8"]}, True),
        ({"key": "zone", "operator": "Gt", "values": ["1"]}, False),  # not an integer
        ({"key": "missing", "operator": "Lt", "values": ["1"]}, False),
    ],
)
def test_affinity_operators(expression: dict[str, Any], expected: bool) -> None:
    spec = {"affinity": affinity([expression])}
    assert matches_node_selector(spec, node("n", labels=LABELS)) is expected


def test_affinity_terms_are_ored_and_expressions_anded() -> None:
    n = node("n", labels=LABELS)
    yes = {"key": "zone", "operator": "In", "values": ["a"]}
    no = {"key": "zone", "operator": "In", "values": ["z"]}
    assert matches_node_selector({"affinity": affinity([no], [yes])}, n)
    assert not matches_node_selector({"affinity": affinity([yes, no])}, n)
    assert not matches_node_selector({"affinity": affinity()}, n)  # no terms: nothing matches
    by_name = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}]
            }
        }
    }
    assert matches_node_selector({"affinity": by_name}, n)


def test_node_selector_needs_every_label() -> None:
    n = node("n", labels=LABELS)
    assert matches_node_selector({"nodeSelector": {"nvidia.com/gpu.product": "Tesla-T4"}}, n)
    assert not matches_node_selector({"nodeSelector": {"nvidia.com/gpu.product": "Tesla-T4", "x": "y"}}, n)
    assert eligibility_reasons(pod(container(), nodeSelector={"x": "y"}), n) == [
        "node(s) didn't match Pod's node affinity/selector"
    ]


def test_first_failing_filter_wins() -> None:
    # Cordoned, tainted and not matching: only the first filter (NodeUnschedulable) is reported.
    n = node("n", unschedulable=True, taints=[{"key": "t", "effect": "NoSchedule"}])
    assert filter_reasons(pod(container(limits={GPU: 9}), nodeSelector={"x": "y"}), n) == ["node(s) were unschedulable"]


def test_resource_reasons() -> None:
    n = node("n", res={GPU: 4})
    p = pod(container(limits={GPU: 2, "cpu": "4"}))
    assert fits(p, n, {GPU: 2, "cpu": 4000, "pods": 1})
    assert filter_reasons(p, n, {GPU: 3, "cpu": 5000, "pods": 110}) == [
        "Too many pods",
        "Insufficient cpu",
        "Insufficient nvidia.com/gpu",
    ]
    # A resource the node does not have at all is insufficient.
    assert filter_reasons(pod(container(limits={"nvidia.com/mig-1g.5gb": 1})), n) == [
        "Insufficient nvidia.com/mig-1g.5gb"
    ]


# ------------------------------------------------------------------------------------------- message


def test_message_matches_kube_scheduler() -> None:
    nodes = [
        node("cpu", labels={}),
        node("t4-a", labels=LABELS, res={GPU: 4}),
        node("t4-b", labels=LABELS, res={GPU: 4}),
    ]
    p = pod(container(limits={GPU: 8}), affinity=affinity([{"key": "nvidia.com/gpu.product", "operator": "Exists"}]))
    fitting, message = schedule(p, nodes, {})
    assert fitting == []
    assert message == (
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient nvidia.com/gpu."
    )
    _, with_preemption = schedule(p, nodes, {}, preemption=True)
    assert with_preemption == (
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient nvidia.com/gpu."
        " preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling,"
        " 2 No preemption victims found for incoming pod."
    )
    assert schedule(pod(container(limits={GPU: 4})), nodes, {"t4-a": {GPU: 1, "pods": 1}}) == (["t4-b"], None)


def test_message_sorts_as_strings_and_counts_every_reason() -> None:
    reasons = [["Insufficient cpu", "Insufficient memory"]] * 10 + [["node(s) were unschedulable"]] * 2
    assert unschedulable_message(reasons) == (
        "0/12 nodes are available: 10 Insufficient cpu, 10 Insufficient memory, 2 node(s) were unschedulable."
    )
    assert unschedulable_message([]) == NO_NODES


# -------------------------------------------------------------------------------------- properties

amounts = st.integers(min_value=0, max_value=16)
resource_names = st.sampled_from([GPU, "cpu", "nvidia.com/mig-1g.5gb", "nvidia.com/gpu.shared"])
resource_maps = st.dictionaries(resource_names, amounts, max_size=3)
containers_st = st.lists(resource_maps.map(lambda r: container(limits=r)), min_size=1, max_size=3)
inits_st = st.lists(resource_maps.map(lambda r: container(requests=r)), max_size=3)


@given(containers_st, inits_st)
def test_effective_request_bounds(containers: list[dict[str, Any]], inits: list[dict[str, Any]]) -> None:
    total = pod_requests(pod(*containers, init=inits))
    names = {n for c in containers + inits for n in c["resources"].get("limits", c["resources"].get("requests", {}))}
    for name in names:
        sums = sum(container_requests(c).get(name, 0) for c in containers)
        peak = max([container_requests(c).get(name, 0) for c in inits] or [0])
        assert total.get(name, 0) == max(sums, peak)


@given(containers_st, st.integers(min_value=0, max_value=32), st.integers(min_value=0, max_value=32))
def test_fit_is_monotonic_in_use(containers: list[dict[str, Any]], used_a: int, used_b: int) -> None:
    n = node("n", res={GPU: 16, "nvidia.com/mig-1g.5gb": 8, "nvidia.com/gpu.shared": 8})
    p = pod(*containers)
    low, high = sorted((used_a, used_b))
    less = {GPU: low, "nvidia.com/gpu.shared": low, "pods": 0}
    more = {GPU: high, "nvidia.com/gpu.shared": high, "pods": 0}
    if fits(p, n, more):
        assert fits(p, n, less)


@given(
    st.lists(
        st.lists(
            st.sampled_from(
                ["Insufficient cpu", "Insufficient nvidia.com/gpu", "node(s) were unschedulable", "Too many pods"]
            ),
            min_size=1,
            max_size=2,
            unique=True,
        ),
        min_size=1,
        max_size=20,
    )
)
def test_message_counts_add_up(node_reasons: list[list[str]]) -> None:
    message = unschedulable_message(node_reasons)
    assert message.startswith(f"0/{len(node_reasons)} nodes are available: ")
    parts = message.split(": ", 1)[1].rstrip(".").split(", ")
    assert parts == sorted(parts)
    assert sum(int(p.split(" ", 1)[0]) for p in parts) == sum(len(r) for r in node_reasons)


def test_request_cache_hands_out_copies_and_takes_any_values() -> None:
    c = container(limits={GPU: "2", "memory": "1Gi"})
    first = container_requests(c)
    first[GPU] = 99  # a caller changing its copy must not change the next answer
    assert container_requests(c) == {GPU: 2, "memory": 2**30}
    # A null value is skipped; a list is not hashable (nor a quantity): a clean error, not a crash.
    nulls = {"name": "c", "resources": {"limits": {GPU: "1", "example.com/x": None}, "requests": {"cpu": "1"}}}
    assert container_requests(nulls) == {GPU: 1, "cpu": 1000}
    odd = {"name": "c", "resources": {"limits": {GPU: ["1"]}}}
    with pytest.raises(QuantityError) as info:
        container_requests(odd)
    assert info.value.obj == "resources.nvidia.com/gpu"


@given(containers_st, inits_st, st.booleans())
def test_request_items_are_the_effective_requests(
    containers: list[dict[str, Any]], inits: list[dict[str, Any]], twice: bool
) -> None:
    p = pod(*containers, init=inits)
    if twice:  # a second pod of the same shape is answered from the stanza memo
        pod_request_items(p)
    assert dict(pod_request_items(p)) == pod_requests(p)
    assert all(amount for _, amount in pod_request_items(p))
    changed = pod_requests(p)
    changed["cpu"] = 12345  # a caller changing its dict must not change the shared pairs
    assert dict(pod_request_items(p)) == pod_requests(p) != changed
