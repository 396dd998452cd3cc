"""Races and corner cases the crash-point argument of glue/reconcile.py has to survive, end to end.

Each test drives the engine's steps by hand (no loop thread), so the interleaving under test is exact.
"""

from __future__ import annotations

import time

import pytest

from kubectl_clearml.errors import UsageError
from kubectl_clearml.glue.pod_create import TransientDispatchError
from tests.glue.glue_harness import InPodAgent, container_status


def _started(h, queues, **options):
    engine = h.engine(queues, **options)
    assert engine._start(watch=False)
    return engine


def test_a_relist_answered_before_a_create_does_not_fail_the_new_pods_task(h):
    """The watch thread relists (410 Gone) while the loop creates a pod: the list predates the pod.

    Applying that list must not take the new pod for one deleted behind our back: the task would be
    failed ("pod deleted while it ran") or put back in its queue while its pod runs it.
    """
    h.queue("cpu")
    tid = h.task("launched during a relist", "cpu")
    engine = _started(h, ["cpu"])
    stale_list, _ = engine.kube.list_with_version("pods", h.namespace, label_selector=engine.tracker.selector)
    assert engine.dispatcher.round().launched == 1
    InPodAgent(h.clearml(), engine.settings.worker_id).start(tid)
    engine.tracker._events.put(("RELIST", stale_list))
    engine.tracker.step()
    assert h.status(tid)[0] == "in_progress"
    assert h.entries("cpu") == []
    assert engine.tracker.has_active_pod(tid)  # still counted against --max-pods


def test_a_pod_really_deleted_behind_our_back_is_still_settled_after_a_relist(h):
    h.queue("cpu")
    tid = h.task("its pod is deleted by hand", "cpu")
    engine = _started(h, ["cpu"])
    assert engine.dispatcher.round().launched == 1
    InPodAgent(h.clearml(), engine.settings.worker_id).start(tid)
    engine.tracker.step()
    h.kube_emu.store.delete("pods", f"clearml-id-{tid}", h.namespace)
    fresh, _ = engine.kube.list_with_version("pods", h.namespace, label_selector=engine.tracker.selector)
    engine.tracker._events.put(("RELIST", fresh))
    engine.tracker.step()
    assert h.status(tid)[0] == "failed"
    assert "deleted while it ran" in h.status(tid)[1]


@pytest.mark.parametrize("phase", ["Pending", "Running"])
def test_a_task_dequeued_in_clearml_gets_its_pod_deleted(h, phase):
    """Dequeue is how the UI aborts a queued task (status back to created): its pod must not hold a slot."""
    h.queue("gpu")
    tid = h.task("dequeued by its owner", "gpu")
    engine = _started(h, ["gpu"], max_pods=1)
    assert engine.dispatcher.round().launched == 1
    name = f"clearml-id-{tid}"
    h.kube_emu.store.update_pod_status(h.namespace, name, container_status(phase))
    h.clearml().call("tasks.dequeue", {"task": tid})
    assert h.status(tid)[0] == "created"
    engine.tracker.step(check_tasks=True)
    assert h.pod_of(tid) is None
    assert h.status(tid)[0] == "created"  # the user's decision stands: not stopped, not failed
    assert not engine.tracker.active()


def test_a_template_placing_pods_outside_the_glue_namespace_is_refused_before_anything_moves(h):
    """The watch, the start list, --max-pods and the credentials Secret are all in the glue's namespace:
    a pod elsewhere would be invisible to it (after a restart its running task looks orphaned)."""
    h.queue("cpu")
    tid = h.task("would land elsewhere", "cpu")
    template = {"metadata": {"namespace": "elsewhere"}, "spec": {"containers": [{"name": "main"}]}}
    with pytest.raises(UsageError) as caught:
        h.engine(["cpu"], templates={"*": template})
    assert "elsewhere" in caught.value.one_line() and h.namespace in caught.value.one_line()
    assert h.entries("cpu") == [tid] and h.pods() == []


