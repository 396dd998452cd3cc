"""kubectl's kubeconfig rules: several files, context choice, namespace precedence, bad files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubectl_clearml.adapters.kube_connect import connect
from kubectl_clearml.core.kubeconfig import choose_context, merge_kubeconfigs
from kubectl_clearml.errors import NotFoundError, UnreachableError, UsageError
from tests.helpers import run_cli

# Resolvable (never contacted without --check) ClearML settings, so the Kubernetes problem decides the exit code.
CLEARML = ["--api-host", "http://127.0.0.1:9", "--access-key", "AKEY", "--secret-key", "s-123456"]


def kubeconfig(path, contexts, current=None, server="http://127.0.0.1:1"):
    lines = ["apiVersion: v1", "kind: Config"]
    if current:
        lines.append(f"current-context: {current}")
    lines.append(f"clusters: [{{name: c-{path.name}, cluster: {{server: '{server}'}}}}]")
    lines.append(f"users: [{{name: u-{path.name}, user: {{token: t}}}}]")
    entries = []
    for name, ns in contexts.items():
        ns_part = f", namespace: {ns}" if ns else ""
        entries.append(f"{{name: {name}, context: {{cluster: c-{path.name}, user: u-{path.name}{ns_part}}}}}")
    lines.append("contexts: [" + ", ".join(entries) + "]")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_namespace_flag_beats_context_beats_default(tmp_path):
    kc = kubeconfig(tmp_path / "config", {"a": "team-a", "b": None}, current="a")
    env = {"HOME": str(tmp_path)}
    assert connect(str(kc), None, "flag-ns", env).namespace == "flag-ns"
    assert connect(str(kc), None, None, env).namespace == "team-a"
    assert connect(str(kc), "b", None, env).namespace == "default"


def test_explicit_context_namespace_not_the_files_current_context(tmp_path):
    # The client's list_kube_config_contexts() would report the file's current-context; we must not.
    kc = kubeconfig(tmp_path / "config", {"a": "ns-a", "b": "ns-b"}, current="a")
    kube = connect(str(kc), "b", None, {"HOME": str(tmp_path)})
    assert (kube.context, kube.namespace) == ("b", "ns-b")


def test_kubeconfig_env_with_several_files_merges_like_kubectl(tmp_path):
    first = kubeconfig(tmp_path / "one", {"shared": "from-first"}, current="shared", server="http://127.0.0.1:11")
    second = kubeconfig(tmp_path / "two", {"shared": "from-second", "extra": "x"}, current="extra")
    env = {"HOME": str(tmp_path), "KUBECONFIG": os.pathsep.join([str(first), str(second)])}
    kube = connect(None, None, None, env)
    assert (kube.context, kube.namespace, kube.server) == ("shared", "from-first", "http://127.0.0.1:11")
    assert connect(None, "extra", None, env).namespace == "x"


def test_kubeconfig_env_read_at_call_time_not_import_time(tmp_path):
    kc = kubeconfig(tmp_path / "late", {"late": "late-ns"}, current="late")
    result = run_cli(["config", "-o", "json"], env={"KUBECONFIG": str(kc)}, home=str(tmp_path))
    doc = json.loads(result.stdout)
    assert doc["settings"]["kubernetes.context"] == "late"
    assert doc["settings"]["kubernetes.namespace"] == "late-ns"


def test_unknown_context_lists_available(tmp_path):
    kc = kubeconfig(tmp_path / "config", {"a": None, "b": None}, current="a")
    with pytest.raises(NotFoundError) as info:
        connect(str(kc), "nope", None, {"HOME": str(tmp_path)})
    assert "available contexts: a, b" in info.value.one_line()
    result = run_cli(["config", "--kubeconfig", str(kc), "--context", "nope", *CLEARML], home=str(tmp_path))
    assert result.exit_code == 3
    assert "context 'nope' not found in the kubeconfig" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "content, message",
    [
        ("clusters: [unclosed", "cannot read kubeconfig"),
        ("- just\n- a list\n", "kubeconfig is not a YAML mapping"),
        ("apiVersion: v1\nkind: Config\ncontexts: []\n", "no current context in the kubeconfig"),
        (b"\x00\x01\xff binary", "cannot read kubeconfig: not UTF-8 text"),
        (b"current-context: caf\xe9\n", "cannot read kubeconfig: not UTF-8 text"),  # Latin-1
    ],
)
def test_garbled_kubeconfig_is_one_line_exit_2(tmp_path, content, message):
    kc = tmp_path / "bad"
    kc.write_bytes(content) if isinstance(content, bytes) else kc.write_text(content)
    result = run_cli(["config", "--kubeconfig", str(kc), *CLEARML], home=str(tmp_path))
    assert result.exit_code == 2
    error_lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and message in error_lines[0]
    assert "Traceback" not in result.stderr


def test_missing_kubeconfig_flag_file(tmp_path):
    with pytest.raises(UsageError, match="kubeconfig file not found"):
        connect(str(tmp_path / "absent"), None, None, {"HOME": str(tmp_path)})


def test_context_pointing_at_unknown_cluster_is_invalid_kubeconfig(tmp_path):
    kc = tmp_path / "config"
    kc.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: a\nclusters: []\nusers: []\n"
        "contexts: [{name: a, context: {cluster: missing, user: missing}}]\n"
    )
    with pytest.raises(UsageError, match="invalid kubeconfig"):
        connect(str(kc), None, None, {"HOME": str(tmp_path)})


def test_unreachable_server_names_the_url(tmp_path):
    kc = kubeconfig(tmp_path / "config", {"a": None}, current="a", server="http://127.0.0.1:9")
    kube = connect(str(kc), None, None, {"HOME": str(tmp_path)})
    with pytest.raises(UnreachableError) as info:
        list(kube.list("pods"))
    assert "http://127.0.0.1:9" in info.value.one_line()
    result = run_cli(["config", "--kubeconfig", str(kc), "--check", *CLEARML], home=str(tmp_path))
    assert result.exit_code == 5
    assert "cannot reach the Kubernetes API server (http://127.0.0.1:9)" in result.stderr


def test_in_cluster_when_no_kubeconfig_and_service_host(tmp_path):
    from kubectl_clearml.adapters.kubeconfig import choose_kubeconfig

    choice = choose_kubeconfig(None, None, None, {"HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    assert choice.in_cluster
    assert choice.namespace  # the service-account namespace file, else "default"


def test_merge_first_file_wins_for_each_name():
    merged = merge_kubeconfigs(
        [
            {"contexts": [{"name": "x", "context": {"namespace": "one"}}]},
            {"current-context": "x", "contexts": [{"name": "x", "context": {"namespace": "two"}}]},
        ]
    )
    assert choose_context(merged, None, None) == ("x", "one")


def test_another_http_server_at_the_kubeconfig_address_is_named_as_such(clearml, tmp_path):
    # A wrong port in the kubeconfig that lands on some other HTTP service (here: a ClearML API server).
    kc = kubeconfig(tmp_path / "config", {"a": None}, current="a", server=clearml.env()["CLEARML_API_HOST"])
    result = run_cli(["config", "--kubeconfig", str(kc), "--check", *CLEARML], home=str(tmp_path))
    assert result.exit_code == 5, result.stderr
    error = [line for line in result.stderr.splitlines() if "error:" in line or "warning:" in line]
    assert any("not a Kubernetes API server: GET /version failed (http://127.0.0.1:" in line for line in error), result.stderr
    assert any("check the cluster's server URL (host and port) in the kubeconfig" in line for line in error)


def test_relative_paths_are_relative_to_the_kubeconfig_file_not_the_cwd(kube, kubeconfig, tmp_path, monkeypatch):
    import yaml

    home = tmp_path / "home" / ".kube"
    home.mkdir(parents=True)
    (home / "token").write_text("tok-from-file\n")  # `echo $TOKEN > token`: kubectl trims the newline
    kube.add_identity("tok-from-file", kube.user)  # the emulator answers an unknown token with 401
    config = yaml.safe_load(Path(kubeconfig).read_text())
    config["users"][0]["user"] = {"tokenFile": "token"}
    (home / "config").write_text(yaml.safe_dump(config))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # where the user happens to be, not a client method
    client = connect(None, None, None, {"HOME": str(tmp_path / "home")})
    assert list(client.api_client.configuration.api_key.values()) == ["Bearer tok-from-file"]
    assert client.version()["gitVersion"]


def test_resolve_relative_paths_pure():
    from kubectl_clearml.core.kubeconfig import resolve_relative_paths

    doc = {
        "clusters": [{"name": "c", "cluster": {"certificate-authority": "ca.crt", "server": "https://x"}},
                     {"name": "abs", "cluster": {"certificate-authority": "/etc/ca.crt"}}],
        "users": [{"name": "u", "user": {"client-certificate": "certs/u.crt", "client-key": "~/u.key",
                                          "exec": {"command": "./bin/auth"}}},
                  {"name": "aws", "user": {"exec": {"command": "aws", "args": ["eks"]}}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    }
    out = resolve_relative_paths(doc, "/home/me/.kube")
    assert out["clusters"][0]["cluster"] == {"certificate-authority": "/home/me/.kube/ca.crt", "server": "https://x"}
    assert out["clusters"][1]["cluster"]["certificate-authority"] == "/etc/ca.crt"
    user = out["users"][0]["user"]
    assert (user["client-certificate"], user["client-key"]) == ("/home/me/.kube/certs/u.crt", "~/u.key")
    assert user["exec"]["command"] == "/home/me/.kube/./bin/auth"
    assert out["users"][1]["user"]["exec"]["command"] == "aws"  # a bare name is looked up on PATH
    assert out["contexts"] == doc["contexts"]
    assert doc["clusters"][0]["cluster"]["certificate-authority"] == "ca.crt"  # the input is not changed


_segment = st.text(alphabet="abcxyz019._-", min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))


@given(parts=st.lists(_segment, min_size=1, max_size=3))
def test_resolved_paths_are_absolute_under_the_file_and_resolving_twice_changes_nothing(parts):
    from kubectl_clearml.core.kubeconfig import resolve_relative_paths

    relative = os.path.join(*parts)
    doc = {"clusters": [{"name": "c", "cluster": {"certificate-authority": relative}}],
           "users": [{"name": "u", "user": {"tokenFile": relative, "client-key": "/abs/" + relative}}]}
    once = resolve_relative_paths(doc, "/base/dir")
    assert once["clusters"][0]["cluster"]["certificate-authority"] == "/base/dir/" + relative
    assert once["users"][0]["user"] == {"tokenFile": "/base/dir/" + relative, "client-key": "/abs/" + relative}
    assert resolve_relative_paths(once, "/other") == once


@pytest.mark.skipif(os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount/token"), reason="runs in a pod")
def test_in_cluster_without_a_service_account_token_is_bad_input(tmp_path):
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443", "KUBECONFIG": None}
    result = run_cli(["config", *CLEARML], env=env, home=str(tmp_path))
    assert result.exit_code == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "kubectl clearml: error: in-cluster configuration failed: Service token file does not exist "
        "(service account): mount the pod's service account token, or pass --kubeconfig"
    )
