"""Issue 15 item 7: `queues show` says why a task pod ended (the 2xGPU pod that died in NCCL: Error (exit 1))."""

from __future__ import annotations

import time

from tests.helpers import run_cli


def _wait_for(predicate, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_failed_task_pod_shows_how_it_ended(world):
    glue = run_cli(["run-glue", "-n", "clearml", "--once"], env=world.env)
    assert glue.exit_code == 0, glue.stderr

    def failed_2xgpu_pod():
        pods = world.store.list("pods")
        return [
            p for p in pods
            if (p["metadata"].get("labels") or {}).get("clearml-agent-queue-name") == "2xgpu"  # the reference lower-cases it
            and (p.get("status") or {}).get("phase") == "Failed"
        ]

    pod = _wait_for(failed_2xgpu_pod)[0]
    result = run_cli(["queues", "show", "2xGPU", "-n", "clearml"], env=world.env)
    assert result.exit_code == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith(pod["metadata"]["name"]))
    assert line.split()[1:4] == ["Failed", "Error", "(exit"], line
