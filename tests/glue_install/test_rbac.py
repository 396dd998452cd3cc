"""The installed glue's Role is enough (run-glue works with nothing more) and minimal (every verb is used:
removing it breaks something named here). run-glue runs in-process with a kubeconfig of the glue's service
account, so the emulator's RBAC decides every request."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_clearml.core import glue_install as gi
from tests.helpers import run_cli

NS = "clearml"
SA = "clearml-agent-kc-glue"


def role_without(resource: str, verb: str | None) -> list[dict[str, Any]]:
    rules = copy.deepcopy(gi.role_rules())
    for rule in rules:
        if resource in rule["resources"]:
            rule["verbs"] = [v for v in rule["verbs"] if verb is not None and v != verb]
    return [r for r in rules if r["verbs"]]


def as_glue(world: Any, tmp_path: Path, rules: list[dict[str, Any]]) -> dict[str, str]:
    """The install's ServiceAccount, Role (with ``rules``) and binding; the env of a process running as it."""
    admin = world.client(NS)
    facts = gi.agent_facts(admin.get("deployments", "clearml-agent", NS))
    for obj in gi.desired_objects(facts, gi.InstallOptions("glue:test"))[:3]:  # SA, Role, RoleBinding
        if obj["kind"] == "Role":
            obj["rules"] = rules
        admin.create({"ServiceAccount": "serviceaccounts", "Role": "roles", "RoleBinding": "rolebindings"}[obj["kind"]],
                     obj, NS)
    kubeconfig = world.kube.write_kubeconfig(tmp_path / "glue-kubeconfig", namespace=NS, user_token="glue-sa-token",
                                             user=f"system:serviceaccount:{NS}:{SA}")
    return {**world.env, "KUBECONFIG": kubeconfig}


def template(tmp_path: Path, world: Any) -> str:
    configmap = world.client(NS).get("configmaps", "clearml-agent-pt", NS)
    path = tmp_path / "template.yaml"
    path.write_text(configmap["data"]["template.yaml"])
    return str(path)


def run_glue(world: Any, tmp_path: Path, env: dict[str, str], *extra: str) -> Any:
    args = ["run-glue", "-n", NS, "--queue", "red", "--template", template(tmp_path, world),
            "--credentials-secret", "clearml-agent-ac", "--once", *extra]
    return run_cli(args, env, home=str(tmp_path))


def test_the_role_is_enough_to_launch_and_to_lead(world: Any, tmp_path: Path) -> None:
    env = as_glue(world, tmp_path, gi.role_rules())
    result = run_glue(world, tmp_path, env, "--leader-elect")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("run-glue: ") and not result.stdout.startswith("run-glue: 0 launched")
    assert world.clearml.state.queue_entries("red") == []


@pytest.mark.parametrize(
    ("resource", "verb", "flags", "said"),
    [
        ("pods", "create", (), "create"),
        ("pods", "list", (), "list"),
        ("leases", "get", ("--leader-elect",), "leases"),
        ("leases", "create", ("--leader-elect",), "leases"),
    ],
)
def test_without_a_verb_the_glue_stops_with_a_clear_forbidden(
    world: Any, tmp_path: Path, resource: str, verb: str, flags: tuple[str, ...], said: str
) -> None:
    env = as_glue(world, tmp_path, role_without(resource, verb))
    result = run_glue(world, tmp_path, env, *flags)
    assert result.exit_code == 4, result.stderr
    error = result.stderr.strip().splitlines()[-1]  # after the glue's own log lines: one error line
    assert error.startswith("kubectl clearml: error:") and "forbidden" in error and said in error


def rerun_with_finished_pod(world: Any) -> str:
    """A red task queued again whose previous run's pod is still there, finished: the glue must read it (get),
    then delete it to make room for the new run's pod."""
    task = world.world.task_ids["preprocess-imagenet-shard-01"]
    name = f"clearml-id-{task}"
    pod = {"metadata": {"name": name, "labels": {"CLEARML": "agent-91eb1873", "clearml-task-id": task}},
           "spec": {"containers": [{"name": "task", "image": "python:3.11-slim"}], "restartPolicy": "Never",
                    "nodeName": "cpu-1"}}
    world.kube.store.add({"apiVersion": "v1", "kind": "Pod", **yaml.safe_load(yaml.safe_dump(pod))}
                         | {"metadata": {**pod["metadata"], "namespace": NS}})
    world.kube.store.update_pod_status(NS, name, {"phase": "Succeeded"})
    return task


@pytest.mark.parametrize(("verb", "expected"), [("get", 4), ("delete", 0)])
def test_get_and_delete_replace_a_rerun_tasks_finished_pod(world: Any, tmp_path: Path, verb: str, expected: int) -> None:
    task = rerun_with_finished_pod(world)
    full = run_glue(world, tmp_path, as_glue(world, tmp_path, role_without("pods", verb)))
    assert full.exit_code == expected, full.stderr
    assert task in world.clearml.state.queue_entries("red"), "without the verb the re-run cannot start: it stays queued"


@pytest.mark.parametrize("rules", [gi.role_rules(), role_without("pods", "watch")], ids=["full", "no-watch"])
def test_watch_is_how_the_glue_follows_its_pods(world: Any, tmp_path: Path, rules: list[dict[str, Any]]) -> None:
    from kubectl_clearml.adapters.kube_connect import connect
    from kubectl_clearml.glue.engine import GlueEngine
    from tests.glue.glue_harness import Harness, wait_for

    env = as_glue(world, tmp_path, rules)
    harness = Harness(world.clearml, world.kube, tmp_path)
    settings = harness.settings(["red"], watch_timeout=1)
    engine = harness.start(GlueEngine(harness.clearml(), connect(kubeconfig=env["KUBECONFIG"], env={}), settings))
    try:
        wait_for(lambda: engine.summary.launched >= 1, what="a launch")
        time.sleep(1.5)
        errors = engine.metrics.get("clearml_glue_watch_restarts_total", reason="error")
    finally:
        harness.stop_all()
    assert (errors > 0) == (rules != gi.role_rules()), "the pod watch is forbidden exactly without 'watch'"


def test_update_takes_over_a_lease_another_holder_let_expire(world: Any, tmp_path: Path) -> None:
    from kubectl_clearml.core.podbuilder import agent_label

    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": f"clearml-glue-{agent_label('clearml-agent')}", "namespace": NS},
             "spec": {"holderIdentity": "a-glue-that-died", "leaseDurationSeconds": 15,
                      "renewTime": "2026-01-01T00:00:00.000000Z", "acquireTime": "2026-01-01T00:00:00.000000Z"}}
    world.client(NS).create("leases", lease, NS)
    for rules, code in ((role_without("leases", "update"), 4), (gi.role_rules(), 0)):
        env = as_glue(world, tmp_path, rules) if code == 4 else env_full(world, tmp_path)
        result = run_glue(world, tmp_path, env, "--leader-elect", "--worker-id", "clearml-agent")
        assert result.exit_code == code, result.stderr


def env_full(world: Any, tmp_path: Path) -> dict[str, str]:
    """Give the glue's Role back its full rules (the objects exist from the first call)."""
    admin = world.client(NS)
    role = admin.get("roles", SA, NS)
    role["rules"] = gi.role_rules()
    admin.replace("roles", SA, role, NS)
    return {**world.env, "KUBECONFIG": str(tmp_path / "glue-kubeconfig")}
