"""kubeconfig input: a tokenFile's trailing newline is trimmed for every request on both client
generations (CI runs tests/security on kubernetes<36 too), a missing tokenFile and malformed sections are
bad input naming the key (issue 21 items 10, 11)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubectl_clearml.adapters.kube_connect import connect
from kubectl_clearml.errors import UsageError
from tests.helpers import run_cli


def sandbox_token(kubeconfig):
    return yaml.safe_load(Path(kubeconfig).read_text())["users"][0]["user"]["token"]


def with_user(kubeconfig, tmp_path, user):
    config = yaml.safe_load(Path(kubeconfig).read_text())
    config["users"][0]["user"] = user
    path = tmp_path / "kubeconfig-token"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_token_file_with_a_newline_works_on_every_request(kube, clearml, kubeconfig, tmp_path):
    (tmp_path / "token").write_text(sandbox_token(kubeconfig) + "\n")  # `echo $TOKEN > token`
    kc = with_user(kubeconfig, tmp_path, {"tokenFile": str(tmp_path / "token")})
    client = connect(kc, None, None, {"HOME": str(tmp_path)})
    for n in range(3):  # the client re-set the raw token before each request after the first
        assert client.version()["gitVersion"]
        assert list(client.list("pods")) == []
        assert list(client.list("nodes")) is not None
        cm = {"metadata": {"name": f"c{n}"}, "data": {"k": "v"}}
        assert client.create("configmaps", cm)["metadata"]["name"] == f"c{n}"
        client.patch("configmaps", f"c{n}", {"data": {"k": "w"}})
        assert client.get("configmaps", f"c{n}")["data"] == {"k": "w"}
        if n == 2:  # a watch is a streamed request of its own
            assert list(client.watch("configmaps", timeout_seconds=1))
        client.delete("configmaps", f"c{n}")
    for args in (["gpu-report", "-o", "json"], ["queues"]):
        result = run_cli([*args, "--kubeconfig", kc], env=clearml.env(), home=str(tmp_path))
        assert result.exit_code == 0 and "cannot reach" not in result.stderr and "ValueError" not in result.stderr, (
            args, result.stderr)


def test_an_inline_token_with_a_newline_works_too(kube, kubeconfig, tmp_path):
    kc = with_user(kubeconfig, tmp_path, {"token": sandbox_token(kubeconfig) + "\n"})
    client = connect(kc, None, None, {"HOME": str(tmp_path)})
    assert client.version() and client.version()


def test_a_missing_token_file_is_bad_input_naming_it(kubeconfig, tmp_path):
    kc = with_user(kubeconfig, tmp_path, {"tokenFile": str(tmp_path / "gone")})
    with pytest.raises(UsageError, match="cannot read the user's tokenFile"):
        connect(kc, None, None, {"HOME": str(tmp_path)})
    result = run_cli(["gpu-report", "--kubeconfig", kc], home=str(tmp_path))
    assert result.exit_code == 2 and f"{tmp_path / 'gone'}" in result.stderr, result.stderr


@pytest.mark.parametrize("section, value, where", [
    ("contexts", "{a: 1}", "contexts"),
    ("contexts", "5", "contexts"),
    ("users", "[a, b]", "users[0]"),
    ("clusters", "[{name: c, cluster: 3}]", "clusters[0]"),
    ("clusters", "[{name: c, cluster: {server: 5}}]", "clusters[0].cluster.server"),
    ("users", "[{name: u, user: {tokenFile: 5}}]", "users[0].user.tokenFile"),
    ("contexts", "[{name: a, context: {cluster: c, user: u, namespace: 5}}]", "contexts[0].context.namespace"),
])
def test_malformed_sections_are_bad_input_naming_the_key(tmp_path, section, value, where):
    path = tmp_path / "config"
    path.write_text(f"apiVersion: v1\nkind: Config\ncurrent-context: a\n{section}: {value}\n")
    result = run_cli(["gpu-report", "--kubeconfig", str(path)], home=str(tmp_path))
    assert result.exit_code == 2, result.stderr
    assert f"{path}: {where}" in result.stderr and "internal error" not in result.stderr


@pytest.mark.parametrize("nested", ["[" * 20000 + "]" * 20000, "{b: " * 5000 + "1" + "}" * 5000])
def test_a_deeply_nested_kubeconfig_is_bad_input(tmp_path, nested):
    path = tmp_path / "config"
    path.write_text(f"a: {nested}\n")
    result = run_cli(["gpu-report", "--kubeconfig", str(path)], home=str(tmp_path))
    assert result.exit_code == 2 and "nested too deeply" in result.stderr, result.stderr
