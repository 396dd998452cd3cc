"""Fidelity: the real kubectl (v1.32) against the Kubernetes emulator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from kubectl_clearml.sandbox.kube import KubeEmulator

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


def pod(name: str, labels: dict[str, str], node: str | None = None, namespace: str = "default") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "busybox:1"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": spec, "status": {"phase": "Pending"}}


@pytest.fixture
def kubectl(kube: KubeEmulator, tmp_path: Path) -> Any:
    config = kube.write_kubeconfig(tmp_path / "kubeconfig")
    env = {**os.environ, "KUBECONFIG": config, "HOME": str(tmp_path)}

    def run(*args: str, stdin: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", *args], capture_output=True, text=True, env=env, input=stdin,
                              timeout=timeout)

    return run


def test_get_with_label_and_field_selectors(kube: KubeEmulator, kubectl: Any) -> None:
    kube.store.add(pod("p1", {"app": "x"}, node="gpu-1", namespace="ml"))
    kube.store.add(pod("p2", {"app": "x"}, node="gpu-2"))
    kube.store.add(pod("p3", {"app": "y"}, node="gpu-1"))
    done = kubectl("get", "pods", "-A", "-l", "app=x", "--field-selector", "spec.nodeName=gpu-1", "-o", "name")
    assert (done.returncode, done.stdout) == (0, "pod/p1\n")
    listed = json.loads(kubectl("get", "pods", "-o", "json").stdout)
    assert listed["kind"] == "List" and [i["metadata"]["name"] for i in listed["items"]] == ["p2", "p3"]
    bad = kubectl("get", "pods", "--field-selector", "spec.image=x")
    assert bad.returncode == 1 and "field label not supported: spec.image" in bad.stderr


def test_short_names_and_plain_table(kube: KubeEmulator, kubectl: Any) -> None:
    kube.store.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "tmpl"}, "data": {"a": "1"}})
    done = kubectl("get", "cm")
    assert done.returncode == 0 and done.stdout.splitlines()[1].split()[0] == "tmpl"
    assert kubectl("get", "deploy").stderr.strip() == "No resources found in default namespace."


def test_three_patch_types_and_delete(kube: KubeEmulator, kubectl: Any) -> None:
    kube.store.add(pod("p1", {"app": "x"}))
    assert kubectl("patch", "pod", "p1", "-p", '{"metadata":{"labels":{"s":"1"}}}').returncode == 0
    assert kubectl("patch", "pod", "p1", "--type", "merge", "-p", '{"metadata":{"labels":{"m":"1"}}}').returncode == 0
    done = kubectl("patch", "pod", "p1", "--type", "json", "-p",
                   '[{"op":"add","path":"/spec/containers/0/image","value":"busybox:2"}]')
    assert done.returncode == 0, done.stderr
    stored = kube.store.get("pods", "p1")
    assert stored is not None
    assert stored["metadata"]["labels"] == {"app": "x", "s": "1", "m": "1"}
    assert stored["spec"]["containers"][0]["image"] == "busybox:2"
    assert kubectl("delete", "pod", "p1").stdout == 'pod "p1" deleted\n'
    gone = kubectl("get", "pod", "p1")
    assert gone.returncode == 1 and gone.stderr.strip() == 'Error from server (NotFound): pods "p1" not found'


def test_forbidden_is_rendered_from_the_status(kube: KubeEmulator, kubectl: Any) -> None:
    kube.deny("list", "secrets", "default")
    done = kubectl("get", "secrets")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        'Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:default:sandbox" '
        'cannot list resource "secrets" in API group "" in the namespace "default"')


def test_get_watch_sees_a_pod_change(kube: KubeEmulator, kubectl: Any, tmp_path: Path) -> None:
    kube.store.add(pod("p1", {}))
    config = str(tmp_path / "kubeconfig")
    process = subprocess.Popen(["kubectl", "get", "pods", "-w", "--request-timeout", "20s"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "KUBECONFIG": config, "HOME": str(tmp_path)})
    try:
        deadline = time.monotonic() + 15
        while not any(r.query.get("watch") for r in list(kube.requests)) and time.monotonic() < deadline:
            time.sleep(0.05)
        kube.store.set_pod_phase("default", "p1", "Running")
        kube.store.add(pod("p2", {}))
        assert process.stdout is not None
        out = "".join(process.stdout.readline() for _ in range(4))  # header + three rows, as they arrive
    finally:
        process.terminate()
        process.communicate(timeout=10)
    rows = [line.split() for line in out.splitlines()]
    assert rows[0][:3] == ["NAME", "READY", "STATUS"]
    assert [(r[0], r[2]) for r in rows[1:4]] == [("p1", "Pending"), ("p1", "Running"), ("p2", "Pending")]


def test_apply_scale_set_image(kube: KubeEmulator, kubectl: Any) -> None:
    # Default validation: the emulator's OpenAPI v3 stub tells kubectl the server validates fields.
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"selector": {"matchLabels": {"a": "b"}},
                           "template": {"metadata": {"labels": {"a": "b"}},
                                        "spec": {"containers": [{"name": "c", "image": "x:1"},
                                                                {"name": "d", "image": "y:1"}]}}}}
    created = kubectl("apply", "-f", "-", stdin=json.dumps(deployment))
    assert created.returncode == 0, created.stderr
    deployment["spec"]["template"]["spec"]["containers"].pop()  # three-way apply: $setElementOrder + delete
    assert kubectl("apply", "-f", "-", stdin=json.dumps(deployment)).returncode == 0
    assert kube.requests[-1].query.get("fieldValidation") == "Strict"
    assert kubectl("scale", "deployment", "web", "--replicas", "3").returncode == 0
    assert kubectl("set", "image", "deployment/web", "c=x:2").returncode == 0
    stored = kube.store.get("deployments", "web")
    assert stored is not None
    assert [(c["name"], c["image"]) for c in stored["spec"]["template"]["spec"]["containers"]] == [("c", "x:2")]
    assert stored["spec"]["replicas"] == 3 and stored["metadata"]["generation"] == 4


def test_server_side_tables_like_a_real_cluster(kube: KubeEmulator, kubectl: Any) -> None:
    running = pod("p1", {"app": "x"}, node="gpu-1")
    running["status"] = {"phase": "Running", "podIP": "10.0.0.7",
                         "containerStatuses": [{"name": "main", "ready": True, "restartCount": 2}]}
    kube.store.add(running)
    pulling = pod("p2", {"app": "y"})
    pulling["status"] = {"phase": "Pending", "containerStatuses": [
        {"name": "main", "ready": False, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}
    kube.store.add(pulling)
    kube.store.add({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "gpu-1"}, "spec": {"unschedulable": True},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}],
                               "nodeInfo": {"kubeletVersion": "v1.32.0"}}})
    rows = [line.split() for line in kubectl("get", "pods", "-o", "wide").stdout.splitlines()]
    assert rows[0][:6] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP"]
    assert [r[:4] for r in rows[1:]] == [["p1", "1/1", "Running", "2"], ["p2", "0/1", "ImagePullBackOff", "0"]]
    assert rows[1][5:7] == ["10.0.0.7", "gpu-1"]
    nodes = kubectl("get", "nodes").stdout.splitlines()
    assert nodes[1].split()[:3] == ["gpu-1", "Ready,SchedulingDisabled", "<none>"]
    assert kubectl("get", "all", "-o", "name").stdout.splitlines() == ["pod/p1", "pod/p2"]


def test_logs_and_describe_with_events(kube: KubeEmulator, kubectl: Any) -> None:
    created = kube.store.add({**pod("p1", {}, node="gpu-1"), "status": {"phase": "Running"}})
    kube.store.set_pod_log("default", "p1", "one\ntwo\nthree\n")
    kube.store.create_event({"involvedObject": {"kind": "Pod", "name": "p1", "namespace": "default",
                                                "uid": created["metadata"]["uid"]},
                             "reason": "Scheduled", "message": "Successfully assigned default/p1 to gpu-1",
                             "type": "Normal", "source": {"component": "default-scheduler"}})
    assert kubectl("logs", "p1").stdout == "one\ntwo\nthree\n"
    assert kubectl("logs", "p1", "--tail", "1").stdout == "three\n"
    described = kubectl("describe", "pod", "p1").stdout
    assert "Node:         gpu-1/" in described
    assert "Successfully assigned default/p1 to gpu-1" in described.split("Events:", 1)[1]
