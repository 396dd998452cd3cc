"""`kubectl clearml sandbox`, run as a user runs it: the installed entry point in a subprocess.

Ctrl-C (SIGINT) and SIGTERM stop the sandbox cleanly with exit status 0: stopping is the normal way for a
foreground sandbox to end. `-- CMD` exits with the command's status.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli

PLUGIN = Path(sys.executable).parent / "kubectl-clearml"
NODES = ["cpu-1", "cpu-2", "gpu-a100-1", "gpu-a100-2", "gpu-a100-mig-1", "gpu-t4-1", "gpu-t4-2"]

pytestmark = pytest.mark.skipif(not PLUGIN.exists(), reason="kubectl-clearml entry point not installed")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": f"{PLUGIN.parent}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(tmp_path)}
    env.update(extra)
    return env


def _sandbox(args: list[str], tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PLUGIN), "sandbox", *args], env=_env(tmp_path, **extra), capture_output=True, text=True, timeout=60
    )


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_real_kubectl_in_the_sandbox_sees_the_seeded_nodes(tmp_path: Path) -> None:
    result = _sandbox(["--", "kubectl", "get", "nodes", "-o", "name"], tmp_path)

    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == [f"node/{n}" for n in NODES]


def test_env_shows_the_exports_and_hides_overriding_clearml_variables(tmp_path: Path) -> None:
    result = _sandbox(["--", "env"], tmp_path, CLEARML_API_HOST="https://api.example.com")

    assert result.returncode == 0, result.stderr
    env = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert Path(env["KUBECONFIG"]).name == "kubeconfig"
    assert Path(env["CLEARML_CONFIG_FILE"]).name == "clearml.conf"
    assert Path(env["KUBECONFIG"]).parent == Path(env["CLEARML_CONFIG_FILE"]).parent
    assert "CLEARML_API_HOST" not in env  # it would beat the sandbox's clearml.conf
    assert not Path(env["KUBECONFIG"]).exists(), "the temporary directory is removed on exit"


def test_command_exit_status_is_passed_through(tmp_path: Path) -> None:
    assert _sandbox(["--", "sh", "-c", "exit 7"], tmp_path).returncode == 7
    missing = _sandbox(["--", "no-such-command-for-the-sandbox"], tmp_path)
    assert missing.returncode == 127
    assert missing.stderr.strip() == (
        "kubectl clearml: error: command not found (no-such-command-for-the-sandbox): check the name and PATH"
    )


def test_kubectl_clearml_runs_inside_the_sandbox_against_it(tmp_path: Path) -> None:
    script = "kubectl clearml --version && kubectl get deploy -n clearml -o name"
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not installed")
    result = _sandbox(["--", "sh", "-c", script], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "kubectl-clearml" in result.stdout
    assert "deployment.apps/clearml-agent" in result.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_foreground_sandbox_prints_exports_and_stops_cleanly_on_a_signal(tmp_path: Path, signum: int) -> None:
    process = subprocess.Popen(
        [str(PLUGIN), "sandbox", "--oss"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        exports = [process.stdout.readline().strip() for _ in range(2)]
        assert exports[0].startswith("export KUBECONFIG=")
        assert exports[1].startswith("export CLEARML_CONFIG_FILE=")
        kubeconfig = Path(exports[0].split("=", 1)[1])
        assert kubeconfig.exists()
        if shutil.which("kubectl"):
            got = subprocess.run(
                ["kubectl", "--kubeconfig", str(kubeconfig), "get", "deploy", "clearml-agent", "-o", "name"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert got.stdout.strip() == "deployment.apps/clearml-agent", got.stderr

        process.send_signal(signum)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0
    assert "sandbox: stopped" in stderr
    assert "Traceback" not in stderr
    assert not kubeconfig.exists()


def test_demo_tells_the_story(tmp_path: Path) -> None:
    result = run_cli(["sandbox", "--demo"], home=str(tmp_path))

    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Demo world: 7 nodes, agent 'clearml-agent' (enterprise chart)" in out
    # Issue 15 item 15: run-glue as a user would type it, the pod listing with a header and ClearML's queue
    # names, and run-glue's ordinary start/stop lines not logged as warnings.
    for command in ("queues", "gpu-report", "diff-template --all", "run-glue -n clearml --once", "shm-fix --check"):
        assert f"$ kubectl clearml {command}" in out
    assert "POD" in out and any(line.split() == ["POD", "QUEUE", "PHASE", "REASON"] for line in out.splitlines())
    assert "WARNING kubectl_clearml.glue: run-glue st" not in out + result.stderr
    # After the glue ran: the 2xGPU pod without /dev/shm died in NCCL, the missing image is backing off.
    pods = [line.split() for line in out.splitlines() if line.startswith("clearml-id-")]
    assert ["2xGPU", "Failed", "Error", "(exit", "1)"] in [p[1:] for p in pods]
    assert any(p[1:3] == ["green", "Pending"] and p[3] in ("ErrImagePull", "ImagePullBackOff") for p in pods)
    assert sum(p[2] == "Succeeded" for p in pods) >= 6
    # The story ends with why on that failed 2xGPU task.
    why = out[out.index("$ kubectl clearml why "):].splitlines()
    assert why[1] == "failed: exit 1 (NCCL /dev/shm too small)", why[:3]


def test_demo_and_a_command_together_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(["sandbox", "--demo", "--", "env"], home=str(tmp_path))
    assert result.exit_code == 2
    assert "--demo" in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_fixed_ports_are_used_and_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    kube_port, clearml_port = _free_port(), _free_port()
    shown = _sandbox(
        [
            "--port-kube",
            str(kube_port),
            "--port-clearml",
            str(clearml_port),
            "--",
            "sh",
            "-c",
            'cat "$KUBECONFIG" "$CLEARML_CONFIG_FILE"',
        ],
        tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    assert f"http://127.0.0.1:{kube_port}" in shown.stdout
    assert f"http://127.0.0.1:{clearml_port}" in shown.stdout


def test_same_port_for_both_servers_is_a_usage_error(tmp_path: Path) -> None:
    port = str(_free_port())
    failed = _sandbox(["--port-kube", port, "--port-clearml", port, "--", "true"], tmp_path)
    assert failed.returncode == 2
    assert failed.stderr.strip() == (
        f"kubectl clearml: error: --port-kube and --port-clearml are both {port}: give each server its own port")


@pytest.mark.parametrize("flag", ["--port-kube", "--port-clearml"])
def test_a_busy_port_error_names_the_flag(tmp_path: Path, flag: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = str(busy.getsockname()[1])
        failed = _sandbox([flag, taken, "--", "true"], tmp_path)
    assert failed.returncode == 2
    assert failed.stderr.strip() == (f"kubectl clearml: error: cannot start the sandbox: port already in use "
                                     f"({flag} {taken}): choose another port, or 0 for any free one")


def test_a_command_killed_by_a_signal_exits_128_plus_the_signal(tmp_path: Path) -> None:
    assert _sandbox(["--", "sh", "-c", "kill -TERM $$"], tmp_path).returncode == 128 + signal.SIGTERM


def test_sigterm_to_the_sandbox_is_passed_on_to_the_command(tmp_path: Path) -> None:
    """A service manager stops the sandbox with SIGTERM: the command must hear it, not be SIGKILLed later."""
    script = 'trap "echo got-term; exit 3" TERM; echo ready; while :; do sleep 0.1; done'
    process = subprocess.Popen([str(PLUGIN), "sandbox", "--", "sh", "-c", script], env=_env(tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert process.stdout is not None
        # "ready" comes from the command, so the sandbox is past start-up: SIGTERM right away is the race
        # (a handler installed only after the command started let the sandbox die and orphan the command).
        assert process.stdout.readline().strip() == "ready"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the sandbox and, should it be orphaned, the command
        process.wait()
    assert "got-term" in out, err  # the command ended on the forwarded signal (not killed 5 s later, unheard)
    assert process.returncode == 130 and "Traceback" not in err


def test_sigterm_during_the_demo_stops_cleanly_and_removes_the_temporary_directory(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process = subprocess.Popen([str(PLUGIN), "sandbox", "--demo"], env=_env(tmp_path, TMPDIR=str(scratch)),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("## "):  # the first step has begun: the sandbox and its directory exist
                break
        assert list(scratch.glob("kubectl-clearml-sandbox-*"))
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert err.rstrip().endswith("kubectl clearml: error: interrupted") and "Traceback" not in err
    assert list(scratch.glob("kubectl-clearml-sandbox-*")) == []
