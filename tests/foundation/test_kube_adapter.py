"""The Kubernetes adapter over real HTTP against the emulator: typed errors, pagination, watch, patches."""

from __future__ import annotations

import threading

import pytest

from kubectl_clearml.adapters.kube_connect import connect
from kubectl_clearml.errors import (
    AuthError,
    ConflictError,
    ExitStatus,
    InvalidRequestError,
    NotFoundError,
    UnreachableError,
)
from tests.helpers import run_cli


def pod(name, ns="ml", labels=None):
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }


@pytest.fixture
def client(kube, kubeconfig, tmp_path):
    kube.store.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml"}})
    return connect(kubeconfig, None, "ml", {"HOME": str(tmp_path)})


def test_forbidden_names_verb_resource_and_namespace(kube, client):
    kube.deny("list", "pods", "ml")
    with pytest.raises(AuthError) as info:
        list(client.list("pods"))
    assert info.value.what == "cannot list pods in namespace ml: forbidden"
    assert info.value.exit_status == ExitStatus.AUTH
    assert "ask for RBAC permission to list pods in namespace ml" in info.value.one_line()


def test_not_found_and_conflict(kube, client):
    with pytest.raises(NotFoundError, match="pod 'nope' not found in namespace ml"):
        client.get("pods", "nope")
    created = client.create("pods", pod("p1"))
    with pytest.raises(ConflictError):
        client.create("pods", pod("p1"))
    stale = dict(created)
    client.patch("pods", "p1", {"metadata": {"labels": {"a": "1"}}})
    with pytest.raises(ConflictError):
        client.replace("pods", "p1", stale)


def test_bad_field_selector_is_invalid_request(client):
    with pytest.raises(InvalidRequestError, match="field label not supported"):
        list(client.list("pods", field_selector="spec.priority=1"))


def test_paginated_list_follows_continue_tokens(kube, client):
    for i in range(23):
        kube.store.add(pod(f"p{i:02d}", labels={"CLEARML": "agent-1"} if i % 2 else {}))
    kube.requests.clear()
    names = [p["metadata"]["name"] for p in client.list("pods", page_size=5)]
    assert names == [f"p{i:02d}" for i in range(23)]
    lists = [r for r in kube.requests if r.path.endswith("/pods")]
    assert len(lists) == 5 and all("limit" in r.query for r in lists)
    labelled = list(client.list("pods", label_selector="CLEARML", page_size=4))
    assert len(labelled) == 11


def test_patch_types(client):
    client.create("pods", pod("p1"))
    client.patch("pods", "p1", {"metadata": {"labels": {"team": "red"}}})
    client.patch("pods", "p1", [{"op": "add", "path": "/metadata/annotations", "value": {"x": "1"}}], patch_type="json")
    client.patch("pods", "p1", {"metadata": {"labels": {"team": None}}}, patch_type="merge")
    got = client.get("pods", "p1")
    assert got["metadata"]["annotations"] == {"x": "1"} and "team" not in got["metadata"].get("labels", {})


def test_dry_run_server_stores_nothing(client):
    client.create("pods", pod("ghost"), dry_run="server")
    with pytest.raises(NotFoundError):
        client.get("pods", "ghost")


def test_watch_sees_a_change_and_ends_at_timeout(kube, client):
    client.create("pods", pod("w1", labels={"CLEARML": "agent-1"}))
    _, version = client.list_with_version("pods", label_selector="CLEARML")
    timer = threading.Timer(0.3, lambda: kube.store.set_pod_phase("ml", "w1", "Running"))
    timer.start()
    events = list(client.watch("pods", label_selector="CLEARML", resource_version=version, timeout_seconds=2))
    timer.join()
    assert [(e["type"], e["object"]["status"]["phase"]) for e in events if e["type"] != "BOOKMARK"] == [
        ("MODIFIED", "Running")
    ]


def test_pod_log(kube, client):
    client.create("pods", pod("logger"))
    kube.store.set_pod_log("ml", "logger", "line one\nline two\n")
    assert client.pod_log("logger", tail_lines=1).strip() == "line two"


def test_config_check_reports_server_version(kube, kubeconfig, tmp_path):
    result = run_cli(["config", "--check", "--kubeconfig", kubeconfig, "-o", "json"], home=str(tmp_path))
    assert '"kubernetes.version": "v1.' in result.stdout


def test_https_to_a_plain_http_api_server_says_tls(kube, tmp_path):
    config = kube.write_kubeconfig(tmp_path / "kubeconfig", namespace="default", context="sandbox")
    path = tmp_path / "kubeconfig"
    path.write_text(path.read_text().replace(kube.url, kube.url.replace("http://", "https://")))
    result = run_cli(["diff-template", "--all", "--kubeconfig", config], home=str(tmp_path))
    assert result.exit_code == ExitStatus.UNREACHABLE
    assert result.stderr.startswith(
        "kubectl clearml: error: TLS handshake with the Kubernetes API server failed: wrong version number"
    )
    assert "certificate-authority" in result.stderr and len(result.stderr.splitlines()) == 1


def test_an_api_server_failure_seen_by_a_command_says_what_to_do(kube, kubeconfig, tmp_path):
    kube.inject("GET", r"/secrets", status=500)
    result = run_cli(["diff-template", "--all", "--kubeconfig", kubeconfig], home=str(tmp_path))
    assert result.exit_code == ExitStatus.UNREACHABLE
    error = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error) == 1 and "the Kubernetes API server failed (500)" in error[0]
    assert error[0].endswith(": retry later; if it persists, check the API server's health (kubectl get --raw='/readyz?verbose')")


def test_a_hung_api_server_costs_two_read_timeouts_not_four(kube, client):
    # urllib3's default repeated a timed-out GET three times: 4 x 60 s before "timed out" with a hung server.
    slow = kube.inject("GET", r"/api/v1/namespaces/ml/pods$", status=None, latency=2.0)
    client.request_timeout = 0.3
    with pytest.raises(UnreachableError, match="timed out talking to the Kubernetes API server"):
        list(client.list("pods"))
    assert slow.fired == 2  # the request and one retry (a keep-alive connection the server may have dropped)


def test_completion_connection_makes_one_attempt(kube, kubeconfig, tmp_path):
    slow = kube.inject("GET", r"/api/v1/namespaces$", status=None, latency=2.0)
    quick = connect(kubeconfig, None, None, {"HOME": str(tmp_path)}, retries=False)
    quick.request_timeout = 0.3
    with pytest.raises(UnreachableError):
        list(quick.list("namespaces"))
    assert slow.fired == 1


def test_the_environment_proxy_is_chosen_once_not_before_every_request(kube, kubeconfig, tmp_path, monkeypatch):
    # The 36+ client re-picked the proxy from os.environ each time its kubeconfig refresh hook set the host,
    # i.e. before every request (issue 17): a scan of os.environ per request, whose answer the connection pool
    # (built at connect) never used. Chosen once at connect, the configuration keeps it.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    kube.store.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml"}})
    client = connect(kubeconfig, None, "ml", {"HOME": str(tmp_path)})
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    client.create("pods", pod("p1"))
    assert client.get("pods", "p1")["metadata"]["name"] == "p1"
    assert client.api_client.configuration.proxy is None  # what connect chose, not re-read per request
