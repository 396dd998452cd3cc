"""The emulator's list pages reuse each snapshot's encoded JSON: every change must still show at once.

Also checks the list filter's fast field reading against the reference ``core.selectors.field_value``
on the odd values a field can hold (booleans, numbers, null, missing parents, non-object parents).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from kubectl_clearml.core.selectors import field_value
from kubectl_clearml.sandbox.kube import KubeEmulator
from kubectl_clearml.sandbox.kube.resources import FIELD_DEFAULTS

PODS = "/api/v1/namespaces/default/pods"


def listed(kube: KubeEmulator, path: str, **params: Any) -> dict[str, Any]:
    response = requests.get(kube.url + path, params=params, timeout=10)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def by_name(page: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["metadata"]["name"]: item for item in page["items"]}


def pod(name: str, phase: str = "Running") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "main", "image": "busybox:1"}]}, "status": {"phase": phase}}


def test_list_items_follow_every_change_of_a_cached_snapshot(kube: KubeEmulator) -> None:
    for name in ("a", "b", "c"):
        kube.store.add(pod(name))
    first = by_name(listed(kube, PODS))  # encodes and caches all three
    assert sorted(first) == ["a", "b", "c"]
    assert all("kind" not in item and "apiVersion" not in item for item in first.values())

    kube.store.set_pod_phase("default", "a", "Failed")  # backdoor write
    patched = requests.patch(kube.url + f"{PODS}/b", json={"metadata": {"labels": {"x": "1"}}}, timeout=10,
                             headers={"Content-Type": "application/merge-patch+json"})
    assert patched.status_code == 200
    kube.store.delete("pods", "c")
    kube.store.add(pod("c", phase="Pending"))  # same key, a new object

    second = by_name(listed(kube, PODS))
    assert second["a"]["status"]["phase"] == "Failed"
    assert second["b"]["metadata"]["labels"] == {"x": "1"}
    assert second["c"]["status"]["phase"] == "Pending"
    assert second["c"]["metadata"]["uid"] != first["c"]["metadata"]["uid"]
    for name in ("a", "b", "c"):
        assert second[name]["metadata"]["resourceVersion"] != first[name]["metadata"]["resourceVersion"]
        single = requests.get(kube.url + f"{PODS}/{name}", timeout=10).json()
        assert {k: v for k, v in single.items() if k not in ("kind", "apiVersion")} == second[name]

    assert sorted(by_name(listed(kube, PODS, fieldSelector="status.phase!=Failed"))) == ["b", "c"]
    kube.store.delete("pods", "b")
    assert sorted(by_name(listed(kube, PODS))) == ["a", "c"]


def test_list_after_reset_does_not_serve_forgotten_objects(kube: KubeEmulator) -> None:
    kube.store.add(pod("old"))
    assert list(by_name(listed(kube, PODS))) == ["old"]
    kube.reset()
    kube.store.add(pod("new"))
    assert list(by_name(listed(kube, PODS))) == ["new"]


def test_paginated_cached_pages_cover_each_object_once(kube: KubeEmulator) -> None:
    for i in range(23):
        kube.store.add(pod(f"p{i:02d}", phase="Succeeded" if i % 4 == 0 else "Running"))
    for _ in range(2):  # cold cache, then warm
        seen: list[str] = []
        token = None
        while True:
            params = {"limit": "5", "fieldSelector": "status.phase!=Succeeded,status.phase!=Failed"}
            if token:
                params["continue"] = token
            page = listed(kube, "/api/v1/pods", **params)
            seen += [item["metadata"]["name"] for item in page["items"]]
            token = page["metadata"].get("continue")
            if not token:
                break
        assert seen == [f"p{i:02d}" for i in range(23) if i % 4]


ODD_NODE_SPECS: list[Any] = [
    {},
    {"unschedulable": True},
    {"unschedulable": False},
    {"unschedulable": None},
    {"unschedulable": 1},
    {"unschedulable": "true"},
]


@pytest.mark.parametrize("wanted", ["true", "false", ""])
def test_field_selector_reads_odd_values_as_the_reference_does(kube: KubeEmulator, wanted: str) -> None:
    nodes = {}
    for index, spec in enumerate(ODD_NODE_SPECS):
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"n{index}"}, "spec": spec}
        nodes[f"n{index}"] = node
        kube.store.add(node)
    kube.store.add({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n-list"}, "spec": ["odd"]})
    nodes["n-list"] = {"spec": ["odd"]}
    for negate in (False, True):
        selector = f"spec.unschedulable{'!=' if negate else '='}{wanted}"
        expected = sorted(
            name for name, node in nodes.items()
            if (field_value(node, "spec.unschedulable", FIELD_DEFAULTS) == wanted) != negate
        )
        assert sorted(by_name(listed(kube, "/api/v1/nodes", fieldSelector=selector))) == expected, selector