def test_a_rerun_task_is_not_failed_on_restart_for_the_finished_pod_of_its_previous_run(h):
    """Failed, kept pod (--delete-finished-after), enqueued again by its owner: a glue (re)start, or a
    relist, sees the old finished pod with a queued task. That pod is history, not a launch that died
    before the task started: the new run replaces it."""
    h.queue("cpu")
    tid = h.task("run twice", "cpu")
    engine = _started(h, ["cpu"])
    assert engine.dispatcher.round().launched == 1
    agent = InPodAgent(h.clearml(), engine.settings.worker_id)
    agent.start(tid)
    h.kube_emu.store.update_pod_status(h.namespace, f"clearml-id-{tid}", container_status("Failed", exit_code=1))
    h.clearml().call("tasks.failed", {"task": tid, "force": True})
    engine.tracker.step()
    first_uid = h.pod_of(tid)["metadata"]["uid"]
    h.clearml().call("tasks.enqueue", {"task": tid, "queue": h.emu.state.queue("cpu")["id"]})

    restarted = _started(h, ["cpu"])
    restarted.tracker.step()
    assert h.status(tid)[0] == "queued", h.status(tid)
    assert restarted.dispatcher.round().launched == 1
    assert h.pod_of(tid)["metadata"]["uid"] != first_uid  # the new run got a new pod
    assert h.entries("cpu") == []


def test_a_task_enqueued_again_while_its_old_pod_terminates_waits_for_it_instead_of_adopting_it(h):
    """Aborted (its pod deleted, still in its grace period), then enqueued again at once: the create
    answers 409 for the terminating pod. That pod is not this run's launch; taking the entry out of the
    queue on its strength would leave the new run with no pod once it is gone."""
    h.queue("cpu")
    tid = h.task("aborted and re-run", "cpu")
    engine = _started(h, ["cpu"])
    assert engine.dispatcher.round().launched == 1
    name = f"clearml-id-{tid}"
    InPodAgent(h.clearml(), engine.settings.worker_id).start(tid)
    old = engine.tracker.pods[tid]
    engine.tracker.forget(tid, name)  # what the glue does when it deletes a pod
    h.kube_emu.store.update(
        "pods", name, h.namespace, lambda pod: pod["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z")
    )
    h.clearml().call("tasks.stopped", {"task": tid, "force": True})
    h.clearml().call("tasks.enqueue", {"task": tid, "queue": h.emu.state.queue("cpu")["id"]})

    engine.tracker.step()
    with pytest.raises(TransientDispatchError) as caught:  # the loop backs off and tries again
        engine.dispatcher.round()
    assert caught.value.result.launched == 0 and h.entries("cpu") == [tid]  # still waiting, at the head

    h.kube_emu.store.delete("pods", name, h.namespace)
    engine.tracker.step()
    assert engine.dispatcher.round().launched == 1
    assert h.pod_of(tid)["metadata"]["uid"] != old.uid and h.entries("cpu") == []


def test_a_relist_that_keeps_failing_after_410_gone_backs_off_instead_of_spinning(h):
    """Watch answers 410 (history gone) and the relist is refused: each retry would expire at once."""
    h.queue("cpu")
    engine = _started(h, ["cpu"])
    h.task("anything, to move the resourceVersion on", "cpu")
    h.kube_emu.store.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bump", "namespace": "x"}})
    h.kube_emu.store.clear()  # the history now starts after the tracker's resourceVersion: the watch gets 410
    h.kube_emu.deny("list", "pods", h.namespace)
    engine.tracker.start_watch()
    time.sleep(1.5)
    engine.tracker.stop()
    expired = engine.metrics.get("clearml_glue_watch_restarts_total", reason="expired")
    # Backing off 0.4 s, 0.8 s, ... gives 2 or 3 tries in 1.5 s; a spinning loop makes hundreds.
    assert 1 <= expired <= 4, expired
