"""The installed glue runs for real in the sandbox: its pod is a local `kubectl-clearml run-glue` process that
talks to the API as its service account (so the Role is what it may do) and to ClearML with the agent's keys."""

from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Any

import yaml

from kubectl_clearml.core import glue_install as gi
from tests.glue.glue_harness import wait_for
from tests.helpers import run_cli

NS = "clearml"
OURS = "clearml-agent-kc-glue"


def cli(world: Any, tmp_path: Path, *args: str) -> Any:
    return run_cli(["glue", *args, "-n", NS], world.env, home=str(tmp_path))


def pods_created(world: Any) -> tuple[collections.Counter[str], Any]:
    created: collections.Counter[str] = collections.Counter()

    def seen(kind: str, plural: str, obj: dict[str, Any]) -> None:
        if kind == "ADDED" and plural == "pods" and obj["metadata"]["name"].startswith("clearml-id-"):
            created.update([obj["metadata"]["name"]])

    return created, world.kube.store.subscribe(seen)


def glue_pods(world: Any) -> list[dict[str, Any]]:
    return [p for p in world.kube.store.list("pods", NS) if p["metadata"]["name"].startswith(f"{OURS}-")]


def queued(world: Any, task_ids: list[str]) -> list[str]:
    state = world.clearml.state
    return [t for q in state.queues.values() for t in (e["task"] for e in q["entries"]) if t in task_ids]


def test_takeover_with_tasks_queued_launches_each_once_as_the_service_account(world: Any, tmp_path: Path) -> None:
    tasks = list(world.world.task_ids.values())
    waiting = queued(world, tasks)
    assert len(waiting) >= 8, "the demo world has tasks waiting in served queues and in k8s_scheduler"
    created, unsubscribe = pods_created(world)
    try:
        result = cli(world, tmp_path, "install", "--timeout", "60")
        assert result.exit_code == 0, result.stderr
        wait_for(lambda: not queued(world, waiting), timeout=60, what="every queued task taken by the in-cluster glue")
        wait_for(lambda: all(f"clearml-id-{t}" in created for t in waiting), timeout=30, what="a pod per task")
    finally:
        unsubscribe()
    assert set(created.values()) == {1}, f"a task got two pods: {created}"
    (pod,) = glue_pods(world)
    log = world.kube.store.pod_log(NS, pod["metadata"]["name"]) or ""
    assert '"msg": "run-glue started: worker clearml-agent' in log  # the agent's worker id, JSON logs
    assert world.clearml.secret_key not in log
    labels = {world.kube.store.get("pods", f"clearml-id-{t}", NS)["metadata"]["labels"]["CLEARML"]
              for t in waiting if world.kube.store.get("pods", f"clearml-id-{t}", NS)}
    assert labels == {gi_label()}, "task pods carry the agent's CLEARML label"
    status = yaml.safe_load(cli(world, tmp_path, "status", "-o", "yaml").stdout)
    assert status["serving"] == "kubectl-clearml" and status["glue"]["leader"].startswith(pod["metadata"]["name"])

    gone = cli(world, tmp_path, "uninstall", "--timeout", "60")
    assert gone.exit_code == 0, gone.stderr
    assert glue_pods(world) == []
    assert world.kube.store.get("deployments", "clearml-agent", NS)["spec"]["replicas"] == 1


def gi_label() -> str:
    from kubectl_clearml.core.podbuilder import agent_label

    return agent_label("clearml-agent")


def test_two_replicas_one_leader_and_a_deleted_leader_is_replaced(world: Any, tmp_path: Path) -> None:
    result = cli(world, tmp_path, "install", "--replicas", "2", "--timeout", "60")
    assert result.exit_code == 0, result.stderr
    assert "poddisruptionbudget/clearml-agent-kc-glue created" in result.stdout
    lease_name = f"clearml-glue-{gi_label()}"

    def holder() -> str | None:
        lease = world.kube.store.get("leases", lease_name, NS)
        return (lease or {}).get("spec", {}).get("holderIdentity")

    first = wait_for(holder, timeout=30, what="a leader")
    wait_for(lambda: len([p for p in glue_pods(world) if (p.get("status") or {}).get("phase") == "Running"]) == 2,
             timeout=30, what="two glue replicas running")
    leader_pod = next(p["metadata"]["name"] for p in glue_pods(world) if first.startswith(p["metadata"]["name"]))
    started = time.monotonic()
    world.client(NS).delete("pods", leader_pod, NS)
    second = wait_for(lambda: (h := holder()) and h != first and h, timeout=30, what="the other replica leading")
    failover = time.monotonic() - started
    assert not second.startswith(leader_pod)
    assert failover < 15.0, f"took {failover:.1f}s (the lease lasts 15 s; a stopping leader releases it)"


def test_the_role_is_all_it_needs_and_each_rule_is_used(world: Any, tmp_path: Path) -> None:
    """Minimal: the Role has exactly the verbs run-glue uses (issue 20); enough: the first test's glue ran on it."""
    rules = gi.role_rules()
    assert rules == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "create", "delete"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
    ]
    result = cli(world, tmp_path, "install", "--dry-run=client", "-o", "yaml")
    kinds = [o["kind"] for o in yaml.safe_load(result.stdout)["items"]]
    assert "ClusterRole" not in kinds and "ClusterRoleBinding" not in kinds  # nothing cluster-wide by default
