"""GPU accounting and the queue view over plain dicts, with the expected numbers worked out by hand."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kubectl_clearml.core.gpu import GPU, build_cluster, node_gpus
from kubectl_clearml.core.gpu_queues import (
    MISCONFIGURED,
    NO_ELIGIBLE_NODE,
    OK,
    WAITING,
    QueueInput,
    format_gpus,
    pods_that_fit,
    queue_report,
)
from kubectl_clearml.core.gpu_summary import dashboard_check, products, totals
from kubectl_clearml.core.scheduling import fits
from tests.gpu.builders import A100, MIG1, MIG3, MIG_MIXED, gpu_labels, node, pod, template


def test_mig_mixed_node() -> None:
    n = node("mig", MIG_MIXED, {GPU: 0, MIG1: 14, MIG3: 4})
    cluster = build_cluster([n], [pod("triton", {MIG1: 2, "cpu": "4"}, node_name="mig")])
    model = cluster.nodes["mig"]
    assert model.mode == "mig-mixed"
    assert model.physical_gpus == 4
    assert sorted(model.slots) == [MIG1, MIG3]  # the zero nvidia.com/gpu is left out
    slot = model.slots[MIG1]
    assert (slot.product, slot.allocatable, slot.requested, slot.free, slot.other) == (
        "A100-SXM4-40GB-MIG-1g.5gb",
        14,
        2,
        12,
        2,
    )
    assert model.slots[MIG3].product == "A100-SXM4-40GB-MIG-3g.20gb"
    # Without the per-profile product label the name is derived from the base product.
    bare = node("mig2", gpu_labels("A100-SXM4-40GB", 4), {MIG1: 7})
    assert node_gpus(bare).slots[MIG1].product == "A100-SXM4-40GB-MIG-1g.5gb"


def test_mig_single_node() -> None:
    labels = gpu_labels("A100-SXM4-40GB-MIG-1g.5gb", 28, **{"nvidia.com/mig.strategy": "single"})
    model = node_gpus(node("single", labels, {GPU: 28}))
    assert model.mode == "mig-single"
    assert model.slots[GPU].product == "A100-SXM4-40GB-MIG-1g.5gb"
    assert model.slots[GPU].allocatable == 28


def test_time_slicing_both_ways() -> None:
    # Default: the resource stays nvidia.com/gpu, the product gets -SHARED, capacity = 4 GPUs x 4 replicas.
    shared = gpu_labels("Tesla-T4-SHARED", 4, **{"nvidia.com/gpu.replicas": "4"})
    model = node_gpus(node("t4s", shared, {GPU: 16}))
    assert (model.mode, model.physical_gpus, model.replicas) == ("time-sliced", 4, 4)
    assert model.slots[GPU].product == "Tesla-T4-SHARED"
    # renameByDefault: the resource is nvidia.com/gpu.shared; the product keeps its plain name on the node.
    renamed = gpu_labels("Tesla-T4", 4, **{"nvidia.com/gpu.replicas": "2"})
    model = node_gpus(node("t4r", renamed, {"nvidia.com/gpu.shared": 8}))
    assert model.mode == "time-sliced"
    assert model.slots["nvidia.com/gpu.shared"].product == "Tesla-T4-SHARED"
    # No gpu.count label: physical GPUs = capacity / replicas.
    unlabelled = {"nvidia.com/gpu.product": "Tesla-T4-SHARED", "nvidia.com/gpu.replicas": "4"}
    assert node_gpus(node("t4u", unlabelled, {GPU: 16})).physical_gpus == 4


def test_requests_limits_init_containers_and_terminated_pods() -> None:
    n = node("a100", A100, {GPU: 8})
    pods = [
        pod("limits-only", {GPU: 1}, node_name="a100"),  # request defaults to the limit: 1
        pod("init-heavy", {GPU: 1}, init_limits={GPU: 3}, node_name="a100"),  # max(3, 1) = 3
        pod("task", {GPU: 2}, node_name="a100", queue="2xgpu"),  # a ClearML task pod: 2
        pod("done", {GPU: 4}, node_name="a100", phase="Succeeded"),  # ignored
        pod("failed", {GPU: 4}, node_name="a100", phase="Failed"),  # ignored
        pod("cpu-only", None, requests={"cpu": "1"}, node_name="a100"),  # no GPU
    ]
    cluster = build_cluster([n], pods)
    slot = cluster.nodes["a100"].slots[GPU]
    assert (slot.requested, slot.clearml, slot.other, slot.free) == (6, 2, 4, 2)
    model = cluster.nodes["a100"]
    assert (model.gpu_task_pods, model.gpu_other_pods, model.used["pods"]) == (1, 2, 4)
    assert cluster.running_task_pods == {"2xgpu": 1}


def test_flags_and_products_largest_block() -> None:
    nodes = [
        node("a", A100, {GPU: 8}),
        node("b", A100, {GPU: 8}, cordoned=True),
        node("c", A100, {GPU: 8}, ready="False"),
        node("d", A100, {GPU: 8}, taints=[{"key": "gpu", "value": "a100", "effect": "NoSchedule"}]),
        node("cpu", {}, {}),
    ]
    pods = [pod("p1", {GPU: 5}, node_name="a"), pod("p2", {GPU: 6}, node_name="d")]
    cluster = build_cluster(nodes, pods)
    assert cluster.nodes["b"].flags() == ["cordoned"]
    assert cluster.nodes["c"].flags() == ["NotReady"]
    assert cluster.nodes["d"].flags() == ["tainted"]
    assert cluster.nodes["d"].taints == ["gpu=a100:NoSchedule"]
    assert not cluster.nodes["cpu"].has_gpus
    (a100,) = products(cluster)
    # Free: a 3 + b 8 + c 8 + d 2 = 21; the largest block counts schedulable nodes only (b, c are not): a with 3.
    assert (a100.product, a100.allocatable, a100.requested, a100.free) == ("A100-SXM4-40GB", 32, 11, 21)
    assert (a100.largest_free, a100.largest_free_node) == (3, "a")
    total = totals(cluster)
    assert (total.physical_gpus, total.allocatable[GPU], total.free[GPU]) == (32, 32, 21)


def demo_like_cluster() -> Any:
    nodes = [
        node("a100-1", A100, {GPU: 8}),
        node("a100-2", A100, {GPU: 8}),
        node("mig", MIG_MIXED, {GPU: 0, MIG1: 14, MIG3: 4}),
        node("t4-1", gpu_labels("Tesla-T4", 4), {GPU: 4}),
        node("t4-2", gpu_labels("Tesla-T4", 4), {GPU: 4}),
        node("cpu-1", {}, {}),
        node("cpu-2", {}, {}, taints=[{"key": "dedicated", "value": "system", "effect": "NoSchedule"}]),
    ]
    pods = [
        pod("vit", {GPU: 7}, node_name="a100-1", queue="1xgpu"),
        pod("gpt", {GPU: 8}, node_name="a100-2", queue="gpushm"),
        pod("jupyter", {GPU: 3}, node_name="t4-1"),
        pod("jupyter2", {GPU: 4}, node_name="t4-2"),
        pod("waiting", {GPU: 2}, queue="2xgpu", phase="Pending"),
    ]
    return build_cluster(nodes, pods)


def test_queue_fit_packs_into_free_capacity() -> None:
    cluster = demo_like_cluster()
    # Free nvidia.com/gpu: a100-1 1, a100-2 0, t4-1 1, t4-2 0 (the MIG node has none).
    one = queue_report(QueueInput("1xGPU", template(1), pending_tasks=3), cluster)
    assert one.verdict == OK
    assert one.fit_now == 2
    assert one.fit_by_node == {"a100-1": 1, "a100-2": 0, "t4-1": 1, "t4-2": 0}
    assert one.running_pods == 1
    assert one.why == "room for 2 more pod(s) on 2 of 4 eligible node(s); 3 task(s) queued"
    two = queue_report(QueueInput("2xGPU", template(2), pending_tasks=1), cluster)
    assert two.verdict == WAITING
    assert two.fit_now == 0
    assert two.eligible_nodes == ["a100-1", "a100-2", "t4-1", "t4-2"]
    assert [p.name for p in two.pending_pods] == ["waiting"]
    assert two.why == (
        "needs 2 nvidia.com/gpu per pod, at most 1 free on one eligible node (a100-1); "
        "1 task(s) queued, 1 task pod(s) pending"
    )
    # The pending pod carries no scheduler message yet: we give the one the scheduler would.
    assert two.pending_pods[0].reason == (
        "0/7 nodes are available: 1 node(s) had untolerated taint {dedicated: system}, 6 Insufficient nvidia.com/gpu."
    )
    cpu = queue_report(QueueInput("red", template()), cluster)
    assert cpu.verdict == OK
    assert format_gpus(cpu.gpus_per_pod) == "0"
    assert "cpu-2" not in cpu.eligible_nodes and "cpu-1" in cpu.eligible_nodes  # the taint is not tolerated


def test_queue_tolerations_and_selectors() -> None:
    cluster = demo_like_cluster()
    tolerant = template(tolerations=[{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}])
    assert "cpu-2" in queue_report(QueueInput("infra", tolerant), cluster).eligible_nodes
    nowhere = queue_report(QueueInput("h100", template(1, nodeSelector={"nvidia.com/gpu.product": "H100"})), cluster)
    assert nowhere.verdict == NO_ELIGIBLE_NODE
    assert nowhere.why == (
        "0/7 nodes are available: 1 node(s) had untolerated taint {dedicated: system}, "
        "6 node(s) didn't match Pod's node affinity/selector."
    )
    t4_only = template(2, nodeSelector={"nvidia.com/gpu.product": "Tesla-T4"})
    assert queue_report(QueueInput("t4", t4_only), cluster).eligible_nodes == ["t4-1", "t4-2"]
    too_big = queue_report(QueueInput("9x", template(9)), cluster)
    assert too_big.verdict == NO_ELIGIBLE_NODE
    assert too_big.why == (
        "0/7 nodes are available: 1 node(s) had untolerated taint {dedicated: system}, 6 Insufficient nvidia.com/gpu."
    )


def test_mig_queue_and_misconfigurations() -> None:
    cluster = demo_like_cluster()
    mig = queue_report(QueueInput("mig", template(3, resource=MIG1)), cluster)
    assert (mig.verdict, mig.fit_now, mig.gpus_cell()) == (OK, 4, "3 mig-1g.5gb")  # 14 // 3
    absent = queue_report(QueueInput("mig10", template(1, resource="nvidia.com/mig-1g.10gb")), cluster)
    assert (absent.verdict, absent.why) == (MISCONFIGURED, "asks for nvidia.com/mig-1g.10gb, which no node advertises")
    mismatch = template(2)
    mismatch["spec"]["containers"][0]["resources"]["requests"] = {GPU: 1}
    bad = queue_report(QueueInput("odd", mismatch), cluster)
    assert bad.verdict == MISCONFIGURED and "differs from its limit" in bad.why
    broken = queue_report(QueueInput("broken", template("two")), cluster)
    assert broken.verdict == MISCONFIGURED and "invalid quantity 'two'" in broken.why
    missing = queue_report(QueueInput("ghost", template(1), exists_in_clearml=False), cluster)
    assert missing.verdict == MISCONFIGURED and "does not exist on the ClearML server" in missing.why
    no_template = queue_report(QueueInput("x", None, error="queue x is not configured"), cluster)
    assert (no_template.verdict, no_template.why) == (MISCONFIGURED, "queue x is not configured")


def test_dashboard_check() -> None:
    total = totals(demo_like_cluster())
    assert total.physical_gpus == 28  # 8 + 8 + 4 (MIG) + 4 + 4
    key = "agentk8sglue.orchestrationDashboard.gpu.reportMax"
    assert dashboard_check(total, 28, key) == f"dashboard max GPUs ({key}=28) matches the cluster's 28 GPUs"
    below = dashboard_check(total, 24, key)
    assert below is not None
    assert "is below the cluster's 28 GPUs (24 allocatable as nvidia.com/gpu, 4 partitioned or shared)" in below
    assert "above" in (dashboard_check(total, 40, key) or "")
    assert dashboard_check(total, None, None) is None


@given(
    st.integers(min_value=0, max_value=16),
    st.integers(min_value=0, max_value=16),
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=0, max_value=6),
)
def test_fit_count_matches_the_scheduler(capacity: int, used: int, per_pod: int, pod_slots: int) -> None:
    # Placing pods one by one with the scheduler's rule takes exactly pods_that_fit of them.
    n = node("n", {}, {GPU: capacity})
    n["status"]["allocatable"]["pods"] = str(pod_slots + 1)
    existing = [pod("busy", {GPU: used}, node_name="n")]
    cluster = build_cluster([n], existing)
    model = cluster.nodes["n"]
    expected = pods_that_fit({GPU: per_pod}, model)
    placed = 0
    usage = dict(model.used)
    one = pod("new", {GPU: per_pod})
    while fits(one, n, usage) and placed <= 40:
        usage[GPU] = usage.get(GPU, 0) + per_pod
        usage["pods"] += 1
        placed += 1
    assert placed == expected


node_shapes = st.tuples(
    st.sampled_from(["A100-SXM4-40GB", "Tesla-T4", None]),
    st.sampled_from(["a", "b"]),
    st.booleans(),  # cordoned
    st.sampled_from([None, "gpu", "dedicated"]),  # taint key
    st.sampled_from(["True", "False", "Unknown"]),
    st.integers(min_value=0, max_value=8),  # GPUs
    st.integers(min_value=0, max_value=8),  # GPUs used
)


@given(
    st.lists(node_shapes, min_size=1, max_size=12),
    st.sampled_from([{}, {"zone": "a"}, {"nvidia.com/gpu.product": "Tesla-T4"}]),
    st.sampled_from([[], [{"key": "gpu", "operator": "Exists"}]]),
    st.integers(min_value=0, max_value=3),
    st.booleans(),
)
def test_node_reasons_cache_matches_the_plain_filters(
    shapes: list[Any], selector: dict[str, str], tolerations: list[Any], gpus: int, now: bool
) -> None:
    from kubectl_clearml.core.gpu_queues import node_reasons
    from kubectl_clearml.core.scheduling import eligibility_reasons, pod_requests, resource_reasons

    nodes, pods = [], []
    for i, (product, zone, cordoned, taint, ready, capacity, used) in enumerate(shapes):
        labels = {"zone": zone, **({"nvidia.com/gpu.product": product} if product else {})}
        taints = [{"key": taint, "effect": "NoSchedule"}] if taint else None
        nodes.append(node(f"n{i}", labels, {GPU: capacity}, taints=taints, cordoned=cordoned, ready=ready))
        pods.append(pod(f"p{i}", {GPU: used}, node_name=f"n{i}"))
    cluster = build_cluster(nodes, pods)
    tmpl = template(gpus, nodeSelector=selector, tolerations=tolerations)
    requests = pod_requests(tmpl)
    models = list(cluster.nodes.values())
    expected = [
        eligibility_reasons(tmpl, m.node) or resource_reasons(requests, m.allocatable, m.used if now else {})
        for m in models
    ]
    assert node_reasons(tmpl, requests, models, now=now) == expected


def test_gpu_request_without_limit_is_misconfigured() -> None:
    cluster = demo_like_cluster()
    no_limit = template()
    no_limit["spec"]["containers"][0]["resources"]["requests"] = {GPU: 1}
    report = queue_report(QueueInput("odd", no_limit), cluster)
    assert (report.verdict, report.why) == (
        MISCONFIGURED,
        "nvidia.com/gpu is requested without a limit (extended resources must set limits)",
    )
    # The same GPU in an init container counts too (a pod takes max(init, sum of containers)).
    init = template(1)
    init["spec"]["initContainers"] = [{"name": "warmup", "resources": {"limits": {GPU: 8}}}]
    big = queue_report(QueueInput("warm", init), cluster)
    assert big.gpus_per_pod == {GPU: 8}
    # Only the A100 nodes have 8 GPUs at all, and they are busy (a100-1 1 free, a100-2 none).
    assert (big.verdict, big.eligible_nodes) == (WAITING, ["a100-1", "a100-2"])
    assert big.why == "needs 8 nvidia.com/gpu per pod, at most 1 free on one eligible node (a100-1)"


def test_largest_block_skips_nodes_whose_readiness_is_unknown() -> None:
    # Ready=Unknown: the node lifecycle controller taints it unreachable:NoSchedule, so its 8 free GPUs are
    # no block a pod can get; the queue view already says so. A node with no Ready condition at all counts.
    nodes = [
        node("lost", A100, {GPU: 8}, ready="Unknown"),
        node("ok", A100, {GPU: 8}),
        node("bare", A100, {GPU: 8}),
    ]
    nodes[2]["status"]["conditions"] = []
    pods = [pod("p1", {GPU: 6}, node_name="ok"), pod("p2", {GPU: 5}, node_name="bare")]
    cluster = build_cluster(nodes, pods)
    (a100,) = products(cluster)
    # Free: lost 8 + ok 2 + bare 3 = 13; the largest usable block is bare's 3.
    assert (a100.free, a100.largest_free, a100.largest_free_node) == (13, 3, "bare")
    assert cluster.nodes["lost"].flags() == ["Unknown"]
    one = queue_report(QueueInput("1xGPU", template(1)), cluster)
    assert one.eligible_nodes == ["ok", "bare"]


def test_running_task_pods_count_wherever_they_are_bound() -> None:
    # -l narrows the node list; a task pod bound to a node outside it still runs for its queue (and a pod
    # whose node is gone is still bound to it), but its GPUs are not counted against the selected nodes.
    nodes = [node("t4", gpu_labels("Tesla-T4", 4), {GPU: 4})]
    pods = [
        pod("on-t4", {GPU: 1}, node_name="t4", queue="1xgpu"),
        pod("on-a100", {GPU: 1}, node_name="a100-1", queue="1xgpu"),
        pod("waiting", {GPU: 1}, queue="1xgpu", phase="Pending"),
    ]
    cluster = build_cluster(nodes, pods)
    assert cluster.running_task_pods == {"1xgpu": 2}
    assert cluster.nodes["t4"].slots[GPU].requested == 1
    assert cluster.pods_on_other_nodes == 1
    assert queue_report(QueueInput("1xGPU", template(1)), cluster).running_pods == 2


def test_fractional_gpu_in_a_template_is_misconfigured() -> None:
    # "nvidia.com/gpu: 0.5" is a common wish; the API rejects it (extended resources must be integers),
    # and counting it as a whole GPU would report OK for a queue whose pods can never be created.
    cluster = demo_like_cluster()
    half = queue_report(QueueInput("half", template(0.5)), cluster)
    assert (half.verdict, half.why) == (
        MISCONFIGURED,
        "nvidia.com/gpu: 0.5 is not a whole number (the API rejects the pod; share GPUs with MIG or "
        "time-slicing instead)",
    )
    milli = template(1)
    milli["spec"]["containers"][0]["resources"]["requests"] = {GPU: "1500m"}
    assert queue_report(QueueInput("milli", milli), cluster).verdict == MISCONFIGURED
    assert queue_report(QueueInput("whole", template("1")), cluster).verdict == OK
