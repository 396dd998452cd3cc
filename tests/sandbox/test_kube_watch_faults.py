"""Watch streams, fault injection, stop/restart and the request log of the Kubernetes emulator."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import requests

from kubectl_clearml.sandbox.kube import KubeEmulator

PODS = "/api/v1/namespaces/default/pods"


def pod(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}


def watch(kube: KubeEmulator, path: str, **params: Any) -> list[dict[str, Any]]:
    answer = requests.get(kube.url + path, params={"watch": "true", **params}, timeout=15)
    assert answer.status_code == 200
    assert answer.headers["Transfer-Encoding"] == "chunked"
    return [json.loads(line) for line in answer.text.splitlines() if line]


def later(seconds: float, action: Any) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


@pytest.mark.parametrize("flag", ["true", "True", "1"])
def test_watch_from_zero_sends_synthetic_added_then_ends_on_timeout(kube: KubeEmulator, flag: str) -> None:
    kube.store.add(pod("a", app="x"))
    kube.store.add(pod("b", app="y"))
    started = time.monotonic()
    answer = requests.get(kube.url + PODS, params={"watch": flag, "timeoutSeconds": 1, "labelSelector": "app=x"},
                          timeout=15)
    events = [json.loads(line) for line in answer.text.splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]
    assert events[0]["object"]["kind"] == "Pod"
    assert 0.9 < time.monotonic() - started < 5


def test_watch_from_a_list_version_sends_only_later_changes(kube: KubeEmulator) -> None:
    kube.store.add(pod("a"))
    version = requests.get(kube.url + PODS, timeout=5).json()["metadata"]["resourceVersion"]
    timers = [later(0.2, lambda: kube.store.set_pod_phase("default", "a", "Running")),
              later(0.3, lambda: kube.store.add(pod("other", namespace="ml"))),
              later(0.4, lambda: kube.store.delete("pods", "a"))]
    events = watch(kube, PODS, resourceVersion=version, timeoutSeconds=2)
    for timer in timers:
        timer.join()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("MODIFIED", "a"), ("DELETED", "a")]
    assert events[0]["object"]["status"]["phase"] == "Running"
    assert int(events[1]["object"]["metadata"]["resourceVersion"]) > int(events[0]["object"]["metadata"]["resourceVersion"])


def test_watch_across_namespaces_with_a_field_selector(kube: KubeEmulator) -> None:
    version = str(kube.store.resource_version)
    kube.store.add(pod("x", namespace="ml"))
    kube.store.add(pod("y", namespace="ml2"))
    kube.store.bind_pod("ml2", "y", "gpu-1")
    events = watch(kube, "/api/v1/pods", resourceVersion=version, timeoutSeconds=1,
                   fieldSelector="spec.nodeName=gpu-1")
    # The pod enters the filter when it is bound: a real apiserver reports that as ADDED.
    assert [(e["type"], e["object"]["metadata"]["namespace"]) for e in events] == [("ADDED", "ml2")]


def test_watch_from_a_forgotten_version_gets_410_expired(kube: KubeEmulator) -> None:
    kube.store.add(pod("a"))
    old = kube.store.resource_version - 1
    kube.reset()  # history starts again: older versions are gone
    events = watch(kube, PODS, resourceVersion=str(old), timeoutSeconds=1)
    assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410


def test_stop_ends_open_watches_promptly_and_restart_keeps_state(kube: KubeEmulator) -> None:
    kube.store.add(pod("kept"))
    port = kube.port
    finished: list[float] = []

    def long_watch() -> None:
        try:
            requests.get(kube.url + PODS, params={"watch": "1", "timeoutSeconds": 60}, timeout=30).close()
        except requests.RequestException:
            pass
        finished.append(time.monotonic())

    thread = threading.Thread(target=long_watch)
    thread.start()
    time.sleep(0.3)
    stopped = time.monotonic()
    kube.stop()
    thread.join(10)
    assert finished and finished[0] - stopped < 3
    with pytest.raises(requests.ConnectionError):
        requests.get(kube.url + PODS, timeout=2)
    kube.restart()
    assert kube.port == port
    assert requests.get(kube.url + PODS + "/kept", timeout=5).status_code == 200


def test_injected_errors_latency_drops_and_counts(kube: KubeEmulator) -> None:
    kube.store.add(pod("a"))
    fault = kube.inject("GET", r"/pods/a$", status=503, count=2)
    codes = [requests.get(kube.url + PODS + "/a", timeout=5).status_code for _ in range(3)]
    assert codes == [503, 503, 200] and fault.fired == 2
    kube.inject("GET", r"/pods$", status=None, latency=0.3, count=1)
    started = time.monotonic()
    assert requests.get(kube.url + PODS, timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.3
    kube.inject("*", r"/pods/a$", drop=True, count=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(kube.url + PODS + "/a", timeout=5)
    assert requests.get(kube.url + PODS + "/a", timeout=5).status_code == 200


def test_error_rate_is_a_fraction_of_requests(kube: KubeEmulator) -> None:
    kube.store.add(pod("a"))
    kube.inject("GET", r"/pods/a$", status=500, error_rate=0.5)
    with requests.Session() as session:
        codes = [session.get(kube.url + PODS + "/a", timeout=5).status_code for _ in range(200)]
    assert 50 < codes.count(500) < 150 and codes.count(200) == 200 - codes.count(500)


def test_requests_are_logged(kube: KubeEmulator) -> None:
    requests.get(kube.url + PODS, params={"limit": "5", "labelSelector": "a=b"}, timeout=5)
    last = kube.requests[-1]
    assert (last.method, last.path, last.query) == ("GET", PODS, {"limit": "5", "labelSelector": "a=b"})


def test_objects_entering_and_leaving_a_filtered_watch(kube: KubeEmulator) -> None:
    kube.store.add(pod("a"))
    version = str(kube.store.resource_version)
    kube.store.set_pod_phase("default", "a", "Running")
    kube.store.set_pod_phase("default", "a", "Running")  # no change: no event
    kube.store.update_status("pods", "default", "a", {"phase": "Running", "x": "1"})
    kube.store.set_pod_phase("default", "a", "Succeeded")
    events = watch(kube, PODS, resourceVersion=version, timeoutSeconds=1, fieldSelector="status.phase=Running")
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[-1]["object"]["status"]["phase"] == "Succeeded"


def test_bookmarks_carry_the_current_version(kube: KubeEmulator) -> None:
    kube.api.bookmark_seconds = 0.2
    try:
        version = str(kube.store.resource_version)
        timer = later(0.1, lambda: kube.store.add(pod("other", namespace="elsewhere")))
        events = watch(kube, PODS, resourceVersion=version, timeoutSeconds=1, allowWatchBookmarks="true")
        timer.join()
    finally:
        kube.api.bookmark_seconds = 60.0
    assert events and {e["type"] for e in events} == {"BOOKMARK"}
    assert events[-1]["object"]["metadata"]["resourceVersion"] == str(kube.store.resource_version)


def test_concurrent_writers_and_a_watch_see_one_ordered_history(kube: KubeEmulator) -> None:
    version = str(kube.store.resource_version)
    errors: list[int] = []

    def writer(worker: int) -> None:
        with requests.Session() as session:
            for i in range(25):
                name = f"w{worker}-{i}"
                created = session.post(kube.url + PODS, json=pod(name), timeout=10)
                patched = session.patch(kube.url + f"{PODS}/{name}", json={"metadata": {"labels": {"n": str(i)}}},
                                        headers={"Content-Type": "application/merge-patch+json"}, timeout=10)
                errors.extend(r.status_code for r in (created, patched) if r.status_code >= 300)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = watch(kube, PODS, resourceVersion=version, timeoutSeconds=1)  # replayed from the history
    assert errors == []
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(set(versions)) and len(versions) == 200
    assert [e["type"] for e in events].count("ADDED") == 100
    listed = requests.get(kube.url + PODS, timeout=5).json()
    assert len(listed["items"]) == 100 and int(listed["metadata"]["resourceVersion"]) == versions[-1]
