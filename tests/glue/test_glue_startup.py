"""run-glue at start-up: a transient failure of any start-up read (5xx) is retried with the loop's backoff,
not the end of the process (issue 17: a soak's last restart met one 500 on the release Secret, exited 5 and
left 124 tasks queued). A permanent refusal (403) still stops it at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.glue.glue_harness import wait_for


def start_glue(world, tmp_path):
    env = {**os.environ, **world.env, "HOME": str(tmp_path)}
    log = tmp_path / "glue.log"
    with open(log, "wb") as handle:
        glue = subprocess.Popen(
            [sys.executable, "-m", "kubectl_clearml", "run-glue", "-n", "clearml", "--poll-interval", "0.2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=handle,
        )
    return glue, log


def test_a_500_on_every_start_up_read_is_retried_and_the_glue_starts(make_world, tmp_path):
    world = make_world(in_pod_agent=False)
    ns = "/api/v1/namespaces/clearml"
    faults = {
        "the Helm release Secret": world.kube.inject("GET", f"^{ns}/secrets$", count=1),
        "the glue Deployment": world.kube.inject("GET", r"^/apis/apps/v1/namespaces/clearml/deployments", count=1),
        "the template ConfigMap": world.kube.inject("GET", f"^{ns}/configmaps/", count=1),
        "the first pod list": world.kube.inject("GET", f"^{ns}/pods$", count=1),
    }
    rules = {
        "the ClearML login": world.clearml.inject(r"^auth\.login$", error_rate=1.0, kinds=("500",), times=1),
        "the queue lookup": world.clearml.inject(r"^queues\.get_all$", error_rate=1.0, kinds=("500",), times=1),
    }
    glue, log = start_glue(world, tmp_path)
    task = world.world.task_ids["preprocess-imagenet-shard-01"]
    try:
        wait_for(
            lambda: glue.poll() is not None or world.store.get("pods", f"clearml-id-{task}", "clearml"),
            timeout=60,
            what="the glue to start despite the faults and launch a pod",
        )
    finally:
        glue.send_signal(signal.SIGTERM)
        code = glue.wait(30)
    text = log.read_text()
    assert code == 0, text
    assert world.store.get("pods", f"clearml-id-{task}", "clearml"), text
    assert {what: f.fired for what, f in faults.items()} == {"the Helm release Secret": 1, "the glue Deployment": 1,
                                                             "the template ConfigMap": 1, "the first pod list": 1}
    assert {what: r.injected for what, r in rules.items()} == {"the ClearML login": 1, "the queue lookup": 1}
    assert "agent install failed" in text and "retrying in" in text  # said on stderr, not silent
    assert "Traceback" not in text


def test_a_forbidden_release_secret_still_exits_4_at_once(make_world, tmp_path):
    world = make_world(in_pod_agent=False)
    world.kube.deny("list", "secrets", "clearml")
    glue, log = start_glue(world, tmp_path)
    try:
        code = glue.wait(30)
    finally:
        if glue.poll() is None:
            glue.kill()
    assert code == 4, log.read_text()
    assert "forbidden" in log.read_text()
