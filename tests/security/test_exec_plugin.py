"""A kubeconfig exec credential plugin that hangs is bounded: the command goes on (and fails as
unauthorized) after the limit, naming the plugin that timed out (issue 21 item 8)."""

from __future__ import annotations

import time

from kubectl_clearml.adapters.kube_connect import connect
from kubectl_clearml.errors import KubectlClearmlError
from tests.helpers import run_cli


def hanging_kubeconfig(kube, tmp_path):
    plugin = tmp_path / "stuck-sso"
    plugin.write_text("#!/bin/sh\nsleep 600\n")  # its child holds the client's stdout pipe: kill the group
    plugin.chmod(0o755)
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: s\n"
        f"clusters: [{{name: c, cluster: {{server: '{kube.url}'}}}}]\n"
        f"users: [{{name: sso-user, user: {{exec: {{apiVersion: client.authentication.k8s.io/v1beta1, "
        f"command: {plugin}, interactiveMode: Never}}}}}}]\n"
        "contexts: [{name: s, context: {cluster: c, user: sso-user, namespace: default}}]\n"
    )
    return str(path)


def test_a_hanging_exec_plugin_is_given_up_and_named(kube, tmp_path, caplog):
    kc = hanging_kubeconfig(kube, tmp_path)
    started = time.monotonic()
    client = connect(kc, None, None, {"HOME": str(tmp_path)}, exec_timeout=1)
    assert time.monotonic() - started < 30
    try:
        client.version()
    except KubectlClearmlError:
        pass
    assert "exec credential plugin 'sso-user' (" in caplog.text and "timed out after 1s" in caplog.text


def test_run_glue_request_timeout_bounds_the_plugin(kube, clearml, tmp_path):
    kc = hanging_kubeconfig(kube, tmp_path)
    started = time.monotonic()
    result = run_cli(["run-glue", "--queue", "default", "--once", "--request-timeout", "1", "--kubeconfig", kc],
                     env=clearml.env(), home=str(tmp_path))
    assert time.monotonic() - started < 40
    assert "exec credential plugin 'sso-user'" in result.stderr and "timed out after 1s" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_tab_completion_gives_up_on_a_hanging_plugin_within_seconds(kube, tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    kubectl = shutil.which("kubectl")
    assert kubectl
    kc = hanging_kubeconfig(kube, tmp_path)
    env = {"PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": kc}
    started = time.monotonic()
    done = subprocess.run([kubectl, "__complete", "clearml", "gpu-report", "-n", ""], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0 and time.monotonic() - started < 30  # was: 60 s per TAB, every TAB
