"""What the libraries we use log reaches stderr as one redacted line each, never logging's default noise.

Run as a real process: the failure mode (the kubernetes client's first ``logging.error`` triggering
``logging.basicConfig``, then urllib3's retry warnings) depends on the interpreter's fresh logging state.
"""

from __future__ import annotations

import os
import subprocess
import sys

BIN = os.path.dirname(sys.executable)
CLEARML = ["--api-host", "http://127.0.0.1:9", "--access-key", "AKEY0000001", "--secret-key", "s-1234567"]


def plugin(*args: str, home: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": home}
    return subprocess.run([os.path.join(BIN, "kubectl-clearml"), *args], capture_output=True, text=True, env=env,
                          timeout=60)


def exec_kubeconfig(path, server):
    path.write_text(f"""apiVersion: v1
kind: Config
current-context: x
clusters: [{{name: c, cluster: {{server: "{server}"}}}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: sh
      args: ["-c", "echo 'token expired, run: aws sso login' >&2; exit 1"]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
""")
    return str(path)


def test_a_failing_credential_plugin_is_one_warning_line_then_the_error(tmp_path):
    kc = exec_kubeconfig(tmp_path / "config", "http://127.0.0.1:9")
    result = plugin("config", "--check", "--kubeconfig", kc, *CLEARML, home=str(tmp_path))
    assert result.returncode == 5, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "kubectl clearml: warning: kubeconfig user credentials: exec: process returned 1. "
        "token expired, run: aws sso login"
    )
    assert all(line.startswith("kubectl clearml: ") for line in lines), result.stderr  # no ERROR:root, no Retrying
    assert "Retrying" not in result.stderr


def test_vv_shows_the_kubernetes_requests(kubeconfig, tmp_path):
    result = plugin("config", "--check", "--kubeconfig", kubeconfig, *CLEARML, "-vv", home=str(tmp_path))
    assert '"GET /version HTTP/1.1" 200' in result.stderr
    assert "sandbox-token" not in result.stderr  # the kubeconfig's bearer token: never in a request line
