"""Credentials in URLs are never printed: `config` (every output mode) and every "cannot reach" error show
the userinfo password masked (issue 21 item 3)."""

from __future__ import annotations

from tests.helpers import run_cli

KUBE_PASSWORD = "kube-url-pass-Zq1"
CLEARML_PASSWORD = "clearml-url-pass-Zq2"


def kubeconfig(tmp_path, server):
    path = tmp_path / "config"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: a\n"
        f"clusters: [{{name: c, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
    )
    return str(path)


def test_config_and_unreachable_errors_mask_url_passwords(tmp_path):
    kc = kubeconfig(tmp_path, f"http://admin:{KUBE_PASSWORD}@127.0.0.1:9")
    clearml = ["--api-host", f"http://bob:{CLEARML_PASSWORD}@127.0.0.1:9", "--access-key", "AKEY", "--secret-key", "s-1234"]
    for args in (["config", "-o", "yaml"], ["queues"]):  # queues: both "cannot reach" errors
        result = run_cli([*args, "--kubeconfig", kc, *clearml], home=str(tmp_path))
        printed = result.stdout + result.stderr
        assert "Zq" not in printed, (args, printed)
        assert "http://admin:********@127.0.0.1:9" in printed or "http://bob:********@127.0.0.1:9" in printed, args
