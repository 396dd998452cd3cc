"""Finished pods are deleted once their task is settled and their keep time is over, and only then."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from kubectl_clearml.glue.clock import FakeClock
from tests.glue.glue_harness import InPodAgent, container_status, wait_for


def _stamp(ago: timedelta) -> str:
    return (datetime.now(timezone.utc) - ago).strftime("%Y-%m-%dT%H:%M:%SZ")


def _finish(h, task_id: str, exit_code: int = 0, ago: timedelta = timedelta(0)) -> None:
    """The kubelet's word that the pod's container ended ``ago`` (finishedAt)."""
    status = container_status("Succeeded" if exit_code == 0 else "Failed", exit_code=exit_code)
    status["containerStatuses"][0]["state"]["terminated"]["finishedAt"] = _stamp(ago)
    h.kube_emu.store.update_pod_status(h.namespace, f"clearml-id-{task_id}", status)


def _pod_lists(h) -> int:
    return sum(
        1
        for r in h.kube_emu.requests
        if r.method == "GET" and r.path.endswith("/pods") and r.query.get("watch") not in ("1", "true")
    )


def _launched_and_started(h, queue: str, names: list[str], **options):
    tids = [h.task(n, queue) for n in names]
    engine = h.start(h.engine([queue], **options))
    agent = InPodAgent(h.clearml(), engine.settings.worker_id)
    for tid in tids:
        wait_for(lambda t=tid: h.pod_of(t) is not None and t not in h.entries(queue), what="launched")
        agent.start(tid)
    return engine, agent, tids


def test_zero_deletes_as_soon_as_the_task_is_settled(h):
    h.queue("cpu")
    engine, agent, (done, failing) = _launched_and_started(h, "cpu", ["done", "oom"], delete_finished_after=0.0)
    agent.complete(done)
    _finish(h, done, 0)
    _finish(h, failing, 137)  # the agent died with its pod: the glue fails the task, then may delete
    wait_for(lambda: h.pod_of(done) is None and h.pod_of(failing) is None, what="both pods deleted")
    assert h.status(done)[0] == "completed"
    assert h.status(failing)[0] == "failed" and "137" in h.status(failing)[1]
    # Counted when the DELETE's answer is back: the pod can be gone from the server a moment before (CI saw 1).
    wait_for(lambda: engine.metrics.get("clearml_glue_pods_deleted_total", reason="finished") == 2,
             what="both deletes counted")
    assert "clearml_glue_pods_deleted_total" in engine.metrics.render()
    rounds = engine.summary.rounds
    wait_for(lambda: engine.summary.rounds > rounds + 10)
    assert engine.summary.errors == 0  # the DELETED events of our own deletes are not "pod vanished"
    assert h.status(done)[0] == "completed"


def test_pods_are_kept_for_the_keep_time_after_finishedAt(h):
    h.queue("cpu")
    engine, agent, (old, recent) = _launched_and_started(h, "cpu", ["old", "recent"], delete_finished_after=3600.0)
    for tid, ago in ((old, timedelta(hours=2)), (recent, timedelta(minutes=5))):
        agent.complete(tid)
        _finish(h, tid, 0, ago)
    wait_for(lambda: h.pod_of(old) is None, what="the pod that ended 2 h ago deleted")
    rounds = engine.summary.rounds
    wait_for(lambda: engine.summary.rounds > rounds + 10)
    assert h.pod_of(recent) is not None  # ended 5 min ago: kept for its logs
    assert engine.metrics.get("clearml_glue_pods_deleted_total", reason="finished") == 1


def test_a_task_not_settled_keeps_its_finished_pod(h):
    h.queue("cpu")
    engine, _agent, (tid,) = _launched_and_started(h, "cpu", ["settling"], delete_finished_after=0.0)
    # ClearML refuses to record the outcome for now: the task stays in_progress, so the pod must stay.
    h.emu.inject(r"^tasks\.(completed|failed)$", error_rate=1.0, kinds=("500",))
    _finish(h, tid, 0, timedelta(hours=3))
    wait_for(lambda: engine.summary.error_steps.get("track", 0) >= 3, what="settling retried")
    assert h.status(tid)[0] == "in_progress"
    assert h.pod_of(tid) is not None
    assert engine.metrics.get("clearml_glue_pods_deleted_total", reason="finished") == 0
    h.emu.clear_faults()
    wait_for(lambda: h.status(tid)[0] == "completed", what="settled")
    wait_for(lambda: h.pod_of(tid) is None, what="then deleted")


def test_a_task_queued_again_keeps_its_old_pod_until_relaunched(h):
    h.queue("cpu")
    engine, agent, (tid,) = _launched_and_started(h, "cpu", ["rerun"], delete_finished_after=None)
    agent.complete(tid)
    _finish(h, tid, 0, timedelta(hours=3))
    wait_for(lambda: engine.tracker.statuses.get(tid, ("",))[0] == "completed", what="seen completed")
    h.stop(engine)
    # The user re-enqueues it; the first glue's cache still says completed. The re-read refuses the delete.
    h.clearml().call("tasks.reset", {"task": tid, "force": True})
    h.clearml().call("tasks.enqueue", {"task": tid, "queue": h.emu.state.queue("cpu")["id"]})
    cleaner = h.engine(["cpu"], delete_finished_after=0.0).cleaner
    cleaner.tracker.load()
    cleaner.tracker.statuses[tid] = ("completed", "")  # stale, as a cache before the re-enqueue
    assert [v.task_id for v in cleaner.due(time.time())] == [tid]
    assert cleaner.run_if_due() == 0
    assert h.pod_of(tid) is not None
    assert cleaner.tracker.statuses[tid][0] != "completed"


def test_restart_finds_old_finished_pods_and_cleans_them_on_schedule(h):
    h.queue("cpu")
    first, agent, tids = _launched_and_started(h, "cpu", ["a", "b", "c"], delete_finished_after=None)
    old, older, fresh = tids
    finished = time.time()
    for tid, ago in ((old, timedelta(hours=2)), (older, timedelta(days=2)), (fresh, timedelta(seconds=1))):
        agent.complete(tid)
        _finish(h, tid, 0, ago)
    wait_for(lambda: all(first.tracker.pods[t].finished for t in tids), what="seen finished")
    h.stop(first)  # 'never' kept them all
    assert all(h.pod_of(t) is not None for t in tids)

    # The restarted glue runs step by step on a clock that stands still at the moment the pods ended, so
    # "fresh is kept until its 2.5 s are over" does not depend on how fast this machine restarts it.
    h.kube_emu.requests.clear()
    clock = FakeClock(finished)
    second = h.engine(["cpu"], delete_finished_after=2.5, clock=clock)
    assert second._start(watch=False)
    second.tracker.step(check_tasks=True)
    assert second.cleaner.run_if_due() == 2
    assert h.pod_of(old) is None and h.pod_of(older) is None
    assert h.pod_of(fresh) is not None
    clock.advance(3.0)
    assert second.cleaner.run_if_due() == 1
    assert h.pod_of(fresh) is None
    assert second.metrics.get("clearml_glue_pods_deleted_total", reason="finished") == 3
    assert _pod_lists(h) == 1  # the start-up list only: cleaning works from the tracker's cache


def test_pods_that_are_not_ours_are_never_deleted(h):
    h.queue("cpu")
    engine, agent, (tid,) = _launched_and_started(h, "cpu", ["mine"], delete_finished_after=0.0)
    stranger = h.task("someone else's", None)
    foreign = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"clearml-id-{stranger}",
            "namespace": h.namespace,
            "labels": {"CLEARML": "agent-0000beef", "clearml-task-id": stranger},
        },
        "spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"},
    }
    h.kube_emu.store.add(foreign)
    _finish(h, stranger, 0, timedelta(days=1))
    h.clearml().call("tasks.completed", {"task": stranger, "force": True})
    agent.complete(tid)
    _finish(h, tid, 0, timedelta(days=1))
    wait_for(lambda: h.pod_of(tid) is None, what="our pod deleted")
    rounds = engine.summary.rounds
    wait_for(lambda: engine.summary.rounds > rounds + 10)
    assert h.pod_of(stranger) is not None


def test_running_and_pending_pods_are_never_cleaned(h):
    h.queue("cpu")
    engine, agent, (tid,) = _launched_and_started(h, "cpu", ["running"], delete_finished_after=0.0)
    h.kube_emu.store.update_pod_status(h.namespace, f"clearml-id-{tid}", container_status("Running"))
    agent.complete(tid)  # the task says done but its container still runs (uploading artifacts)
    rounds = engine.summary.rounds
    wait_for(lambda: engine.summary.rounds > rounds + 10)
    assert h.pod_of(tid) is not None
    assert engine.metrics.get("clearml_glue_pods_deleted_total", reason="finished") == 0


def test_forbidden_delete_is_a_counted_error_not_a_crash(h):
    h.queue("cpu")
    engine, agent, (tid,) = _launched_and_started(h, "cpu", ["rbac"], delete_finished_after=0.0)
    rule = h.kube_emu.deny("delete", "pods", h.namespace)
    agent.complete(tid)
    _finish(h, tid, 0, timedelta(hours=1))
    wait_for(lambda: engine.summary.error_steps.get("cleanup", 0) >= 1, what="the refusal counted")
    assert h.pod_of(tid) is not None
    assert rule is not None
    # Clean-up turned itself off (said once), dispatching goes on.
    rounds = engine.summary.rounds
    wait_for(lambda: engine.summary.rounds > rounds + 10)
    assert engine.summary.error_steps["cleanup"] == 1
    later = h.task("still dispatched", "cpu")
    wait_for(lambda: h.pod_of(later) is not None, what="dispatch goes on")
    assert engine.cleaner.after is None
