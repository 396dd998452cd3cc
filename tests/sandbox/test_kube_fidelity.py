"""Places where the Kubernetes emulator used to answer what a real apiserver would not.

Each case goes over real HTTP (raw, the official client, the plugin's adapter or the real kubectl).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client as k8s
from kubernetes import config
from kubernetes.client.exceptions import ApiException

from kubectl_clearml.adapters.kube_connect import connect
from kubectl_clearml.errors import ConflictError
from kubectl_clearml.sandbox.kube import KubeEmulator

PODS = "/api/v1/namespaces/default/pods"
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "main", "image": "busybox:1"}]}}


def send(kube: KubeEmulator, method: str, path: str, body: Any = None,
         content_type: str = "application/json", **params: str) -> requests.Response:
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body)
    return requests.request(method, kube.url + path, data=data, params=params, timeout=10,
                            headers={"Content-Type": content_type})


@pytest.fixture
def kubectl(kube: KubeEmulator, tmp_path: Path) -> Any:
    env = {**os.environ, "KUBECONFIG": kube.write_kubeconfig(tmp_path / "kubeconfig"), "HOME": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", *args], capture_output=True, text=True, env=env, timeout=30)

    return run


# ---- DELETE honours DeleteOptions -----------------------------------------------------------------------


def test_delete_with_a_stale_uid_or_version_precondition_is_409_and_keeps_the_object(kube: KubeEmulator) -> None:
    stored = kube.store.add(pod("p1"))
    uid, version = stored["metadata"]["uid"], stored["metadata"]["resourceVersion"]

    wrong_uid = send(kube, "DELETE", f"{PODS}/p1", {"preconditions": {"uid": "0000"}})
    assert wrong_uid.status_code == 409 and wrong_uid.json()["reason"] == "Conflict"
    assert wrong_uid.json()["message"] == (
        f'Operation cannot be fulfilled on pods "p1": Precondition failed: UID in precondition: 0000, '
        f"UID in object meta: {uid}")
    stale = send(kube, "DELETE", f"{PODS}/p1", {"preconditions": {"resourceVersion": "1"}})
    assert stale.status_code == 409 and "ResourceVersion in precondition: 1" in stale.json()["message"]
    assert kube.store.get("pods", "p1") is not None

    matching = send(kube, "DELETE", f"{PODS}/p1", {"preconditions": {"uid": uid, "resourceVersion": version}})
    assert matching.status_code == 200 and kube.store.get("pods", "p1") is None


def test_dry_run_in_the_delete_body_deletes_nothing(kube: KubeEmulator) -> None:
    kube.store.add(pod("p1"))
    answer = send(kube, "DELETE", f"{PODS}/p1", {"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]})
    assert answer.status_code == 200 and kube.store.get("pods", "p1") is not None


def test_official_client_delete_with_a_uid_precondition(kube: KubeEmulator, tmp_path: Path) -> None:
    api = config.new_client_from_config(config_file=kube.write_kubeconfig(tmp_path / "kubeconfig"))
    try:
        core = k8s.CoreV1Api(api)
        kube.store.add(pod("p1"))
        options = k8s.V1DeleteOptions(preconditions=k8s.V1Preconditions(uid="not-this-one"))
        with pytest.raises(ApiException) as caught:
            core.delete_namespaced_pod("p1", "default", body=options)
        assert caught.value.status == 409
        assert kube.store.get("pods", "p1") is not None
    finally:
        api.close()


def test_adapter_delete_of_a_recreated_pod_is_a_conflict(kube: KubeEmulator, kubeconfig: str, tmp_path: Path) -> None:
    """What the glue relies on: deleting pod X of uid A must not delete the new pod X of uid B."""
    old_uid = kube.store.add(pod("p1"))["metadata"]["uid"]
    kube.store.delete("pods", "p1")
    kube.store.add(pod("p1"))
    adapter = connect(kubeconfig, None, "default", {"HOME": str(tmp_path)})
    with pytest.raises(ConflictError):
        adapter.delete("pods", "p1", uid=old_uid)
    assert kube.store.get("pods", "p1") is not None


# ---- lists and selectors --------------------------------------------------------------------------------


def test_a_negative_limit_lists_everything_instead_of_dropping_the_connection(kube: KubeEmulator) -> None:
    for name in ("a1", "a2", "a3"):
        kube.store.add(pod(name))
    answer = send(kube, "GET", PODS, limit="-1")
    assert answer.status_code == 200
    assert [item["metadata"]["name"] for item in answer.json()["items"]] == ["a1", "a2", "a3"]
    assert "continue" not in answer.json()["metadata"]


@needs_kubectl
def test_nodes_and_namespaces_know_no_metadata_namespace_field(kube: KubeEmulator, kubectl: Any) -> None:
    kube.store.add({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "gpu-1"}})
    for resource in ("nodes", "namespaces"):
        done = kubectl("get", resource, "--field-selector", "metadata.namespace=default")
        assert done.returncode == 1
        assert "field label not supported: metadata.namespace" in done.stderr
    assert kubectl("get", "nodes", "--field-selector", "metadata.name=gpu-1", "-o", "name").stdout == "node/gpu-1\n"


# ---- bodies of the wrong shape --------------------------------------------------------------------------


@pytest.mark.parametrize("body, problem", [
    ({"metadata": [], "spec": {}}, "cannot unmarshal array into Go struct field Pod.metadata of type v1.ObjectMeta"),
    ({"metadata": {"name": 5}}, "cannot unmarshal number into Go struct field Pod.metadata.name of type string"),
    ({"metadata": {"name": "x"}, "spec": 5}, "cannot unmarshal number into Go struct field Pod.spec of type v1.PodSpec"),
    ({"metadata": {"name": "x"}, "spec": {"containers": [5]}},
     "cannot unmarshal number into Go struct field Pod.spec.containers of type v1.Container"),
])
def test_a_create_that_does_not_decode_is_a_400(kube: KubeEmulator, body: dict[str, Any], problem: str) -> None:
    answer = send(kube, "POST", PODS, body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"] == f'Pod in version "v1" cannot be handled as a Pod: json: {problem}'
    assert kube.store.list("pods") == []


def test_null_metadata_decodes_to_nothing_and_then_needs_a_name(kube: KubeEmulator) -> None:
    answer = send(kube, "POST", PODS, {"metadata": None, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    assert answer.status_code == 422 and "name or generateName is required" in answer.json()["message"]


def test_an_update_or_scale_that_does_not_decode_is_a_400(kube: KubeEmulator) -> None:
    kube.store.add(pod("p1"))
    answer = send(kube, "PUT", f"{PODS}/p1", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1"}, "spec": 5})
    assert answer.status_code == 400 and "cannot be handled as a Pod" in answer.json()["message"]
    kube.store.add({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "default"},
                    "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                             "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}}}})
    scale = send(kube, "PUT", "/apis/apps/v1/namespaces/default/deployments/d/scale",
                 {"metadata": {"name": "d"}, "spec": {"replicas": "three"}})
    assert scale.status_code == 400
    assert scale.json()["message"] == ('Scale in version "autoscaling/v1" cannot be handled as a Scale: json: '
                                       "cannot unmarshal string into Go struct field Scale.spec.replicas of type int32")


@pytest.mark.parametrize("content_type", ["application/strategic-merge-patch+json", "application/merge-patch+json"])
@pytest.mark.parametrize("patch", [{"metadata": []}, {"spec": {"containers": {"a": 1}}}, {"spec": 5}])
def test_a_patch_whose_result_does_not_decode_is_a_422_and_changes_nothing(
        kube: KubeEmulator, patch: dict[str, Any], content_type: str) -> None:
    before = kube.store.add(pod("p1"))
    answer = send(kube, "PATCH", f"{PODS}/p1", patch, content_type)
    assert answer.status_code == 422, answer.text
    assert answer.json()["reason"] == "Invalid" and answer.json()["details"]["causes"][0]["field"] == "patch"
    assert kube.store.get("pods", "p1") == before


# ---- JSON patch errors ------------------------------------------------------------------------------------


@needs_kubectl
def test_a_failed_json_patch_test_reads_like_the_apiserver(kube: KubeEmulator, kubectl: Any) -> None:
    """NewGenericServerResponse(422) keeps only its generic sentence: no library text, no Python reprs."""
    before = kube.store.add(pod("p1"))
    done = kubectl("patch", "pod", "p1", "--type", "json", "-p", '[{"op":"test","path":"/metadata/name","value":"zz"}]')
    assert (done.returncode, done.stderr.strip()) == (
        1, "The request is invalid: the server rejected our request due to an error in our request")
    missing = send(kube, "PATCH", f"{PODS}/p1", [{"op": "remove", "path": "/metadata/nothere"}],
                   "application/json-patch+json")
    assert missing.status_code == 422 and missing.json()["details"] == {}
    assert kube.store.get("pods", "p1") == before
