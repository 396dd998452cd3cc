"""Fidelity: the official ``kubernetes`` Python client (typed APIs) against the Kubernetes emulator."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from kubectl_clearml.sandbox.kube import KubeEmulator


@pytest.fixture
def api(kube: KubeEmulator, tmp_path: Path) -> Any:
    api_client = config.new_client_from_config(config_file=kube.write_kubeconfig(tmp_path / "kubeconfig"))
    yield api_client
    api_client.close()


def pod_body(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "main", "image": "busybox:1",
                                     "env": [{"name": "A", "value": "1"}]}]}}


def test_typed_create_read_list_patch_delete(kube: KubeEmulator, api: Any) -> None:
    core = client.CoreV1Api(api)
    created = core.create_namespaced_pod("default", pod_body("p1", app="x"))
    assert created.metadata.uid and created.status.phase == "Pending"
    assert core.read_namespaced_pod("p1", "default").spec.containers[0].image == "busybox:1"
    pods = core.list_namespaced_pod("default", label_selector="app=x")
    assert [p.metadata.name for p in pods.items] == ["p1"]
    assert pods.items[0].kind is None  # as on a real apiserver: list items carry no kind
    patched = core.patch_namespaced_pod("p1", "default", {"spec": {"containers": [
        {"name": "main", "image": "busybox:2"}]}})
    assert patched.spec.containers[0].image == "busybox:2"
    with pytest.raises(ApiException) as immutable:  # a pod's env cannot change, as on a real cluster
        core.patch_namespaced_pod("p1", "default", {"spec": {"containers": [
            {"name": "main", "env": [{"name": "B", "value": "2"}]}]}})
    assert immutable.value.status == 422
    core.delete_namespaced_pod("p1", "default")
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("p1", "default")
    assert missing.value.status == 404


def test_deployment_scale_and_json_patch(kube: KubeEmulator, api: Any) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"containers": [{"name": "k8s-glue", "image": "agent:1"}]}}}})
    scale = apps.patch_namespaced_deployment_scale("agent", "default", {"spec": {"replicas": 2}})
    assert scale.spec.replicas == 2
    patched = apps.patch_namespaced_deployment("agent", "default", [
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "agent:2"}])
    assert patched.spec.template.spec.containers[0].image == "agent:2" and patched.spec.replicas == 2
    merged = apps.patch_namespaced_deployment("agent", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "k8s-glue", "env": [{"name": "B", "value": "2"}]}, {"name": "side", "image": "s:1"}]}}}})
    containers = merged.spec.template.spec.containers
    assert [c.name for c in containers] == ["k8s-glue", "side"] and containers[0].image == "agent:2"
    with pytest.raises(ApiException) as conflict:
        apps.create_namespaced_deployment("default", {"metadata": {"name": "agent"}, "spec": patched.spec})
    assert conflict.value.status == 409


def test_watch_stream_returns_after_timeout(kube: KubeEmulator, api: Any) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod("default", pod_body("p1"))
    timer = threading.Timer(0.3, lambda: kube.store.set_pod_phase("default", "p1", "Running"))
    timer.start()
    seen = [(event["type"], event["object"].status.phase)
            for event in watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=1)]
    timer.join()
    assert seen == [("ADDED", "Pending"), ("MODIFIED", "Running")]


def test_pagination_with_limit_and_continue(kube: KubeEmulator, api: Any) -> None:
    core = client.CoreV1Api(api)
    for i in range(7):
        kube.store.add(pod_body(f"p{i}"))
    names: list[str] = []
    token = None
    while True:
        page = core.list_namespaced_pod("default", limit=3, _continue=token)
        names += [p.metadata.name for p in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert names == [f"p{i}" for i in range(7)]


def test_forbidden_reaches_the_client_as_403(kube: KubeEmulator, api: Any) -> None:
    kube.deny("create", "pods")
    with pytest.raises(ApiException) as denied:
        client.CoreV1Api(api).create_namespaced_pod("ml", pod_body("p"))
    assert denied.value.status == 403 and "cannot create resource" in denied.value.body
    assert kube.store.get("pods", "p", "ml") is None
