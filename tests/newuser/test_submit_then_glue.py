"""Issue 15 item 6: one rule for a task submit-pod ran: it stays queued (its pod's agent runs it with
--require-queue) and run-glue, finding the pod, removes the entry and says so instead of dropping it silently."""

from __future__ import annotations

from tests.helpers import run_cli


def test_submit_pod_then_run_glue_say_what_happens_to_the_entry(make_world):
    world = make_world(time_scale=2.0)  # the pod is still running when run-glue looks
    task = world.clearml.state.queue_by_name("2xGPU")["entries"][0]["task"]
    created = run_cli(["submit-pod", task, "--queue", "2xGPU", "-n", "clearml"], env=world.env)
    assert created.exit_code == 0, created.stderr
    assert f"task {task} stays queued in 2xGPU until its pod's agent starts it" in created.stderr
    glue = run_cli(["run-glue", "-n", "clearml", "--once", "--queue", "2xGPU"], env=world.env)
    assert glue.exit_code == 0, glue.stderr
    assert f"task {task} from queue 2xGPU: pod clearml-id-{task} already exists and runs it (submit-pod or an " \
        "earlier run): entry removed, nothing launched" in glue.stderr
    assert f"task {task} from queue 2xGPU: launched" not in glue.stderr
    assert task not in [e["task"] for e in world.clearml.state.queue_by_name("2xGPU")["entries"]]
