"""The ClearML REST client over real HTTP against the sandbox's ClearML emulator."""

from __future__ import annotations

import pytest

from kubectl_clearml.adapters.clearml import ClearmlClient
from kubectl_clearml.adapters.credentials import Credentials
from kubectl_clearml.errors import (
    ClearmlBadCredentials,
    ClearmlDuplicateName,
    ClearmlInvalidStatusChange,
    ClearmlQueueNotEmpty,
    ClearmlQueueNotFound,
    ClearmlServerFailure,
    ClearmlTaskNotFound,
    ExitStatus,
    ServerError,
    UnreachableError,
)
from tests.helpers import run_cli


def client_for(server, *, secret=None, retries=3, url=None) -> ClearmlClient:
    creds = Credentials(url or server.url, server.access_key, secret or server.secret_key, True, "test")
    return ClearmlClient(creds, retries=retries, sleep=lambda _s: None, timeout=(1.0, 2.0))


def test_login_then_bearer_calls(clearml):
    client = client_for(clearml)
    data = client.call("queues.get_all", {"name": "^default$"})
    assert [q["name"] for q in data["queues"]] == ["default"]
    assert client.token_claims()["api_version"]
    assert clearml.requests.count("auth.login") == 1


def test_expired_token_logs_in_again_transparently(clearml):
    client = client_for(clearml)
    client.login()
    client._token = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2lnbmF0dXJl"  # a token the server never issued
    data = client.call("queues.get_all", {"name": "^default$"})
    assert data["queues"][0]["name"] == "default"
    assert clearml.requests.count("auth.login") == 2


def test_bad_credentials(clearml):
    with pytest.raises(ClearmlBadCredentials) as info:
        client_for(clearml, secret="wrong-secret").call("queues.get_all")
    assert (info.value.code, info.value.exit_status) == (401, ExitStatus.AUTH)


@pytest.mark.parametrize(
    "endpoint, payload, error, codes",
    [
        ("tasks.get_by_id", {"task": "0" * 32}, ClearmlTaskNotFound, (400, 101)),
        ("tasks.started", {"task": "0" * 32}, ClearmlTaskNotFound, (400, 10)),
        ("queues.get_by_id", {"queue": "nope"}, ClearmlQueueNotFound, (400, 701)),
        ("queues.create", {"name": "default"}, ClearmlDuplicateName, (400, 801)),
    ],
)
def test_result_codes_map_to_typed_errors(clearml, endpoint, payload, error, codes):
    with pytest.raises(error) as info:
        client_for(clearml).call(endpoint, payload)
    assert (info.value.code, info.value.subcode) == codes


def test_a_taken_name_says_what_to_do(clearml):
    with pytest.raises(ClearmlDuplicateName) as info:
        client_for(clearml).call("queues.create", {"name": "default"})
    assert info.value.one_line().endswith(": the name is taken: pick another one")


def test_invalid_status_change_and_queue_not_empty(clearml):
    client = client_for(clearml)
    task = client.call("tasks.create", {"name": "train", "type": "training"})["id"]
    with pytest.raises(ClearmlInvalidStatusChange):
        client.call("tasks.stopped", {"task": task})
    queue = client.call("queues.create", {"name": "busy"})["id"]
    client.call("tasks.enqueue", {"task": task, "queue": queue})
    with pytest.raises(ClearmlQueueNotEmpty) as info:
        client.call("queues.delete", {"queue": queue})
    assert "force" in info.value.one_line()


def test_idempotent_reads_retry_a_bounded_number_of_times(clearml):
    clearml.inject(r"queues\.get_all", error_rate=1.0, kinds=("502",))
    client = client_for(clearml, retries=3)
    client.login()
    with pytest.raises(ClearmlServerFailure):
        client.call("queues.get_all")
    assert clearml.requests.count("queues.get_all") == 4  # one try + three retries, never unbounded


def test_a_server_failure_seen_by_a_command_says_what_to_do(clearml, tmp_path):
    clearml.inject(r"queues\.get_all", error_rate=1.0, kinds=("500",))
    result = run_cli(["queues", "create", "team-x"], env={**clearml.env(), "HOME": str(tmp_path)})
    assert result.exit_code == ExitStatus.UNREACHABLE and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("kubectl clearml: error: ") and "(queues.get_all): " in result.stderr
    assert result.stderr.endswith(": the ClearML server failed on this call: retry later, or check its apiserver logs\n")
    assert clearml.state.queue_by_name("team-x") is None


