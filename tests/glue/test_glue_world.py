"""run-glue as a process in the sandbox world: the agent install's queues and templates, the simulated
scheduler and kubelet, and the agent in each pod reporting to ClearML. SIGTERM ends it cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

from tests.glue.glue_harness import wait_for


def task_state(world, name):
    task = world.clearml.state.task(world.world.task_ids[name])
    return task["status"], task.get("status_reason") or "", task.get("status_message") or ""


def test_the_whole_story_with_the_agent_install(world, tmp_path):
    env = {**os.environ, **world.env, "HOME": str(tmp_path)}
    log = tmp_path / "glue.log"
    out = tmp_path / "glue.out"
    with open(log, "wb") as handle, open(out, "wb") as summary:
        glue = subprocess.Popen(
            [sys.executable, "-m", "kubectl_clearml", "run-glue", "-n", "clearml", "--poll-interval", "0.2"]
            + ["--log-format", "json"],
            env=env,
            stdout=summary,
            stderr=handle,
        )
    try:
        # Served queues, templates and the credentials Secret come from the live Helm release.
        wait_for(
            lambda: task_state(world, "preprocess-imagenet-shard-01")[0] == "completed",
            timeout=30,
            what="a red task run to completion by its pod",
        )
        _, reason, _ = wait_for(
            lambda: (s := task_state(world, "nightly-report"))[0] == "failed" and s,
            timeout=30,
            what="the missing image failing its task",
        )
        assert "ErrImagePull" in reason or "ImagePullBackOff" in reason
        # The task is failed first, then its pod deleted: wait for the second step too.
        failed_pod = "clearml-id-" + world.world.task_ids["nightly-report"]
        wait_for(lambda: world.store.get("pods", failed_pod, "clearml") is None, what="the failed task's pod deleted")
        assert world.clearml.state.queue_entries("red") == []
        # The reference glue's leftover in its hidden k8s_scheduler queue is adopted and launched.
        stranded = world.world.task_ids["stranded-by-reference-glue"]
        wait_for(lambda: world.store.get("pods", f"clearml-id-{stranded}", "clearml"), what="the stranded task's pod")
        assert world.clearml.state.queue_entries("k8s_scheduler") == []
    finally:
        glue.send_signal(signal.SIGTERM)
        code = glue.wait(30)
    text = log.read_text()
    assert code == 0, text
    records = [json.loads(line) for line in text.splitlines()]  # every stderr line is JSON, the signal's too
    assert any("SIGTERM: stopping after the current dispatch" in r["msg"] for r in records)
    assert any("reference glue's queue k8s_scheduler: back at the head of queue" in r["msg"] for r in records)
    assert any(r["level"] == "warning" and "failed, its pod deleted" in r["msg"] for r in records)
    assert re.fullmatch(r"run-glue: \d+ launched, \d+ failed, 0 finished pods deleted, \d+ transient errors\n", out.read_text())
    assert world.clearml.secret_key not in text
    assert all(not w.startswith("k8s-glue-clearml-") for w in world.clearml.state.worker_names()), "unregistered"
