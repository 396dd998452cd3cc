"""core/fit: the fit check's cluster model, verdicts, unfit clock and backfill budget (pure)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kubectl_clearml.core import fit
from kubectl_clearml.core.gpu_queues import MISCONFIGURED, NO_ELIGIBLE_NODE, OK, WAITING
from kubectl_clearml.core.scheduling import node_allocatable
from tests.gpu.builders import GPU, gpu_labels, node, pod


def gpu_node(name: str, gpus: int, **kw: object) -> dict:
    return node(name, gpu_labels("NVIDIA-A100", gpus), {GPU: gpus}, **kw)  # type: ignore[arg-type]


def test_waiting_for_gpus_names_the_largest_free_block() -> None:
    model = fit.cluster_model([gpu_node("gpu-a", 4), gpu_node("gpu-b", 4)], [pod("busy", {GPU: 2}, node_name="gpu-a"),
                                                                             pod("busy2", {GPU: 3}, node_name="gpu-b")])
    verdict = fit.decide(pod("task", {GPU: 4}), model)
    assert verdict.verdict == WAITING and not verdict.fits and not verdict.never_now
    assert verdict.message() == "waiting for GPUs: needs 4 nvidia.com/gpu per pod, at most 2 free on one eligible node (gpu-a)"


def test_unbound_pods_are_reserved_so_two_launches_never_share_a_gpu() -> None:
    nodes = [gpu_node("gpu-a", 4)]
    first = pod("first", {GPU: 3}, phase="Pending")  # created, not bound yet
    assert not first["spec"].get("nodeName")
    assert fit.decide(pod("t", {GPU: 2}), fit.cluster_model(nodes, [])).fits
    assert fit.decide(pod("t", {GPU: 2}), fit.cluster_model(nodes, [first])).verdict == WAITING
    model = fit.cluster_model(nodes, [])
    assert fit.place(model, pod("a", {GPU: 3})) == "gpu-a"
    assert fit.decide(pod("b", {GPU: 2}), model).verdict == WAITING


def test_no_eligible_node_and_misconfigured_can_never_fit_now() -> None:
    model = fit.cluster_model([gpu_node("gpu-a", 4, cordoned=True)], [])
    never = fit.decide(pod("t", {GPU: 1}), model)
    assert never.verdict == NO_ELIGIBLE_NODE and never.never_now
    assert never.message().startswith("no eligible node: 0/1 nodes are available: 1 node(s) were unschedulable")
    wrong = fit.decide(pod("t", {"nvidia.com/mig-7g.80gb": 1}), fit.cluster_model([gpu_node("gpu-a", 4)], []))
    assert wrong.verdict == MISCONFIGURED and wrong.never_now and "no node advertises" in wrong.message()


def test_the_unfit_clock_counts_only_never_fit_and_restarts_when_a_node_appears() -> None:
    clock = fit.UnfitClock()
    never = fit.FitVerdict(NO_ELIGIBLE_NODE, "x")
    clock.observe_nodes(["a"])
    assert clock.waited("t", never, 100.0) == 0.0
    assert clock.waited("t", never, 160.0) == 60.0
    assert clock.waited("t", fit.FitVerdict(WAITING, "y"), 170.0) == 0.0  # room will come: no deadline
    assert clock.waited("t", never, 200.0) == 0.0
    assert clock.waited("t", never, 300.0) == 100.0
    clock.observe_nodes(["a", "b"])  # the autoscaler added a node
    assert clock.waited("t", never, 310.0) == 0.0
    clock.observe_nodes(["b"])  # a node went away: no reason for new hope
    assert clock.waited("t", never, 320.0) == 10.0


def test_backfill_budget_passes_a_waiting_head_at_most_limit_times() -> None:
    budget = fit.BackfillBudget(limit=2)
    assert budget.may_pass("q")
    budget.head_waits("q", "big")
    assert budget.may_pass("q")
    budget.passed("q")
    budget.passed("q")
    assert not budget.may_pass("q")
    budget.head_waits("q", "big")  # the same head in the next round: the count goes on
    assert not budget.may_pass("q")
    budget.head_started("q", "big")
    assert budget.may_pass("q")
    budget.head_waits("q", "other")
    assert budget.may_pass("q")
    assert fit.BackfillBudget(limit=0).may_pass("q")  # no head waiting: nothing to pass
    strict = fit.BackfillBudget(limit=0)
    strict.head_waits("q", "big")
    assert not strict.may_pass("q")


requests = st.integers(min_value=0, max_value=8)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=8), min_size=1, max_size=4),
    asks=st.lists(requests, min_size=1, max_size=12),
)
def test_placing_never_overcommits_and_agrees_with_decide(sizes: list[int], asks: list[int]) -> None:
    model = fit.cluster_model([gpu_node(f"gpu-{i}", n) for i, n in enumerate(sizes)], [])
    for i, ask in enumerate(asks):
        candidate = pod(f"p{i}", {GPU: ask} if ask else {"cpu": "1"})
        verdict = fit.decide(candidate, model)
        placed = fit.place(model, candidate)
        assert (placed is not None) == verdict.fits, (verdict, placed)
        assert verdict.verdict in (OK, WAITING, NO_ELIGIBLE_NODE) or ask > max(sizes)
    for name, node_model in model.nodes.items():
        allocatable = node_allocatable(node_model.node)
        assert node_model.used.get(GPU, 0) <= allocatable.get(GPU, 0), name
