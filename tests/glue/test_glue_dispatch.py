"""Dispatch rules end to end: limits, priority, errors sorted into transient / permanent / fatal."""

from __future__ import annotations

import pytest

from kubectl_clearml.errors import AuthError
from kubectl_clearml.glue.clock import FakeClock
from tests.glue.glue_harness import container_status, wait_for


def _finish(h, task_id):
    h.kube_emu.store.update_pod_status(h.namespace, f"clearml-id-{task_id}", container_status("Succeeded", exit_code=0))


def test_max_pods_is_respected_and_freed_slots_are_reused(h):
    h.queue("cpu")
    tids = [h.task(f"job {i}", "cpu") for i in range(5)]
    engine = h.start(h.engine(["cpu"], max_pods=2))
    wait_for(lambda: len(h.pods()) == 2, what="two pods")
    wait_for(lambda: engine.summary.rounds > 20, what="more rounds")
    assert len(h.pods()) == 2
    assert h.entries("cpu") == tids[2:]  # FIFO, the rest waits at the head
    _finish(h, tids[0])
    wait_for(lambda: len(h.pods()) == 3, what="a third pod after one finished")
    assert h.pod_of(tids[2]) is not None


def test_per_queue_limit_from_queue_settings(h):
    h.queue("big")
    h.queue("small")
    big = [h.task(f"big {i}", "big") for i in range(3)]
    small = [h.task(f"small {i}", "small") for i in range(3)]
    engine = h.start(h.engine(["big", "small"], queue_max_pods={"big": 1}))
    wait_for(lambda: len(h.pods()) == 4, what="1 + 3 pods")
    wait_for(lambda: engine.summary.rounds > 10)
    assert [t for t in big if h.pod_of(t)] == big[:1]
    assert all(h.pod_of(t) for t in small)


def test_queue_priority_is_strict(h):
    h.queue("high")
    h.queue("low")
    low = [h.task(f"low {i}", "low") for i in range(3)]
    high = [h.task(f"high {i}", "high") for i in range(3)]
    h.start(h.engine(["high", "low"], max_pods=3, batch_size=1))
    wait_for(lambda: len(h.pods()) == 3)
    assert all(h.pod_of(t) for t in high)
    assert not any(h.pod_of(t) for t in low)
    assert h.entries("low") == low


def test_transient_create_errors_keep_the_task_at_the_head(h):
    h.queue("cpu")
    first, second = h.task("first", "cpu"), h.task("second", "cpu")
    h.kube_emu.inject("POST", r"/pods$", status=500, count=3)
    engine = h.start(h.engine(["cpu"]))
    wait_for(lambda: h.pod_of(first) and h.pod_of(second), what="both pods despite 5xx")
    assert engine.summary.errors >= 1
    wait_for(lambda: h.entries("cpu") == [], what="both entries popped")
    assert h.status(first)[0] == "queued"  # never failed for a server hiccup


def test_permanent_refusal_fails_the_task_with_the_reason(h):
    h.queue("cpu")
    bad, good = h.task("bad", "cpu"), h.task("good", "cpu")
    # 422: the API server (or an admission webhook) rejects this spec; retrying cannot help.
    h.kube_emu.inject("POST", r"/pods$", status=422, count=1)
    h.start(h.engine(["cpu"]))
    wait_for(lambda: h.status(bad)[0] == "failed", what="the refused task failed")
    assert "Kubernetes refused pod clearml-id-" in h.status(bad)[1]
    wait_for(lambda: h.pod_of(good), what="the next task still launched")
    assert h.pod_of(bad) is None
    wait_for(lambda: h.entries("cpu") == [], what="both entries popped")


def test_bad_image_name_fails_only_that_task(h):
    h.queue("cpu")
    bad = h.task("bad image", "cpu", image="Not A Valid/Image::")
    good = h.task("good", "cpu")
    h.start(h.engine(["cpu"]))
    wait_for(lambda: h.pod_of(good))
    assert h.status(bad)[0] == "failed"
    assert "invalid image name" in h.status(bad)[1]


