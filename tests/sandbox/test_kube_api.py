"""The Kubernetes emulator over real HTTP: objects, errors, patches, pagination, subresources, logs."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from kubectl_clearml.sandbox.kube import KubeEmulator

PODS = "/api/v1/namespaces/default/pods"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def pod(name: str, labels: dict[str, str] | None = None, containers: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": f"c{i}", "image": "busybox:1"} for i in range(containers)], **spec},
    }


def deployment(name: str = "agent") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "main", "image": "agent:1"}]}},
        },
    }


@pytest.fixture
def http(kube: KubeEmulator) -> requests.Session:
    session = requests.Session()
    session.headers["Accept"] = "application/json"
    return session


def call(http: requests.Session, kube: KubeEmulator, method: str, path: str, body: Any = None,
         content_type: str = "application/json", **params: Any) -> requests.Response:
    data = None if body is None else json.dumps(body)
    return http.request(method, kube.url + path, data=data, params=params, timeout=10,
                        headers={"Content-Type": content_type})


def test_discovery_lists_resources_with_short_names(kube: KubeEmulator, http: requests.Session) -> None:
    core = call(http, kube, "GET", "/api/v1").json()
    assert core["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["configmaps"]["shortNames"] == ["cm"]
    assert by_name["pods/log"]["verbs"] == ["get"]
    apps = call(http, kube, "GET", "/apis/apps/v1").json()
    assert apps["groupVersion"] == "apps/v1"
    assert {"deployments", "deployments/scale"} <= {r["name"] for r in apps["resources"]}
    groups = {g["name"] for g in call(http, kube, "GET", "/apis").json()["groups"]}
    assert groups == {"apps", "authentication.k8s.io", "authorization.k8s.io", "coordination.k8s.io", "policy",
                      "rbac.authorization.k8s.io", "scheduling.k8s.io"}
    assert call(http, kube, "GET", "/version").json()["major"] == "1"


def test_create_fills_server_fields_and_pod_starts_pending(kube: KubeEmulator, http: requests.Session) -> None:
    body = pod("p1")
    body["status"] = {"phase": "Running"}
    created = call(http, kube, "POST", PODS, body)
    assert created.status_code == 201
    obj = created.json()
    assert obj["metadata"]["namespace"] == "default"
    assert obj["metadata"]["uid"] and obj["metadata"]["creationTimestamp"]
    assert int(obj["metadata"]["resourceVersion"]) > 0
    assert obj["status"]["phase"] == "Pending"
    assert obj["spec"]["restartPolicy"] == "Always"
    generated = call(http, kube, "POST", PODS, {**pod(""), "metadata": {"generateName": "task-"}}).json()
    assert generated["metadata"]["name"].startswith("task-") and len(generated["metadata"]["name"]) == 10


def test_errors_are_status_objects(kube: KubeEmulator, http: requests.Session) -> None:
    missing = call(http, kube, "GET", PODS + "/zzz")
    assert missing.status_code == 404
    assert missing.json() | {"details": None} == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'pods "zzz" not found', "reason": "NotFound", "code": 404, "details": None}
    call(http, kube, "POST", PODS, pod("a"))
    duplicate = call(http, kube, "POST", PODS, pod("a"))
    assert (duplicate.status_code, duplicate.json()["reason"]) == (409, "AlreadyExists")
    assert duplicate.json()["message"] == 'pods "a" already exists'
    bad_field = call(http, kube, "GET", PODS, fieldSelector="spec.bogus=1")
    assert (bad_field.status_code, bad_field.json()["message"]) == (400, "field label not supported: spec.bogus")
    invalid = call(http, kube, "POST", PODS, {"metadata": {"name": "x"}, "spec": {"containers": []}})
    assert invalid.status_code == 422 and invalid.json()["reason"] == "Invalid"
    wrong_type = call(http, kube, "PATCH", PODS + "/a", {"x": 1}, "application/apply-patch+yaml")
    assert wrong_type.status_code == 415


def test_list_has_kind_and_version_but_items_do_not(kube: KubeEmulator, http: requests.Session) -> None:
    call(http, kube, "POST", PODS, pod("a"))
    listed = call(http, kube, "GET", PODS).json()
    assert listed["kind"] == "PodList" and listed["apiVersion"] == "v1"
    assert int(listed["metadata"]["resourceVersion"]) >= int(listed["items"][0]["metadata"]["resourceVersion"])
    assert "kind" not in listed["items"][0]
    assert call(http, kube, "GET", PODS + "/a").json()["kind"] == "Pod"


def test_label_and_field_selectors(kube: KubeEmulator, http: requests.Session) -> None:
    kube.store.add({**pod("p1", {"app": "x", "clearml": "1"}), "spec": {**pod("p1")["spec"], "nodeName": "gpu-1"},
                    "status": {"phase": "Running"}})
    kube.store.add(pod("p2", {"app": "y"}))
    kube.store.add({**pod("p3", {"app": "z"}), "metadata": {"name": "p3", "namespace": "ml", "labels": {"app": "x"}}})

    def names(path: str, **params: Any) -> list[str]:
        return [i["metadata"]["name"] for i in call(http, kube, "GET", path, **params).json()["items"]]

    assert names(PODS, labelSelector="app in (x,y),clearml") == ["p1"]
    assert names(PODS, labelSelector="!clearml") == ["p2"]
    assert names("/api/v1/pods", labelSelector="app=x") == ["p1", "p3"]
    assert names("/api/v1/pods", fieldSelector="spec.nodeName=gpu-1") == ["p1"]
    assert names("/api/v1/pods", fieldSelector="spec.nodeName!=gpu-1,metadata.namespace=default") == ["p2"]
    assert names("/api/v1/pods", fieldSelector="status.phase=Running") == ["p1"]
    assert names("/api/v1/pods", fieldSelector="status.phase!=Running") == ["p2", "p3"]
    assert names("/api/v1/pods", fieldSelector="status.phase=") == ["p2", "p3"]  # added without a status


def test_update_with_stale_resource_version_conflicts(kube: KubeEmulator, http: requests.Session) -> None:
    created = call(http, kube, "POST", DEPLOYMENTS, deployment()).json()
    fresh = dict(created, spec={**created["spec"], "replicas": 2})
    assert call(http, kube, "PUT", DEPLOYMENTS + "/agent", fresh).status_code == 200
    stale = call(http, kube, "PUT", DEPLOYMENTS + "/agent", dict(created, spec={**created["spec"], "replicas": 5}))
    assert stale.status_code == 409
    assert stale.json()["message"].startswith(
        'Operation cannot be fulfilled on deployments.apps "agent": the object has been modified')
    patch = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "spec": {"replicas": 7}}
    assert call(http, kube, "PATCH", DEPLOYMENTS + "/agent", patch,
                "application/merge-patch+json").status_code == 409
    current = call(http, kube, "GET", DEPLOYMENTS + "/agent").json()
    assert current["spec"]["replicas"] == 2 and current["metadata"]["generation"] == 2


def test_three_patch_types(kube: KubeEmulator, http: requests.Session) -> None:
    call(http, kube, "POST", DEPLOYMENTS, deployment())
    strategic = {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "s:1"}]}}}}
    merged = call(http, kube, "PATCH", DEPLOYMENTS + "/agent", strategic,
                  "application/strategic-merge-patch+json").json()
    assert [c["name"] for c in merged["spec"]["template"]["spec"]["containers"]] == ["side", "main"]
    replaced = call(http, kube, "PATCH", DEPLOYMENTS + "/agent", strategic, "application/merge-patch+json").json()
    assert [c["name"] for c in replaced["spec"]["template"]["spec"]["containers"]] == ["side"]
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 4}]
    assert call(http, kube, "PATCH", DEPLOYMENTS + "/agent", ops,
                "application/json-patch+json").json()["spec"]["replicas"] == 4
    failed = call(http, kube, "PATCH", DEPLOYMENTS + "/agent", [{"op": "test", "path": "/spec/replicas", "value": 9}],
                  "application/json-patch+json")
    assert failed.status_code == 422


def test_no_op_patch_keeps_resource_version(kube: KubeEmulator, http: requests.Session) -> None:
    created = call(http, kube, "POST", PODS, pod("a", {"x": "1"})).json()
    again = call(http, kube, "PATCH", PODS + "/a", {"metadata": {"labels": {"x": "1"}}},
                 "application/strategic-merge-patch+json").json()
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_dry_run_stores_nothing(kube: KubeEmulator, http: requests.Session) -> None:
    answer = call(http, kube, "POST", PODS, pod("dry"), dryRun="All")
    assert answer.status_code == 201 and answer.json()["metadata"]["name"] == "dry"
    assert call(http, kube, "GET", PODS + "/dry").status_code == 404
    call(http, kube, "POST", PODS, pod("real", {"a": "1"}))
    patched = call(http, kube, "PATCH", PODS + "/real", {"metadata": {"labels": {"a": "2"}}},
                   "application/merge-patch+json", dryRun="All").json()
    assert patched["metadata"]["labels"]["a"] == "2"
    assert kube.store.get("pods", "real")["metadata"]["labels"]["a"] == "1"  # type: ignore[index]


def test_status_and_spec_are_separate(kube: KubeEmulator, http: requests.Session) -> None:
    call(http, kube, "POST", PODS, pod("a"))
    main = call(http, kube, "PATCH", PODS + "/a", {"status": {"phase": "Running"}, "metadata": {"labels": {"l": "1"}}},
                "application/merge-patch+json").json()
    assert main["status"]["phase"] == "Pending" and main["metadata"]["labels"]["l"] == "1"
    status = call(http, kube, "PATCH", PODS + "/a/status", {"status": {"phase": "Running"}},
                  "application/merge-patch+json").json()
    assert status["status"]["phase"] == "Running"
    immutable = call(http, kube, "PATCH", PODS + "/a", {"spec": {"restartPolicy": "Never"}},
                     "application/merge-patch+json")
    assert immutable.status_code == 422 and "pod updates may not change fields" in immutable.json()["message"]


def test_scale_subresource_and_binding(kube: KubeEmulator, http: requests.Session) -> None:
    call(http, kube, "POST", DEPLOYMENTS, deployment())
    scale = call(http, kube, "GET", DEPLOYMENTS + "/agent/scale").json()
    assert (scale["kind"], scale["apiVersion"], scale["spec"]["replicas"]) == ("Scale", "autoscaling/v1", 1)
    assert scale["status"]["selector"] == "app=agent"
    scaled = call(http, kube, "PATCH", DEPLOYMENTS + "/agent/scale", {"spec": {"replicas": 3}},
                  "application/merge-patch+json").json()
    assert scaled["spec"]["replicas"] == 3
    assert kube.store.get("deployments", "agent")["spec"]["replicas"] == 3  # type: ignore[index]
    call(http, kube, "POST", PODS, pod("a"))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "a"}, "target": {"kind": "Node", "name": "n1"}}
    assert call(http, kube, "POST", PODS + "/a/binding", binding).status_code == 201
    assert kube.store.get("pods", "a")["spec"]["nodeName"] == "n1"  # type: ignore[index]
    assert call(http, kube, "POST", PODS + "/a/binding", binding).status_code == 409


def test_pagination_with_continue_token(kube: KubeEmulator, http: requests.Session) -> None:
    for i in range(25):
        kube.store.add(pod(f"p{i:02d}", {"even": str(i % 2 == 0).lower()}))
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = call(http, kube, "GET", PODS, limit=10, **({"continue": token} if token else {})).json()
        pages += 1
        seen += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
        assert page["metadata"]["remainingItemCount"] == 25 - len(seen)
    assert pages == 3 and seen == [f"p{i:02d}" for i in range(25)]
    evens = call(http, kube, "GET", PODS, limit=5, labelSelector="even=true").json()
    assert len(evens["items"]) == 5 and evens["metadata"]["continue"]
    assert call(http, kube, "GET", PODS, limit=5, **{"continue": "garbage!"}).status_code == 400


def test_deny_rules_are_checked_before_changes(kube: KubeEmulator, http: requests.Session) -> None:
    kube.store.add(pod("a", {"x": "1"}))
    kube.deny("patch", "pods", "default")
    denied = call(http, kube, "PATCH", PODS + "/a", {"metadata": {"labels": {"x": "2"}}}, "application/merge-patch+json")
    assert denied.status_code == 403
    assert denied.json()["message"] == (
        'pods "a" is forbidden: User "system:serviceaccount:default:sandbox" cannot patch resource "pods" '
        'in API group "" in the namespace "default"')
    assert kube.store.get("pods", "a")["metadata"]["labels"]["x"] == "1"  # type: ignore[index]
    kube.deny("list", "secrets", "ml")
    assert call(http, kube, "GET", "/api/v1/namespaces/ml/secrets").status_code == 403
    assert call(http, kube, "GET", "/api/v1/secrets").status_code == 403  # cluster-wide needs every namespace
    assert call(http, kube, "GET", "/api/v1/namespaces/default/secrets").status_code == 200


def test_pod_log_subresource(kube: KubeEmulator, http: requests.Session) -> None:
    kube.store.add(pod("one"))
    kube.store.add(pod("two", containers=2))
    waiting = call(http, kube, "GET", PODS + "/one/log")
    assert waiting.status_code == 400 and "is waiting to start: ContainerCreating" in waiting.json()["message"]
    kube.store.set_pod_log("default", "one", "a\nb\nc\n")
    assert call(http, kube, "GET", PODS + "/one/log").text == "a\nb\nc\n"
    assert call(http, kube, "GET", PODS + "/one/log", tailLines=2).text == "b\nc\n"
    multi = call(http, kube, "GET", PODS + "/two/log")
    assert multi.json()["message"] == "a container name must be specified for pod two, choose one of: [c0 c1]"


def test_followed_log_streams_new_lines_until_the_pod_ends(kube: KubeEmulator, http: requests.Session) -> None:
    kube.store.add({**pod("one"), "status": {"phase": "Running"}})
    kube.store.set_pod_log("default", "one", "first\n")
    with http.get(kube.url + PODS + "/one/log", params={"follow": "true"}, stream=True, timeout=10) as answer:
        lines = answer.iter_lines()
        assert next(lines) == b"first"
        kube.store.set_pod_log("default", "one", "first\nsecond\n")
        assert next(lines) == b"second"
        kube.store.set_pod_phase("default", "one", "Succeeded")
        assert list(lines) == []


def test_namespace_deletion_removes_its_objects(kube: KubeEmulator, http: requests.Session) -> None:
    assert call(http, kube, "POST", "/api/v1/namespaces", {"metadata": {"name": "ml"}}).json()["status"] == {
        "phase": "Active"}
    assert call(http, kube, "POST", "/api/v1/namespaces/ml/configmaps", {"metadata": {"name": "c"}}).status_code == 201
    assert call(http, kube, "DELETE", "/api/v1/namespaces/ml").json()["status"] == "Success"
    assert call(http, kube, "GET", "/api/v1/namespaces/ml/configmaps/c").status_code == 404


def test_secret_string_data_becomes_base64(kube: KubeEmulator, http: requests.Session) -> None:
    created = call(http, kube, "POST", "/api/v1/namespaces/default/secrets",
                   {"metadata": {"name": "s"}, "stringData": {"key": "value"}}).json()
    assert created["data"] == {"key": "dmFsdWU="} and created["type"] == "Opaque" and "stringData" not in created


def test_store_subscribers_see_changes(kube: KubeEmulator, http: requests.Session) -> None:
    seen: list[tuple[str, str, str]] = []
    unsubscribe = kube.store.subscribe(lambda kind, plural, obj: seen.append((kind, plural, obj["metadata"]["name"])))
    try:
        call(http, kube, "POST", PODS, pod("a"))
        kube.store.bind_pod("default", "a", "n1")
        call(http, kube, "DELETE", PODS + "/a")
    finally:
        unsubscribe()
    kube.store.add(pod("b"))
    assert seen == [("ADDED", "pods", "a"), ("MODIFIED", "pods", "a"), ("DELETED", "pods", "a")]


def test_strict_namespaces_refuse_creates_in_missing_namespaces() -> None:
    with KubeEmulator(strict_namespaces=True) as strict:
        answer = requests.post(strict.url + "/api/v1/namespaces/nope/configmaps", json={"metadata": {"name": "c"}},
                               timeout=5)
        assert (answer.status_code, answer.json()["message"]) == (404, 'namespaces "nope" not found')
        created = requests.post(strict.url + "/api/v1/namespaces/default/configmaps", json={"metadata": {"name": "c"}},
                                timeout=5)
        assert created.status_code == 201


def test_unknown_paths_and_methods(kube: KubeEmulator, http: requests.Session) -> None:
    unknown = call(http, kube, "GET", "/apis/batch/v1/jobs")
    assert unknown.status_code == 404 and unknown.json()["kind"] == "Status"
    assert call(http, kube, "GET", "/api/v1/namespaces/default/nodes").status_code == 404  # nodes are cluster-wide
    assert call(http, kube, "PUT", PODS, {}).status_code == 405
    assert call(http, kube, "GET", PODS + "/a/exec").status_code == 404
    assert call(http, kube, "DELETE", PODS + "/a/status").status_code == 405


def test_deployment_status_subresource_changes_only_status(kube: KubeEmulator, http: requests.Session) -> None:
    created = call(http, kube, "POST", DEPLOYMENTS, deployment()).json()
    assert "status" not in created and created["metadata"]["generation"] == 1
    body = dict(created, spec={**created["spec"], "replicas": 9}, status={"readyReplicas": 1, "replicas": 1})
    updated = call(http, kube, "PUT", DEPLOYMENTS + "/agent/status", body).json()
    assert updated["status"] == {"readyReplicas": 1, "replicas": 1}
    assert updated["spec"]["replicas"] == 1 and updated["metadata"]["generation"] == 1
    stale = call(http, kube, "PUT", DEPLOYMENTS + "/agent/status", body)  # created's resourceVersion is old now
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
