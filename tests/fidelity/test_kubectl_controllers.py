"""Issue 13 item 4, with the real kubectl: the controllers users' commands wait on.

Deployments roll through ReplicaSets (`rollout status|history|undo|restart`, `wait --for=condition=Available`),
pods are deleted gracefully within terminationGracePeriodSeconds, and ownerReferences are garbage-collected.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest

from kubectl_clearml.sandbox.cluster.workload import RUN_SECONDS_ANNOTATION, STOP_SECONDS_ANNOTATION
from tests.fidelity.conftest import Kubectl, kubectl_runner, until


@pytest.fixture
def sandbox(make_world: Any) -> Any:
    return make_world(flavour="enterprise")


@pytest.fixture
def kubectl(sandbox: Any, tmp_path: Any) -> Kubectl:
    return kubectl_runner(str(sandbox.kubeconfig), tmp_path, "-n", "default")


def deployment(replicas: int = 1, image: str = "busybox:1") -> str:
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "main", "image": image}]}}}})


def web_pods(sandbox: Any) -> list[dict[str, Any]]:
    return [p for p in sandbox.kube.store.list("pods", "default") if p["metadata"]["labels"].get("app") == "web"
            and not p["metadata"].get("deletionTimestamp")]


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_deployment_rolls_out_through_a_replicaset(sandbox: Any, kubectl: Kubectl) -> None:
    ok(kubectl("apply", "-f", "-", stdin=deployment(replicas=2)))
    assert "successfully rolled out" in ok(kubectl("rollout", "status", "deployment/web", "--timeout=30s"))
    ok(kubectl("wait", "--for=condition=Available", "deployment/web", "--timeout=30s"))
    replicasets = json.loads(ok(kubectl("get", "rs", "-o", "json")))["items"]
    assert len(replicasets) == 1 and replicasets[0]["status"]["readyReplicas"] == 2
    pods = web_pods(sandbox)
    assert len(pods) == 2
    assert {p["metadata"]["ownerReferences"][0]["name"] for p in pods} == {replicasets[0]["metadata"]["name"]}
    assert all(p["status"]["phase"] == "Running" for p in pods)


def test_a_changed_template_replaces_the_pods_and_undo_brings_it_back(sandbox: Any, kubectl: Kubectl) -> None:
    ok(kubectl("apply", "-f", "-", stdin=deployment()))
    ok(kubectl("rollout", "status", "deployment/web", "--timeout=30s"))
    first = web_pods(sandbox)[0]["metadata"]["name"]
    ok(kubectl("set", "image", "deployment/web", "main=busybox:2"))
    ok(kubectl("rollout", "status", "deployment/web", "--timeout=30s"))
    assert until(lambda: [p["spec"]["containers"][0]["image"] for p in web_pods(sandbox)] == ["busybox:2"])
    assert until(lambda: first not in {p["metadata"]["name"] for p in sandbox.kube.store.list("pods", "default")})
    history = ok(kubectl("rollout", "history", "deployment/web"))
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    ok(kubectl("rollout", "undo", "deployment/web"))
    ok(kubectl("rollout", "status", "deployment/web", "--timeout=30s"))
    assert until(lambda: [p["spec"]["containers"][0]["image"] for p in web_pods(sandbox)] == ["busybox:1"])
    stored = sandbox.kube.store.get("deployments", "web", "default")
    assert stored["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_rollout_restart_really_replaces_the_pod(sandbox: Any, kubectl: Kubectl) -> None:
    ok(kubectl("apply", "-f", "-", stdin=deployment()))
    ok(kubectl("rollout", "status", "deployment/web", "--timeout=30s"))
    before = web_pods(sandbox)[0]["metadata"]["name"]
    ok(kubectl("rollout", "restart", "deployment/web"))
    ok(kubectl("rollout", "status", "deployment/web", "--timeout=30s"))
    assert until(lambda: [p["metadata"]["name"] for p in web_pods(sandbox)] not in ([before], []))
    assert until(lambda: len(sandbox.kube.store.list("pods", "default")) == 1)


def test_the_seeded_agent_deployment_keeps_its_one_pod(sandbox: Any) -> None:
    sandbox.cluster.poke()
    name = sandbox.world.install.deployment["metadata"]["name"]
    assert until(lambda: (sandbox.kube.store.get("deployments", name, "clearml").get("metadata") or {})
                 .get("annotations", {}).get("deployment.kubernetes.io/revision") == "1")
    glue = [p for p in sandbox.kube.store.list("pods", "clearml") if p["metadata"]["name"].startswith(name + "-")]
    assert len(glue) == 1 and glue[0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"


def test_graceful_deletion_waits_for_the_grace_period(sandbox: Any, kubectl: Kubectl) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "slow", "annotations": {STOP_SECONDS_ANNOTATION: "inf", RUN_SECONDS_ANNOTATION: "inf"}},
           "spec": {"terminationGracePeriodSeconds": 600, "containers": [{"name": "main", "image": "busybox:1"}]}}
    ok(kubectl("apply", "-f", "-", stdin=json.dumps(pod)))
    ok(kubectl("wait", "--for=condition=Ready", "pod/slow", "--timeout=30s"))
    ok(kubectl("delete", "pod", "slow", "--wait=false"))
    terminating = sandbox.kube.store.get("pods", "slow", "default")
    assert terminating["metadata"]["deletionGracePeriodSeconds"] == 600 and terminating["metadata"]["deletionTimestamp"]
    assert "Terminating" in ok(kubectl("get", "pod", "slow"))
    # 600 simulated seconds are 3 real seconds here; the process ignores SIGTERM, so it is killed at the end,
    # and `kubectl delete` (which waits for the pod to go) returns then.
    assert sandbox.kube.store.get("pods", "slow", "default") is not None
    ok(kubectl("delete", "pod", "slow", "--timeout=30s"))
    assert sandbox.kube.store.get("pods", "slow", "default") is None


def test_owner_references_are_garbage_collected(sandbox: Any, kubectl: Kubectl) -> None:
    ok(kubectl("apply", "-f", "-", stdin=deployment()))
    ok(kubectl("rollout", "status", "deployment/web", "--timeout=30s"))
    owned = sandbox.kube.store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "web-config", "namespace": "default", "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
            "uid": sandbox.kube.store.get("deployments", "web", "default")["metadata"]["uid"]}]}})
    assert owned["metadata"]["name"] == "web-config"
    ok(kubectl("delete", "deployment", "web"))
    assert until(lambda: not sandbox.kube.store.list("replicasets", "default") and not web_pods(sandbox)
                 and sandbox.kube.store.get("configmaps", "web-config", "default") is None)
    # --cascade=orphan: the ReplicaSet and its pod stay, without their owner reference.
    ok(kubectl("apply", "-f", "-", stdin=deployment()))
    ok(kubectl("rollout", "status", "deployment/web", "--timeout=30s"))
    ok(kubectl("delete", "deployment", "web", "--cascade=orphan"))
    (replicaset,) = sandbox.kube.store.list("replicasets", "default")
    assert "ownerReferences" not in replicaset["metadata"]
    assert until(lambda: len(web_pods(sandbox)) == 1)


def test_shm_fix_live_apply_really_replaces_the_agent_pod(sandbox: Any) -> None:
    """What later work relies on: `shm-fix --live --apply` restarts the agent, and on this cluster the
    Deployment controller then replaces its pod (a new ReplicaSet, the old pod gone)."""
    from tests.helpers import run_cli

    name = sandbox.world.install.deployment["metadata"]["name"]

    def agent_pods() -> list[str]:
        return sorted(p["metadata"]["name"] for p in sandbox.kube.store.list("pods", "clearml")
                      if p["metadata"]["name"].startswith(name + "-") and not p["metadata"].get("deletionTimestamp"))

    assert until(lambda: len(agent_pods()) == 1 and sandbox.kube.store.list("replicasets", "clearml"))
    before = agent_pods()
    done = run_cli(["shm-fix", "2xGPU", "--size", "16Gi", "--live", "--apply", "-n", "clearml"], env=sandbox.env,
                   home=str(sandbox.kubeconfig.parent))
    assert done.exit_code == 0, done.stderr
    assert until(lambda: len(agent_pods()) == 1 and agent_pods() != before)
    assert until(lambda: before[0] not in {p["metadata"]["name"] for p in sandbox.kube.store.list("pods", "clearml")})
    revisions = sorted(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                       for rs in sandbox.kube.store.list("replicasets", "clearml"))
    assert revisions == ["1", "2"]


def test_drain_evicts_through_the_eviction_subresource(sandbox: Any, kubectl: Kubectl) -> None:
    """kubectl drain posts policy/v1 Evictions (protobuf); a Deployment's evicted pod comes back elsewhere."""
    ok(kubectl("apply", "-f", "-", stdin=deployment()))
    ok(kubectl("rollout", "status", "deployment/web", "--timeout=30s"))
    node = web_pods(sandbox)[0]["spec"]["nodeName"]
    drained = kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--force", "--timeout=60s",
                      timeout=90)
    assert drained.returncode == 0, drained.stderr
    assert f"node/{node} drained" in drained.stdout
    assert sandbox.kube.store.get("nodes", node)["spec"]["unschedulable"] is True
    assert until(lambda: [p["spec"].get("nodeName") for p in web_pods(sandbox)] not in ([node], []))