def test_transient_errors_recover(clearml):
    clearml.inject(r"queues\.get_all", error_rate=1.0, kinds=("504",), times=2)
    assert client_for(clearml).call("queues.get_all", {"name": "^default$"})["queues"]


def test_non_idempotent_calls_are_not_repeated_after_the_server_may_have_acted(clearml):
    client = client_for(clearml)
    queue = client.call("queues.create", {"name": "once"})["id"]
    clearml.inject(r"queues\.get_next_task", error_rate=1.0, kinds=("502",), times=1)
    with pytest.raises(ClearmlServerFailure):
        client.call("queues.get_next_task", {"queue": queue})
    assert clearml.requests.count("queues.get_next_task") == 1


def test_unreachable_is_retried_then_reported(clearml):
    client = client_for(clearml, url="http://127.0.0.1:9", retries=2)
    with pytest.raises(UnreachableError) as info:
        client.call("queues.get_all")
    assert "http://127.0.0.1:9" in info.value.one_line()
    assert client.requests_made == 3


def test_cli_exit_codes_for_clearml_problems(clearml, tmp_path):
    base = ["config", "--check", "--api-host", clearml.url, "--access-key", clearml.access_key]
    ok = run_cli([*base, "--secret-key", clearml.secret_key, "--kubeconfig", str(tmp_path / "none")], home=str(tmp_path))
    assert "clearml.server_version" in ok.stdout
    bad = run_cli([*base, "--secret-key", "wrong-secret-1"], home=str(tmp_path))
    assert bad.exit_code == ExitStatus.AUTH
    assert "wrong-secret-1" not in bad.stdout + bad.stderr
    assert bad.stderr.splitlines()[-1].startswith("kubectl clearml: error: Unauthorized")
    down = run_cli(
        ["config", "--check", "--api-host", "http://127.0.0.1:9", "--access-key", "A", "--secret-key", "s-123456"],
        env={"KUBECONFIG": str(tmp_path / "none")}, home=str(tmp_path),
    )
    assert down.exit_code == ExitStatus.UNREACHABLE
    assert down.stderr.splitlines()[-1] == (
        "kubectl clearml: error: cannot reach the ClearML API server (http://127.0.0.1:9): "
        "check --api-host / CLEARML_API_HOST and the network (the API is usually on port 8008)"
    )
    assert "Traceback" not in down.stderr


@pytest.fixture
def not_http_server():
    """A TCP port that answers like an SSH server: reached, but not HTTP."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    listener.close()


def test_https_to_a_plain_http_server_is_a_tls_failure_without_retries(clearml):
    client = client_for(clearml, url=clearml.url.replace("http://", "https://"), retries=3)
    with pytest.raises(UnreachableError) as info:
        client.call("queues.get_all")
    assert info.value.what == "TLS handshake with the ClearML API server failed: wrong version number"
    assert "--insecure-skip-tls-verify" in (info.value.hint or "")
    assert client.requests_made == 1  # the same handshake fails the same way: no retry


def test_a_server_that_does_not_speak_http(clearml, not_http_server):
    client = client_for(clearml, url=not_http_server, retries=3)
    with pytest.raises(ServerError) as info:
        client.call("queues.get_all")
    assert info.value.one_line() == (
        f"the ClearML API host does not speak HTTP ({not_http_server}): "
        "is --api-host the ClearML API server (usually port 8008)?"
    )
    assert client.requests_made == 1 and info.value.exit_status == ExitStatus.UNREACHABLE


def test_proxy_settings_come_from_the_environment_once_at_construction(clearml, monkeypatch):
    # requests re-read the environment (proxies, NO_PROXY, CA bundle) on every call: 9% of the glue's time per
    # task (issue 17). The client reads them once, when it is built, as requests would have.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    through_dead_proxy = client_for(clearml, retries=0)
    with pytest.raises(UnreachableError):
        through_dead_proxy.call("queues.get_all", {"name": "^default$"})
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = client_for(clearml, retries=0)
    monkeypatch.delenv("NO_PROXY")  # read at construction: later changes do not reroute the client
    assert direct.call("queues.get_all", {"name": "^default$"})["queues"][0]["name"] == "default"
    assert (through_dead_proxy.wire.proxy, direct.wire.proxy) == ("http://127.0.0.1:9", None)
