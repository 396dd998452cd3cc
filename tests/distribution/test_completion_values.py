"""Dynamic completion through the real `kubectl __complete clearml ...` (kubectl >= 1.26 protocol)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VALUES = str(ROOT / "examples" / "enterprise-gpu-values.yaml")
BIN = os.path.dirname(sys.executable)
KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is installed by .ci/run; never skipped in CI")


def complete(*words: str, env: dict[str, str], home: Path) -> list[str]:
    full = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(home), **env}
    result = subprocess.run(
        [str(KUBECTL), "__complete", "clearml", *words], capture_output=True, text=True, env=full, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_queue_names_from_values_files(tmp_path):
    lines = complete("diff-template", "-f", VALUES, "", env={"KUBECONFIG": str(tmp_path / "none")}, home=tmp_path)
    assert lines == [
        "1xGPU\tqueue served by the agent", "2xGPU\tqueue served by the agent", "GPUshm\tqueue served by the agent", ":4"
    ]


def test_queue_names_from_clearml_with_pending_counts(clearml, tmp_path):
    clearml.state.create_queue("gpu-a100")
    clearml.state.create_task("train", queue="gpu-a100")
    lines = complete("queues", "show", "gpu", env=clearml.env(), home=tmp_path)
    assert lines == ["gpu-a100\tqueue, 1 pending", ":4"]


def test_namespaces_and_contexts_from_the_cluster(kube, kubeconfig, tmp_path):
    kube.store.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "clearml"}})
    env = {"KUBECONFIG": kubeconfig}
    assert "clearml\tnamespace" in complete("gpu-report", "-n", "", env=env, home=tmp_path)
    assert complete("queues", "--context", "", env=env, home=tmp_path) == ["sandbox\tcontext", ":4"]


def test_output_values_and_silence_when_servers_are_down(tmp_path):
    env = {"CLEARML_API_HOST": "http://127.0.0.1:9", "CLEARML_API_ACCESS_KEY": "a", "CLEARML_API_SECRET_KEY": "bbbbbb",
           "KUBECONFIG": str(tmp_path / "none")}
    assert complete("config", "-o", "y", env=env, home=tmp_path) == ["yaml", ":4"]
    assert complete("queues", "show", "", env=env, home=tmp_path) == [":4"]
    assert complete("queues", "-n", "", env=env, home=tmp_path) == [":4"]


# Each command as typed up to -o; its own "use one of: ..." answer for a bad -o is the truth to match.
OUTPUT_CASES = [
    ["queues"], ["queues", "show", "red"], ["queues", "create", "x"], ["queues", "delete", "x"], ["queues", "sync"],
    ["diff-template"], ["gpu-report"], ["config"], ["run-glue"], ["run-glue", "--dry-run"], ["doctor"], ["why", "3f2a"],
]


@pytest.mark.parametrize("words", OUTPUT_CASES, ids=" ".join)
def test_output_values_are_what_each_command_accepts(words, tmp_path):
    from tests.helpers import run_cli

    env = {"KUBECONFIG": str(tmp_path / "none"), "CLEARML_CONFIG_FILE": None, "CLEARML_API_HOST": None}
    result = run_cli([*words, "-o", "bogus"], env=env, home=str(tmp_path))
    assert result.exit_code == 2 and "unsupported output format 'bogus': use one of: " in result.stderr, result.stderr
    accepted = result.stderr.strip().rsplit("use one of: ", 1)[1].split(", ")
    offered = complete(*words, "-o", "", env={"KUBECONFIG": env["KUBECONFIG"]}, home=tmp_path)  # a clean env
    assert offered == [*accepted, ":4"]


def test_output_values_for_an_overlay_are_its_formats(tmp_path):
    # shm-fix -o is the overlay's format; --output-file names a file (issue 15 item 9).
    assert complete("shm-fix", "-o", "", env={}, home=tmp_path) == ["yaml", "json", ":4"]


def test_completion_prints_nothing_but_candidates_when_credentials_fail(kube, kubeconfig, tmp_path):
    # An exec credential plugin that fails (expired SSO) must not spill log lines into the user's terminal.
    import yaml

    config = yaml.safe_load(Path(kubeconfig).read_text())
    config["users"][0]["user"] = {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "sh",
        "args": ["-c", "echo 'token expired, run: aws sso login' >&2; exit 1"],
    }}
    broken = tmp_path / "exec-kubeconfig"
    broken.write_text(yaml.safe_dump(config))
    full = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": str(broken)}
    helper = os.path.join(BIN, "kubectl_complete-clearml")
    result = subprocess.run([helper, "-n", ""], capture_output=True, text=True, env=full, timeout=60)
    assert result.returncode == 0
    assert result.stdout.splitlines()[-1] == ":4"
    assert result.stderr == ""
