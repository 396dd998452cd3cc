"""Restart safety: a crash at any step of the dispatch neither duplicates nor strands a task."""

from __future__ import annotations

import time

from kubectl_clearml.core.podbuilder import agent_label
from tests.glue.glue_harness import wait_for


def _create_pod_like_the_glue(h, engine, queue_name, task_id):
    """What a glue that crashed right after the create left: the pod, and the entry still queued."""
    queue = next(q for q in engine.settings.queues if q.name == queue_name)
    task = h.emu.state.task(task_id)
    built = engine.dispatcher.build(task, queue)
    h.kube().create("pods", built.manifest, h.namespace)


def test_crash_after_create_before_pop_is_finished_without_a_second_pod(h):
    h.queue("cpu")
    tid = h.task("half dispatched", "cpu")
    other = h.task("untouched", "cpu")
    first = h.engine(["cpu"])
    _create_pod_like_the_glue(h, first, "cpu", tid)
    assert h.entries("cpu") == [tid, other]

    h.kube_emu.requests.clear()
    engine = h.start(h.engine(["cpu"]))  # same worker id: same label, owns the pod
    wait_for(lambda: h.entries("cpu") == [] and engine.summary.launched == 1, what="queue drained")
    pod_creates = [r for r in h.kube_emu.requests if r.method == "POST" and r.path.endswith("/pods")]
    assert len(pod_creates) == 1  # only `other`: the crashed task's pod was recognised, not re-created
    assert len(h.pods()) == 2
    assert engine.summary.launched == 1


def test_lost_create_answer_is_treated_as_launched(h):
    h.queue("cpu")
    tid = h.task("created but unanswered", "cpu")
    # The create is slower than the glue's read timeout: the glue gives up, the server creates it anyway.
    fault = h.kube_emu.inject("POST", r"/pods$", status=None, latency=1.0, count=1)
    engine = h.engine(["cpu"])
    engine.kube.request_timeout = (2.0, 0.3)
    h.start(engine)
    # Claimed first, then created: wait for both.
    wait_for(lambda: h.entries("cpu") == [] and h.pod_of(tid) is not None, what="the entry popped, the pod there")
    assert fault.fired == 1
    assert engine.metrics.get("clearml_glue_errors_total", step="create-retried") == 1
    time.sleep(1.2)  # until the slow create has surely been served too
    assert len(h.pods()) == 1
    assert h.entries("cpu") == []


def test_orphaned_pop_goes_back_to_the_head_of_its_queue(h):
    h.queue("cpu")
    orphan = h.task("popped by a crashed consumer", "cpu")
    later = h.task("queued after it", "cpu")
    # Someone popped the task (queues.get_next_task) and died before launching anything.
    h.clearml().call("queues.get_next_task", {"queue": h.emu.state.queue("cpu")["id"]})
    assert h.entries("cpu") == [later]
    engine = h.start(h.engine(["cpu"], sweep_interval=0.2))
    wait_for(lambda: h.pod_of(later) is not None, what="the queued task launched")
    wait_for(lambda: h.pod_of(orphan) is not None, what="the orphan launched after a second sweep")
    assert engine.reconciler.requeued == 1
    assert len(h.pods()) == 2


def park_like_the_reference(h, task_id: str, origin: str, scheduler: str) -> None:
    """What the reference glue does before its apply (clearml-agent 3.0.3 k8s.py run_tasks_loop and
    run_one_task): pop, log "task <id> pulled from <queue id> by worker <id>", park in k8s_scheduler (basic
    server: execution.queue follows the task there, so that log line is the only record of the origin)."""
    client = h.clearml()
    origin_id = h.emu.state.queue(origin)["id"]
    client.call("queues.move_task_to_front", {"queue": origin_id, "task": task_id})
    assert client.call("queues.get_next_task", {"queue": origin_id})["entry"]["task"] == task_id
    line = f"task {task_id} pulled from {origin_id} by worker k8s-glue-reference"
    client.call("events.add_batch", {"type": "log", "task": task_id, "worker": "k8s-glue-reference", "msg": line})
    client.call("tasks.enqueue", {"task": task_id, "queue": scheduler, "status_reason": "k8s pending scheduler"})


def test_tasks_stranded_in_the_reference_k8s_scheduler_queue_are_adopted(h):
    h.queue("gpu")
    scheduler = h.emu.state.create_queue("k8s_scheduler", system_tags=["k8s-glue"])
    stranded = h.task("parked by the reference glue", "gpu")
    park_like_the_reference(h, stranded, "gpu", scheduler)  # ... and then the reference crashed
    assert h.entries("gpu") == [] and h.entries("k8s_scheduler") == [stranded]
    engine = h.start(h.engine(["gpu"], adopt_grace=0.0, sweep_interval=0.2))
    wait_for(lambda: h.pod_of(stranded) is not None, what="the stranded task launched")
    wait_for(lambda: h.entries("k8s_scheduler") == [], what="k8s_scheduler emptied")
    assert engine.reconciler.adopted == 1


def test_dry_run_lists_the_stranded_tasks_the_start_would_adopt_first_and_moves_nothing(h):
    h.queue("gpu")
    scheduler = h.emu.state.create_queue("k8s_scheduler", system_tags=["k8s-glue"])
    waiting = h.task("queued the normal way", "gpu")
    stranded = [h.task(f"parked {i}", "gpu") for i in range(2)]
    h.clearml().call("queues.move_task_to_back", {"queue": h.emu.state.queue("gpu")["id"], "task": waiting})
    for tid in stranded:
        park_like_the_reference(h, tid, "gpu", scheduler)
    engine = h.engine(["gpu"], adopt_grace=0.0)
    rows = engine.preview()
    adopted = "launch (adopted from k8s_scheduler)"
    # Each adopted task is moved to the front in turn, so the last one adopted is launched first.
    assert [(r["task"], r["action"]) for r in rows] == [
        (stranded[1], adopted), (stranded[0], adopted), (waiting, "launch")
    ]
    assert h.entries("gpu") == [waiting] and h.entries("k8s_scheduler") == stranded and h.pods() == []
    # And the real start does what the preview said.
    engine = h.engine(["gpu"], adopt_grace=0.0)
    assert engine._start(watch=False)
    assert h.entries("gpu") == [stranded[1], stranded[0], waiting]


def test_pods_of_another_worker_id_are_not_ours(h):
    h.queue("cpu")
    h.task("job", "cpu")
    engine = h.start(h.engine(["cpu"], worker_id="glue-a"))
    wait_for(lambda: len(h.pods()) == 1)
    pod = h.pods()[0]
    assert pod["metadata"]["labels"]["CLEARML"] == agent_label("glue-a")
    assert engine.settings.worker_id == "glue-a"


def test_default_worker_id_is_stable_across_restarts(h):
    h.queue("cpu")
    assert h.engine(["cpu"]).settings.worker_id == h.engine(["cpu"]).settings.worker_id


def test_request_timeout_is_public_on_the_kube_adapter(h):
    kube = h.kube()
    kube.request_timeout = 0.5
    assert kube.request_timeout == (0.5, 0.5)
    kube.request_timeout = 30
    assert kube.request_timeout == (5.0, 30.0)
    try:
        kube.request_timeout = (1.0, 0)
    except ValueError:
        pass
    else:
        raise AssertionError("a zero read timeout was accepted")
    assert kube.request_timeout == (5.0, 30.0)
