"""The dispatch pipeline (issue 17): task N's pod is created while task N+1 is claimed, and nothing else moves.

Every task is still claimed before its pod is created; task N's outcome is settled before task N+1's pod
is created; whenever claimed tasks go back to their queue, they go back in queue order.
"""

from __future__ import annotations

import pytest

from kubectl_clearml.errors import AuthError
from kubectl_clearml.glue.pod_create import TransientDispatchError


def _started(h, queues, **options):
    engine = h.engine(queues, **options)
    assert engine._start(watch=False)
    return engine


def test_the_next_task_is_claimed_while_a_pod_is_created(h):
    h.queue("cpu")
    tids = [h.task(f"job {n}", "cpu") for n in range(3)]
    h.kube_emu.inject("POST", r"/pods$", status=None, latency=0.3, count=1)  # the first create is slow
    entries_when_first_pod_appeared: list[list[str]] = []

    def on_change(kind, plural, obj) -> None:
        if (kind, plural) == ("ADDED", "pods") and obj["metadata"]["name"] == f"clearml-id-{tids[0]}":
            entries_when_first_pod_appeared.append(h.entries("cpu"))

    engine = _started(h, ["cpu"])
    unsubscribe = h.kube_emu.store.subscribe(on_change)
    try:
        result = engine.dispatcher.round()
    finally:
        unsubscribe()
    assert result.launched == 3 and h.entries("cpu") == []
    # While the first pod was being created, the second task had been claimed (out of the queue), not the third.
    assert entries_when_first_pod_appeared == [tids[2:]]
    assert all(h.pod_of(t) is not None for t in tids)


def test_a_create_refused_for_good_fails_only_its_task_and_the_claimed_next_one_launches(h):
    h.queue("cpu")
    bad, good = h.task("refused", "cpu"), h.task("behind it", "cpu")
    h.kube_emu.inject("POST", r"/pods$", status=422, count=1)
    result = _started(h, ["cpu"]).dispatcher.round()
    assert (result.launched, result.failed) == (1, 1)
    assert h.status(bad)[0] == "failed" and h.pod_of(bad) is None
    assert h.pod_of(good) is not None and h.entries("cpu") == []


def test_a_fatal_create_error_gives_every_claimed_task_back_in_queue_order(h):
    h.queue("cpu")
    tids = [h.task(f"job {n}", "cpu") for n in range(3)]
    h.kube_emu.deny("create", "pods", h.namespace)
    engine = _started(h, ["cpu"])
    with pytest.raises(AuthError, match="forbidden"):
        engine.dispatcher.round()
    assert h.entries("cpu") == tids and h.pods() == []
    assert {h.status(t)[0] for t in tids} == {"queued"}


def test_a_transient_create_error_gives_both_claimed_tasks_back_in_order_then_both_launch(h):
    h.queue("cpu")
    tids = [h.task(f"job {n}", "cpu") for n in range(3)]
    h.kube_emu.inject("POST", r"/pods$", status=503, count=2)  # the first create and its immediate retry
    engine = _started(h, ["cpu"])
    with pytest.raises(TransientDispatchError) as info:
        engine.dispatcher.round()
    assert info.value.step == f"create pod clearml-id-{tids[0]}"
    assert h.entries("cpu") == tids and h.pods() == []
    assert engine.dispatcher.round().launched == 3


def test_a_stop_after_the_next_claim_launches_the_pod_in_flight_and_gives_the_next_task_back(h):
    h.queue("cpu")
    tids = [h.task(f"job {n}", "cpu") for n in range(3)]
    engine = _started(h, ["cpu"])
    asked = []

    def should_stop() -> bool:
        # Asked before each task and right after each claim: the 4th time is right after the second claim.
        asked.append(1)
        return len(asked) >= 4

    result = engine.dispatcher.round(should_stop)
    assert result.launched == 1 and h.pod_of(tids[0]) is not None
    assert h.entries("cpu") == tids[1:] and h.pod_of(tids[1]) is None
