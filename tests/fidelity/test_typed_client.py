"""Issue 13 item 2, with the typed ``kubernetes`` client (both generations: the CI runs this on 35 too).

Every seeded kind is listed through the typed API, so each item is deserialised into the generated models:
client 37's pydantic models refuse a missing required field or a quantity that is not a string, client 35's
setters refuse a required ``None``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from kubectl_clearml.sandbox.kube.resources import RESOURCES

# Every kind the emulator serves, and the typed call that lists it across namespaces.
LISTS = {
    "namespaces": ("CoreV1Api", "list_namespace"),
    "nodes": ("CoreV1Api", "list_node"),
    "pods": ("CoreV1Api", "list_pod_for_all_namespaces"),
    "configmaps": ("CoreV1Api", "list_config_map_for_all_namespaces"),
    "secrets": ("CoreV1Api", "list_secret_for_all_namespaces"),
    "services": ("CoreV1Api", "list_service_for_all_namespaces"),
    "serviceaccounts": ("CoreV1Api", "list_service_account_for_all_namespaces"),
    "events": ("CoreV1Api", "list_event_for_all_namespaces"),
    "deployments": ("AppsV1Api", "list_deployment_for_all_namespaces"),
    "replicasets": ("AppsV1Api", "list_replica_set_for_all_namespaces"),
    "leases": ("CoordinationV1Api", "list_lease_for_all_namespaces"),
    "priorityclasses": ("SchedulingV1Api", "list_priority_class"),
    "persistentvolumeclaims": ("CoreV1Api", "list_persistent_volume_claim_for_all_namespaces"),
    "roles": ("RbacAuthorizationV1Api", "list_role_for_all_namespaces"),
    "rolebindings": ("RbacAuthorizationV1Api", "list_role_binding_for_all_namespaces"),
    "clusterroles": ("RbacAuthorizationV1Api", "list_cluster_role"),
    "clusterrolebindings": ("RbacAuthorizationV1Api", "list_cluster_role_binding"),
    "poddisruptionbudgets": ("PolicyV1Api", "list_pod_disruption_budget_for_all_namespaces"),
}


@pytest.fixture(params=["enterprise", "oss"])
def api(request: pytest.FixtureRequest, make_world: Any) -> Any:
    handle = make_world(flavour=request.param)
    api_client = config.new_client_from_config(config_file=str(handle.kubeconfig))
    yield handle, api_client
    api_client.close()


def test_every_seeded_kind_deserialises_through_the_typed_models(api: Any) -> None:
    handle, api_client = api
    handle.kube.store.create_event({"involvedObject": {"kind": "Pod", "namespace": "clearml", "name": "x"},
                                    "reason": "Scheduled", "message": "seeded", "type": "Normal"})
    listable = {r.plural for r in RESOURCES if "list" in r.verbs}  # the access reviews are create-only
    assert listable <= set(LISTS), "a served kind has no typed list call here"
    counts = {}
    for plural, (group, call) in LISTS.items():
        if plural not in {r.plural for r in RESOURCES}:
            continue
        listed = getattr(getattr(client, group)(api_client), call)()
        counts[plural] = len(listed.items)
    assert counts["nodes"] >= 7 and counts["pods"] >= 3 and counts["deployments"] >= 1 and counts["events"] >= 1


def test_quantities_read_back_as_strings(api: Any) -> None:
    _, api_client = api
    core = client.CoreV1Api(api_client)
    node = core.read_node("gpu-a100-1")
    assert node.status.capacity["nvidia.com/gpu"] == "8" and node.status.node_info.boot_id
    created = core.create_namespaced_pod("clearml", {
        "metadata": {"name": "typed"},
        "spec": {"containers": [{"name": "main", "image": "busybox:1",
                                 "resources": {"limits": {"nvidia.com/gpu": "1", "memory": "1.5Gi"}}}]}})
    limits = created.spec.containers[0].resources.limits
    assert limits == {"nvidia.com/gpu": "1", "memory": "1536Mi"}
    assert created.spec.containers[0].resources.requests == limits  # defaulted from the limits
    pods = core.list_namespaced_pod("clearml").items
    assert any(p.metadata.name == "typed" for p in pods)


def test_a_watch_from_a_compacted_resource_version_is_410_expired(tmp_path: Path) -> None:
    """Item 8: after the apiserver's compaction window (5 minutes by default; 0.3 s here) an old
    resourceVersion is 410 Expired, so the client's relist path runs in tests."""
    from kubernetes import watch
    from kubernetes.client.exceptions import ApiException

    from kubectl_clearml.sandbox.kube import KubeEmulator

    with KubeEmulator(watch_window_seconds=0.3) as kube:
        api_client = config.new_client_from_config(config_file=kube.write_kubeconfig(tmp_path / "kubeconfig"))
        core = client.CoreV1Api(api_client)
        core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
        old = core.list_namespaced_config_map("default").metadata.resource_version
        core.create_namespaced_config_map("default", {"metadata": {"name": "b"}})
        fresh = core.list_namespaced_config_map("default").metadata.resource_version
        seen = [e["object"].metadata.name for e in watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=old, timeout_seconds=1)]
        assert seen == ["b"]  # within the window: the changes since `old`
        time.sleep(0.4)
        core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})  # compacts what is older
        with pytest.raises(ApiException) as expired:
            list(watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=old,
                                      timeout_seconds=1))
        assert expired.value.status == 410
        assert [e["object"].metadata.name for e in watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=fresh, timeout_seconds=1)] == ["c"]
        api_client.close()
