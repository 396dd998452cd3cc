"""The pod's start script, executed for real by bash with a stand-in Python on PATH.

What the glue relies on: the pod's exit code is the task's, the agent is installed unless told not to,
the task's setup script runs first, and a restart with a persistent HOME leaves no duplicated files.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from kubectl_clearml.core.podbuilder import GlueSettings, QueueRef, build_task_pod

TASK_ID = "aaaabbbbccccddddeeeeffff00001111"
BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="bash is not installed")

# A python3 that understands just what the script asks of it and logs every call.
FAKE_PYTHON = """#!/bin/sh
echo "python $*" >> "$CALLS"
case "$*" in
  "-m pip --version") exit 0 ;;
  "-m pip install"*) [ -n "$PIP_FAILS" ] && exit 1; exit 0 ;;
  "-m clearml_agent execute"*) exit "${TASK_EXIT:-0}" ;;
esac
exit 64
"""


def pod_script(setup: str | None = None, **settings: object) -> str:
    task = {"id": TASK_ID, "container": {"image": "python:3.11", "setup_shell_script": setup}}
    built = build_task_pod(task, QueueRef("q", "default"), None, GlueSettings(worker_id="w", **settings))  # type: ignore[arg-type]
    command = built.manifest["spec"]["containers"][0]["command"]
    assert command[:2] == ["/bin/bash", "-c"]
    return str(command[2])


def run(script: str, tmp_path: Path, **env: str) -> tuple[int, list[str]]:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    fake = bindir / "python3"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    calls = tmp_path / "calls.log"
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    full_env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(home), "CALLS": str(calls), **env}
    assert BASH
    proc = subprocess.run([BASH, "-c", script], env=full_env, capture_output=True, text=True, timeout=30)
    lines = calls.read_text().splitlines() if calls.exists() else []
    return proc.returncode, lines


@pytest.mark.parametrize("code", ["0", "1", "3"])
def test_pod_exit_code_is_the_task_exit_code(tmp_path: Path, code: str) -> None:
    status, calls = run(pod_script(), tmp_path, TASK_EXIT=code, LOCAL_PYTHON="python3")
    assert status == int(code)
    assert calls[-1] == f"python -m clearml_agent execute --full-monitoring --require-queue --id {TASK_ID}"
    assert any(c.startswith("python -m pip install") and "clearml-agent" in c for c in calls)


def test_no_update_skips_install_and_setup_script_runs_first(tmp_path: Path) -> None:
    marker = tmp_path / "setup-ran"
    script = pod_script(
        setup=f'echo "$CLEARML_WORKER_ID" > {marker}\necho setup >> "$CALLS"', agent_install_args="==1.9.2"
    )
    status, calls = run(script, tmp_path, CLEARML_AGENT_NO_UPDATE="1", LOCAL_PYTHON="python3")
    assert status == 0
    assert not any("pip install" in c for c in calls)
    assert calls.index("setup") < len(calls) - 1
    assert marker.exists()


def test_failed_install_stops_the_pod_with_a_clear_message(tmp_path: Path) -> None:
    status, calls = run(pod_script(), tmp_path, PIP_FAILS="1", LOCAL_PYTHON="python3")
    assert status == 97
    assert not any("clearml_agent execute" in c for c in calls)


def test_restart_with_persistent_home_writes_nothing(tmp_path: Path) -> None:
    script = pod_script()
    for _ in range(2):
        status, _calls = run(script, tmp_path, LOCAL_PYTHON="python3")
        assert status == 0
    assert os.listdir(tmp_path / "home") == []
    assert ">>" not in script


def test_install_args_are_quoted(tmp_path: Path) -> None:
    injected = tmp_path / "injected"
    status, calls = run(pod_script(agent_install_args=f"==1.9.2; touch {injected}"), tmp_path, LOCAL_PYTHON="python3")
    assert status == 0
    installs = [c for c in calls if "pip install" in c]
    assert installs and installs[0].endswith(f"clearml-agent==1.9.2; touch {injected}")
    assert not injected.exists()


def test_newest_python_with_pip_is_found(tmp_path: Path) -> None:
    run("true", tmp_path)  # creates bin/python3
    newest = tmp_path / "bin" / "python3.20"  # newer than anything on the machine, so the search picks it
    shutil.copy(tmp_path / "bin" / "python3", newest)
    status, calls = run(pod_script(), tmp_path, TASK_EXIT="5")
    assert status == 5
    assert calls[0] == "python -m pip --version"
    assert calls[-1].startswith("python -m clearml_agent execute")