def test_forbidden_to_create_pods_is_fatal_and_leaves_nothing_half_done(h):
    h.queue("cpu")
    tid = h.task("job", "cpu")
    h.kube_emu.deny("create", "pods", h.namespace)
    engine = h.start(h.engine(["cpu"]))
    with pytest.raises(AuthError, match="forbidden"):
        wait_for(lambda: not next(t for e, t in h.engines if e is engine).is_alive(), what="the glue to stop")
        h.stop(engine)
    assert h.entries("cpu") == [tid]
    assert h.status(tid)[0] == "queued"
    assert h.pods() == []


def test_idle_cost_is_one_queue_read_per_poll_interval(h):
    for name in ("a", "b", "c", "d"):
        h.queue(name)
    engine = h.start(h.engine(["a", "b", "c", "d"], poll_interval=0.2, sweep_interval=1000, report_interval=1000))
    wait_for(lambda: engine.started and engine.summary.rounds >= 2)
    h.emu.requests.clear()
    rounds_before = engine.summary.rounds
    wait_for(lambda: engine.summary.rounds >= rounds_before + 5)
    rounds = engine.summary.rounds - rounds_before
    by_endpoint = h.emu.requests.by_endpoint()
    assert by_endpoint.get("queues.get_next_task", 0) == 0  # we peek, we never pop blindly
    # One queues.get_all covers all four queues; nothing else while idle.
    assert by_endpoint.get("queues.get_all", 0) <= rounds + 1
    assert sum(by_endpoint.values()) <= rounds + 2


def test_edited_templates_are_picked_up_without_a_restart(h):
    h.queue("cpu")
    current = {"cpu": {"metadata": {"labels": {"team": "vision"}}, "spec": {"containers": [{"name": "main"}]}}}
    engine = h.start(
        h.engine(["cpu"], templates=dict(current), reload_templates=lambda: dict(current), sweep_interval=0.1)
    )
    first = h.task("before the edit", "cpu")
    assert wait_for(lambda: h.pod_of(first))["metadata"]["labels"]["team"] == "vision"

    current["cpu"] = {"metadata": {"labels": {"team": "speech"}}, "spec": {"containers": [{"name": "main"}]}}
    wait_for(lambda: engine.settings.queues[0].template["metadata"]["labels"]["team"] == "speech")
    second = h.task("after the edit", "cpu")
    assert wait_for(lambda: h.pod_of(second))["metadata"]["labels"]["team"] == "speech"

    current["cpu"] = {"kind": "Deployment", "spec": {}}  # a broken edit is refused, the last good one stays
    wait_for(lambda: engine.summary.rounds > 30)
    third = h.task("after a broken edit", "cpu")
    assert wait_for(lambda: h.pod_of(third))["metadata"]["labels"]["team"] == "speech"


def test_an_unlaunchable_head_does_not_starve_lower_queues(h):
    h.queue("high")
    h.queue("low")
    ghost = h.task("deleted while queued", "high")
    with h.emu.state.lock:
        del h.emu.state.tasks[ghost]  # its entry stays behind in the queue
    low = h.task("low priority", "low")
    h.start(h.engine(["high", "low"]))
    wait_for(lambda: h.pod_of(low), what="the lower queue served")
    assert h.entries("high") == [ghost]


def test_a_short_sweep_interval_does_not_re_read_the_templates_every_sweep(h):
    """--sweep-interval 1 (bench/coexist.py uses it) must not re-read the agent's Helm release every second."""
    h.queue("cpu")
    reads: list[int] = []
    clock = FakeClock()
    engine = h.engine(
        ["cpu"],
        reload_templates=lambda: reads.append(1) or {},
        sweep_interval=0.05,
        template_interval=30.0,
        clock=clock,
    )
    assert engine._start(watch=False)
    for _ in range(40):
        engine._iterate()  # each idle iteration sleeps one 0.05 s poll on the fake clock: 40 sweeps in 2 s
    assert reads == []
    clock.advance(30.0)
    engine._iterate()
    assert reads == [1]