def test_describe_node_counts_the_requests_gpu_report_counts(sandbox: Any, kubectl: Kubectl) -> None:
    """Item 1's symptom: requests default from limits for the seeded pods too, so `describe node` agrees."""
    described = ok(kubectl("describe", "node", "gpu-a100-1"))
    allocated = described[described.index("Allocated resources"):]
    gpu = next(line.split() for line in allocated.splitlines() if line.strip().startswith("nvidia.com/gpu"))
    assert gpu[1] == gpu[2] != "0"


def test_scale_and_pause_resume(sandbox: Any, kubectl: Kubectl) -> None:
    ok(kubectl("apply", "-f", "-", stdin=deployment()))
    ok(kubectl("rollout", "status", "deployment/web", "--timeout=30s"))
    ok(kubectl("scale", "deployment/web", "--replicas=3"))
    ok(kubectl("rollout", "status", "deployment/web", "--timeout=30s"))
    assert until(lambda: len(web_pods(sandbox)) == 3)
    ok(kubectl("rollout", "pause", "deployment/web"))
    ok(kubectl("set", "image", "deployment/web", "main=busybox:2"))
    time.sleep(0.3)  # a paused Deployment does not roll: still one ReplicaSet, the old image
    assert len(sandbox.kube.store.list("replicasets", "default")) == 1
    ok(kubectl("rollout", "resume", "deployment/web"))
    ok(kubectl("rollout", "status", "deployment/web", "--timeout=30s"))
    assert until(lambda: {p["spec"]["containers"][0]["image"] for p in web_pods(sandbox)} == {"busybox:2"}
                 and len(web_pods(sandbox)) == 3)
