"""A task's whole life under run-glue, end to end over HTTP against both emulators."""

from __future__ import annotations

from tests.glue.glue_harness import InPodAgent, container_status, wait_for

GPU_MESSAGE = "0/5 nodes are available: 5 Insufficient nvidia.com/gpu."


def test_queued_pending_running_completed(h):
    h.queue("gpu")
    tid = h.task("train resnet", "gpu")
    engine = h.start(h.engine(["gpu"]))
    agent = InPodAgent(h.clearml(), engine.settings.worker_id)

    pod = wait_for(lambda: h.pod_of(tid), what="the task's pod")
    wait_for(lambda: h.entries("gpu") == [], what="the entry taken out once its pod exists")
    assert pod["metadata"]["labels"]["clearml-task-id"] == tid
    assert wait_for(lambda: h.status(tid)[2].startswith("launched: pod clearml-id-"), what="launch message")

    h.kube_emu.store.update_pod_status(
        h.namespace, pod["metadata"]["name"], container_status("Pending", unschedulable=GPU_MESSAGE)
    )
    wait_for(lambda: h.status(tid)[2] == f"pending: {GPU_MESSAGE}", what="the pending reason")
    assert h.status(tid)[0] == "queued"

    h.kube_emu.store.update_pod_status(h.namespace, pod["metadata"]["name"], container_status("Running"))
    agent.start(tid)
    assert h.status(tid)[0] == "in_progress"

    h.kube_emu.store.update_pod_status(h.namespace, pod["metadata"]["name"], container_status("Succeeded", exit_code=0))
    # The agent in the pod died before reporting: the glue settles the task from the exit code.
    wait_for(lambda: h.status(tid)[0] == "completed", what="completed")
    assert "exited with code 0" in h.status(tid)[1]
    h.stop(engine)
    assert h.pod_of(tid) is not None  # finished pods are kept for their logs


def test_pod_failing_with_exit_code_fails_the_task(h):
    h.queue("cpu")
    tid = h.task("etl job", "cpu")
    engine = h.start(h.engine(["cpu"]))
    pod = wait_for(lambda: h.pod_of(tid))
    InPodAgent(h.clearml(), engine.settings.worker_id).start(tid)
    h.kube_emu.store.update_pod_status(h.namespace, pod["metadata"]["name"], container_status("Failed", exit_code=137))
    wait_for(lambda: h.status(tid)[0] == "failed", what="failed")
    assert "exited with code 137" in h.status(tid)[1]


def test_image_pull_failure_fails_the_task_and_deletes_the_pod(h):
    h.queue("cpu")
    tid = h.task("typo image", "cpu", image="pyton:3.11")
    engine = h.start(h.engine(["cpu"]))
    pod = wait_for(lambda: h.pod_of(tid))
    h.kube_emu.store.update_pod_status(
        h.namespace,
        pod["metadata"]["name"],
        container_status(
            "Pending", waiting="ErrImagePull", message="pull access denied for pyton, repository does not exist"
        ),
    )
    wait_for(lambda: h.status(tid)[0] == "failed", what="failed")
    _, reason, _ = h.status(tid)
    assert "ErrImagePull" in reason and "pyton" in reason
    wait_for(lambda: h.pod_of(tid) is None, what="the pod deleted")
    h.stop(engine)
    # The closing summary counts the tracker's failures too, not only refused pod creates.
    assert (engine.summary.launched, engine.summary.failed) == (1, 1)


def test_abort_while_pending_deletes_the_pod(h):
    h.queue("gpu")
    tid = h.task("waits for a gpu", "gpu")
    h.start(h.engine(["gpu"]))
    wait_for(lambda: h.pod_of(tid))
    h.clearml().call("tasks.stop", {"task": tid})  # the user's Abort in the UI
    assert h.status(tid)[0] == "stopped"
    wait_for(lambda: h.pod_of(tid) is None, what="the pending pod deleted")
    assert h.status(tid)[0] == "stopped"


def test_abort_while_running_deletes_the_pod_and_marks_stopped(h):
    h.queue("gpu")
    tid = h.task("long training", "gpu")
    engine = h.start(h.engine(["gpu"]))
    pod = wait_for(lambda: h.pod_of(tid))
    h.kube_emu.store.update_pod_status(h.namespace, pod["metadata"]["name"], container_status("Running"))
    InPodAgent(h.clearml(), engine.settings.worker_id).start(tid)
    h.clearml().call("tasks.stop", {"task": tid})
    # A running task with a live worker only gets "stopping": the glue must act on it.
    wait_for(lambda: h.pod_of(tid) is None, what="the running pod deleted")
    wait_for(lambda: h.status(tid)[0] == "stopped", what="stopped")


def test_sigterm_like_stop_leaves_running_pods_and_unregisters(h):
    h.queue("cpu")
    tids = [h.task(f"job {i}", "cpu") for i in range(3)]
    engine = h.start(h.engine(["cpu"]))
    wait_for(lambda: all(h.pod_of(t) for t in tids))
    wait_for(lambda: engine.settings.worker_id in h.emu.state.worker_names(), what="registered")
    h.stop(engine)
    assert all(h.pod_of(t) for t in tids)
    assert engine.settings.worker_id not in h.emu.state.worker_names()


def test_task_deleted_in_clearml_is_no_error_loop(h):
    h.queue("gpu")
    tid = h.task("deleted later", "gpu")
    engine = h.start(h.engine(["gpu"]))
    pod = wait_for(lambda: h.pod_of(tid))
    wait_for(lambda: h.entries("gpu") == [])
    with h.emu.state.lock:
        del h.emu.state.tasks[tid]  # deleted in the UI
    h.kube_emu.store.update_pod_status(
        h.namespace, pod["metadata"]["name"], container_status("Pending", unschedulable=GPU_MESSAGE)
    )
    rounds = engine.summary.rounds
    wait_for(lambda: engine.summary.rounds > rounds + 20)
    assert engine.summary.errors == 0
    assert h.pod_of(tid) is not None
