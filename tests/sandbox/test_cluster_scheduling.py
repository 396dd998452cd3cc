"""The simulated scheduler, driven through the real Kubernetes API of the emulator (pods created over HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.cluster_helpers import condition, events_for, node, pod, wait_for


@pytest.fixture
def bare(make_world: Any) -> Any:
    """A sandbox with no seeded world: each test adds its own nodes."""
    handle = make_world(seed=False)
    return handle


def _add_nodes(handle: Any, *nodes: dict[str, Any]) -> None:
    for obj in nodes:
        handle.store.add("nodes", obj)


def _get(client: Any, name: str) -> dict[str, Any]:
    return client.get("pods", name, "default")


def _scheduled_to(client: Any, name: str) -> str | None:
    return (_get(client, name).get("spec") or {}).get("nodeName")


def _unschedulable_message(client: Any, name: str) -> str | None:
    cond = condition(_get(client, name), "PodScheduled")
    if cond and cond.get("status") == "False" and cond.get("reason") == "Unschedulable":
        return str(cond.get("message"))
    return None


def test_too_many_gpus_gives_the_kube_unschedulable_message_and_event(bare: Any) -> None:
    _add_nodes(bare, node("gpu-a", gpus=8), node("gpu-b", gpus=8), node("gpu-c", gpus=4))
    client = bare.client("default")
    client.create("pods", pod("greedy", limits={"nvidia.com/gpu": 9}), "default")

    message = wait_for(lambda: _unschedulable_message(client, "greedy"), what="Unschedulable condition")

    assert message == "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    assert _get(client, "greedy")["status"]["phase"] == "Pending"
    failed = [e for e in events_for(client, "greedy", "default") if e["reason"] == "FailedScheduling"]
    assert [e["message"] for e in failed] == [message]
    assert failed[0]["type"] == "Warning"


def test_pod_binds_to_a_node_with_enough_gpus_and_gets_a_scheduled_event(bare: Any) -> None:
    _add_nodes(bare, node("small", gpus=1), node("big", gpus=8))
    client = bare.client("default")
    client.create("pods", pod("two-gpus", limits={"nvidia.com/gpu": 2}), "default")

    assert wait_for(lambda: _scheduled_to(client, "two-gpus")) == "big"
    cond = wait_for(lambda: condition(_get(client, "two-gpus"), "PodScheduled"))
    assert cond["status"] == "True"
    scheduled = [e for e in events_for(client, "two-gpus", "default") if e["reason"] == "Scheduled"]
    assert scheduled[0]["message"] == "Successfully assigned default/two-gpus to big"


def test_mig_slices_are_a_resource_of_their_own(bare: Any) -> None:
    _add_nodes(
        bare,
        node("a100", gpus=8),
        node("mig", extra={"nvidia.com/gpu": "0", "nvidia.com/mig-1g.5gb": "2", "nvidia.com/mig-3g.20gb": "1"}),
    )
    client = bare.client("default")
    client.create("pods", pod("slice-1", limits={"nvidia.com/mig-1g.5gb": 1}), "default")
    client.create("pods", pod("slice-2", limits={"nvidia.com/mig-1g.5gb": 1}), "default")
    assert wait_for(lambda: _scheduled_to(client, "slice-1")) == "mig"
    assert wait_for(lambda: _scheduled_to(client, "slice-2")) == "mig"

    client.create("pods", pod("slice-3", limits={"nvidia.com/mig-1g.5gb": 1}), "default")
    message = wait_for(lambda: _unschedulable_message(client, "slice-3"))
    assert message == "0/2 nodes are available: 2 Insufficient nvidia.com/mig-1g.5gb."


def test_taints_keep_pods_away_unless_tolerated(bare: Any) -> None:
    taint = {"key": "dedicated", "value": "system", "effect": "NoSchedule"}
    _add_nodes(bare, node("tainted", taints=[taint]))
    client = bare.client("default")
    client.create("pods", pod("plain", limits={"cpu": "1"}), "default")
    message = wait_for(lambda: _unschedulable_message(client, "plain"))
    assert message == "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: system}."

    toleration = {"key": "dedicated", "operator": "Equal", "value": "system", "effect": "NoSchedule"}
    client.create("pods", pod("tolerant", limits={"cpu": "1"}, tolerations=[toleration]), "default")
    assert wait_for(lambda: _scheduled_to(client, "tolerant")) == "tainted"
    assert _scheduled_to(client, "plain") is None


def test_node_selector_and_required_affinity_pick_the_product(bare: Any) -> None:
    _add_nodes(
        bare,
        node("t4", gpus=4, labels={"nvidia.com/gpu.product": "Tesla-T4"}),
        node("a100", gpus=8, labels={"nvidia.com/gpu.product": "A100-SXM4-40GB"}),
    )
    client = bare.client("default")
    client.create(
        "pods",
        pod("by-selector", limits={"nvidia.com/gpu": 1}, nodeSelector={"nvidia.com/gpu.product": "Tesla-T4"}),
        "default",
    )
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["A100-SXM4-40GB"]}
                        ]
                    }
                ]
            }
        }
    }
    client.create("pods", pod("by-affinity", limits={"nvidia.com/gpu": 1}, affinity=affinity), "default")
    client.create(
        "pods",
        pod("nowhere", limits={"nvidia.com/gpu": 1}, nodeSelector={"nvidia.com/gpu.product": "H100"}),
        "default",
    )
    assert wait_for(lambda: _scheduled_to(client, "by-selector")) == "t4"
    assert wait_for(lambda: _scheduled_to(client, "by-affinity")) == "a100"
    message = wait_for(lambda: _unschedulable_message(client, "nowhere"))
    assert message == "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."


def test_pending_pod_is_bound_once_capacity_frees(bare: Any) -> None:
    _add_nodes(bare, node("only", gpus=1))
    client = bare.client("default")
    client.create(
        "pods",
        pod("first", limits={"nvidia.com/gpu": 1}, annotations={"sandbox.kubectl-clearml/run-seconds": "inf"}),
        "default",
    )
    assert wait_for(lambda: _scheduled_to(client, "first")) == "only"
    client.create("pods", pod("second", limits={"nvidia.com/gpu": 1}), "default")
    assert wait_for(lambda: _unschedulable_message(client, "second")) == (
        "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    )

    client.delete("pods", "first", "default")

    assert wait_for(lambda: _scheduled_to(client, "second"), what="second pod bound after the first left") == "only"


def test_finished_pods_free_their_gpus(bare: Any) -> None:
    _add_nodes(bare, node("only", gpus=1))
    client = bare.client("default")
    quick = {"sandbox.kubectl-clearml/run-seconds": "5"}
    client.create("pods", pod("one", limits={"nvidia.com/gpu": 1}, annotations=quick), "default")
    client.create("pods", pod("two", limits={"nvidia.com/gpu": 1}, annotations=quick), "default")

    def phases() -> list[str] | None:
        got = [_get(client, n)["status"].get("phase") for n in ("one", "two")]
        return got if got == ["Succeeded", "Succeeded"] else None

    assert wait_for(phases, what="both pods to run one after the other") == ["Succeeded", "Succeeded"]
