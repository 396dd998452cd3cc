"""`kubectl clearml queues` against the sandbox world: ClearML + the live agent install + task pods."""

from __future__ import annotations

import json
import time

from tests.helpers import run_cli


def rows(result):
    return {r["name"]: r for r in json.loads(result.stdout)["items"]}


def test_live_install_gives_served_template_and_pods(world):
    env = world.env
    result = run_cli(["queues", "-n", "clearml", "-o", "json"], env=env, home=env.get("HOME"))
    assert result.exit_code == 0, result.stderr
    table = rows(result)
    served = {name for name, row in table.items() if row["served"]}
    assert {"red", "blue", "green", "1xGPU", "2xGPU", "GPUshm"} <= served
    assert table["red"]["template"] == "base"
    assert table["2xGPU"]["gpusPerPod"] == {"nvidia.com/gpu": 2}
    assert all(row["running"] is not None for row in table.values())  # the Kubernetes columns are filled


def test_task_pods_counted_per_queue(world):
    kube = world.client("clearml")
    queue_id = world.world.queue_ids["2xGPU"]
    for i, phase in enumerate(["Running", "Pending", "Pending"]):
        kube.create("pods", {
            "metadata": {"name": f"clearml-id-{i:032x}", "namespace": "clearml",
                         "labels": {"clearml-agent-queue": queue_id, "clearml-agent-queue-name": "2xgpu",
                                    "CLEARML": "agent-00000000"}},
            "spec": {"containers": [{"name": "t", "image": "busybox", "resources": {"limits": {"nvidia.com/gpu": 64}}}]},
        })
        if phase == "Running":
            world.kube.store.set_pod_phase("clearml", f"clearml-id-{i:032x}", "Running")
    deadline = time.time() + 5
    while time.time() < deadline:
        table = rows(run_cli(["queues", "-n", "clearml", "-o", "json"], env=world.env))
        if table["2xGPU"]["podPendingReason"] == "Unschedulable":
            break
        time.sleep(0.1)
    assert (table["2xGPU"]["podPending"], table["2xGPU"]["podPendingReason"]) == (2, "Unschedulable")
    wide = run_cli(["queues", "-n", "clearml", "-o", "wide"], env=world.env)
    assert "2 (Unschedulable)" in next(line for line in wide.stdout.splitlines() if line.startswith("2xGPU"))


def test_forbidden_pods_is_a_warning_naming_the_permission(world):
    world.kube.deny("list", "pods", "clearml")
    result = run_cli(["queues", "-n", "clearml"], env=world.env)
    assert result.exit_code == 0
    assert "cannot list pods in namespace clearml: forbidden" in result.stderr
    assert "ask for RBAC permission to list pods" in result.stderr


def test_forbidden_release_secrets_hint_names_no_other_command(world):
    world.kube.deny("list", "secrets", "clearml")
    result = run_cli(["queues", "-n", "clearml"], env=world.env)
    assert result.exit_code == 0
    assert "agent configuration unavailable: cannot list secrets in namespace clearml: forbidden" in result.stderr
    assert "ask for 'list secrets' in this namespace, or pass -f with the agent's values file" in result.stderr
    assert "diff-template" not in result.stderr


def test_clearml_down_still_shows_the_kubernetes_view(world):
    world.clearml.stop()
    result = run_cli(["queues", "-n", "clearml", "-o", "json"], env=world.env)
    assert result.exit_code == 0
    assert "ClearML unavailable" in result.stderr
    table = rows(result)
    assert table["green"]["served"] is True and table["green"]["pending"] is None


def test_few_requests_per_invocation(world):
    world.clearml.requests.clear()
    world.kube.requests.clear()
    assert run_cli(["queues", "-n", "clearml"], env=world.env).exit_code == 0
    assert world.clearml.requests.count("queues.get_all") == 1
    pod_lists = [r for r in world.kube.requests if r.path.endswith("/pods")]
    assert len(pod_lists) == 1


def test_a_named_release_that_is_not_there_is_not_found(world):
    # As in diff-template, shm-fix and submit-pod: not a warning over a table without the agent's columns.
    result = run_cli(["queues", "-n", "clearml", "--release", "clearml-agnet"], env=world.env)
    assert result.exit_code == 3 and result.stdout == ""
    assert result.stderr == (
        "kubectl clearml: error: no deployed Helm release named 'clearml-agnet' (namespace clearml): "
        "check the name with 'helm list -n clearml', or omit --release\n"
    )
    assert run_cli(["queues", "-n", "clearml", "--release", "clearml-agent"], env=world.env).exit_code == 0


def test_show_with_clearml_down_still_shows_the_template_and_task_pods(world):
    # The issue: ClearML unreachable -> the Kubernetes part still printed with a warning; exit 5 only if
    # nothing could be shown. `show` used to exit 5 for a queue the agent serves and whose pods are right here.
    world.clearml.stop()
    result = run_cli(["queues", "show", "1xgpu", "-n", "clearml"], env=world.env)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("kubectl clearml: warning: ClearML unavailable")
    out = result.stdout
    assert "Queue:     1xGPU (id unknown)" in out and "Template: gpu=1 mem=1Gi" in out
    assert "Pending tasks: unknown (ClearML unavailable)" in out
    assert "Task pods (1):" in out and "Running" in out  # the demo world's 1xGPU pod on gpu-a100-1
    doc = json.loads(run_cli(["queues", "show", "1xGPU", "-n", "clearml", "-o", "json"], env=world.env).stdout)
    assert doc["pendingTasks"] is None and doc["queue"]["pending"] is None and doc["queue"]["pendingTaskIds"] is None
    assert [p["phase"] for p in doc["pods"]] == ["Running"]
    # A queue the agent does not serve: only ClearML could tell whether it exists, so its error (exit 5).
    unknown = run_cli(["queues", "show", "nope", "-n", "clearml"], env=world.env)
    assert unknown.exit_code == 5 and unknown.stdout == ""
    (line,) = unknown.stderr.strip().splitlines()
    assert line.startswith("kubectl clearml: error: cannot reach the ClearML API")
