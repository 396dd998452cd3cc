"""The plugin as the real kubectl finds and runs it (PATH discovery, exit codes, __complete)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

BIN = os.path.dirname(sys.executable)
KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is installed by .ci/run; never skipped in CI")


def kubectl(*args: str, home: str) -> subprocess.CompletedProcess[str]:
    if os.environ.get("CI") and KUBECTL is None:
        pytest.fail("kubectl missing in CI")
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": home, "KUBECONFIG": os.path.join(home, "none")}
    return subprocess.run([str(KUBECTL), *args], capture_output=True, text=True, env=env, timeout=60)


def test_plugin_list_finds_it_without_warnings(tmp_path):
    result = kubectl("plugin", "list", home=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert os.path.join(BIN, "kubectl-clearml") in result.stdout


def test_version_and_help_through_kubectl(tmp_path):
    from kubectl_clearml import __version__

    result = kubectl("clearml", "--version", home=str(tmp_path))
    assert (result.returncode, result.stdout.strip()) == (0, f"kubectl-clearml {__version__}")
    result = kubectl("clearml", "--help", home=str(tmp_path))
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: kubectl clearml")


def test_exit_code_passes_through_kubectl(tmp_path):
    result = kubectl("clearml", "--definitely-not-a-flag", home=str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("kubectl clearml: error:")


def test_kubectl_complete_subcommands_and_flags(tmp_path):
    result = kubectl("__complete", "clearml", "gpu", home=str(tmp_path))
    assert result.returncode == 0
    assert "gpu-report\t" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == ":4"
    result = kubectl("__complete", "clearml", "config", "--kube", home=str(tmp_path))
    assert "--kubeconfig" in result.stdout
