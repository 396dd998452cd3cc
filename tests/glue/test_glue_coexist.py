"""Two consumers of one queue: run-glue beside the reference glue, or beside a second run-glue.

The reference glue (clearml-agent 3.0.3 ``K8sIntegration.run_tasks_loop``) pops with
``queues.get_next_task``, parks the task in ``k8s_scheduler`` and runs ``kubectl apply``; any text on
kubectl's stderr fails the task (``apply_template_and_handle_result`` -> ``_set_task_failed_while_applying``).
So the reference must never be able to pop a task whose pod we create: we claim (remove the entry)
before the create.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kubectl_clearml.glue.dispatcher import TransientDispatchError
from tests.glue.glue_harness import wait_for


def _started(h, queues, **options):
    engine = h.engine(queues, **options)
    assert engine._start(watch=False)
    return engine


class PopsWhenAPodAppears:
    """A stand-in for the reference glue's loop at its worst moment: it pops the queue head
    (``queues.get_next_task``, atomic on the server) the instant a task pod is created, i.e. inside the
    window between our create and anything we do after it. What it wins, the real reference would
    apply over our pod and fail."""

    def __init__(self, h, queue: str) -> None:
        self.h = h
        self.queue = queue
        self.won: list[str] = []
        self.unsubscribe = h.kube_emu.store.subscribe(self._on_change)

    def _on_change(self, kind, plural, obj) -> None:
        if (kind, plural) != ("ADDED", "pods"):
            return
        state = self.h.emu.state
        with state.lock:
            entries = state.resolve_queue(self.queue)["entries"]
            if entries:
                self.won.append(entries.pop(0)["task"])


def test_the_reference_glue_cannot_pop_a_task_whose_pod_we_create(h):
    h.queue("shared")
    tids = [h.task(f"job {n}", "shared") for n in range(5)]
    other = PopsWhenAPodAppears(h, "shared")
    engine = _started(h, ["shared"], batch_size=1)
    try:
        for _ in range(5):
            engine.dispatcher.round()
    finally:
        other.unsubscribe()
    # Before the claim-first order, each create let the other consumer pop the *same* task (5 of 5).
    launched = [t for t in tids if h.pod_of(t) is not None]
    assert not set(other.won) & set(launched), other.won
    assert set(other.won) | set(launched) == set(tids)  # each task went to exactly one consumer
    assert engine.metrics.total("clearml_glue_claims_lost_total") == 0


def test_a_claim_lost_to_another_consumer_creates_no_pod(h):
    h.queue("shared")
    tid = h.task("popped by the other glue between our read and our claim", "shared")
    engine = _started(h, ["shared"])
    heads = engine.dispatcher.peek(engine.settings.queues, 10)
    assert heads[engine.settings.queues[0].id] == [tid]
    h.clearml().call("queues.get_next_task", {"queue": h.emu.state.queue("shared")["id"]})
    task = engine.dispatcher.ops.read([tid])[tid]
    result = type(engine.dispatcher.round())()  # an empty RoundResult
    engine.dispatcher._launch(engine.settings.queues[0], task, result)
    assert h.pod_of(tid) is None and result.launched == 0
    assert engine.metrics.total("clearml_glue_claims_lost_total") == 1


def test_a_failed_create_gives_the_claimed_task_its_place_back(h):
    h.queue("cpu")
    first, second = h.task("create fails", "cpu"), h.task("behind it", "cpu")
    h.kube_emu.inject("POST", r"/pods$", status=500, count=2)  # the create and its immediate retry
    engine = _started(h, ["cpu"])
    try:
        engine.dispatcher.round()
    except TransientDispatchError as exc:
        assert exc.step.startswith("create pod")
    else:
        raise AssertionError("the create error was not reported")
    assert h.entries("cpu") == [first, second] and h.pod_of(first) is None
    assert engine.dispatcher.round().launched == 2
    wait_for(lambda: h.pod_of(first) is not None and h.pod_of(second) is not None)


BENCH = Path(__file__).resolve().parents[2] / "bench" / "coexist.py"


def run_bench(*args: str, timeout: float = 120) -> dict:
    run = subprocess.run([sys.executable, str(BENCH), *args, "--json"], capture_output=True, text=True, timeout=timeout)
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(importlib.util.find_spec("clearml_agent") is None, reason="needs the clearml-agent package")
def test_beside_the_real_reference_glue_no_task_is_failed_or_run_twice():
    """The real clearml-agent 3.0.3 glue and run-glue on one queue, tasks arriving in bursts while both poll.
    Before the claim-first order, 23 of 200 tasks were failed by the reference (bench/coexist.py)."""
    result = run_bench("--with-reference", "--tasks", "60", "--trickle", "3", "--burst", "15", "--seed", "3")
    assert result["failed_by_a_glue"] == 0 and result["run_twice"] == 0, result
    assert result["stranded"] == 0 and result["left_queued"] == 0 and result["without_pod"] == 0, result
