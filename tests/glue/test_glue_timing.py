"""The loop's sleeping on an injected clock: poll interval when idle, no sleep while there is work,
exponential backoff with jitter on errors, capped."""

from __future__ import annotations

from kubectl_clearml.glue.clock import FakeClock
from tests.glue.glue_harness import wait_for


def test_idle_loop_sleeps_the_poll_interval_and_reads_once_per_interval(h):
    for name in ("a", "b", "c"):
        h.queue(name)
    clock = FakeClock()
    engine = h.start(
        h.engine(
            ["a", "b", "c"],
            clock=clock,
            poll_interval=7.0,
            sweep_interval=1e9,
            report_interval=1e9,
            abort_check_interval=1e9,
        )
    )
    wait_for(lambda: len(clock.slept) >= 5)
    h.emu.requests.clear()
    before = len(clock.slept)
    wait_for(lambda: len(clock.slept) >= before + 20)
    h.stop(engine)
    idle = clock.slept[before:]
    assert set(idle) == {7.0}
    # One queues.get_all covers the three queues; never a pop while idle.
    assert h.emu.requests.count("queues.get_all") <= len(idle) + 1
    assert h.emu.requests.count("queues.get_next_task") == 0


def test_no_sleep_while_tasks_wait(h):
    h.queue("cpu")
    for i in range(6):
        h.task(f"job {i}", "cpu")
    clock = FakeClock()
    engine = h.start(h.engine(["cpu"], clock=clock, poll_interval=7.0, batch_size=2))
    wait_for(lambda: engine.summary.launched == 6)
    h.stop(engine)
    # Three batches of two, back to back: the first sleep comes only once the queue is empty.
    assert engine.summary.rounds - engine.summary.idle_sleeps >= 3
    assert clock.slept[:0] == []


def test_errors_back_off_exponentially_with_jitter_up_to_the_cap(h):
    h.queue("cpu")
    clock = FakeClock()
    engine = h.engine(["cpu"], clock=clock, backoff_base=1.0, backoff_cap=16.0)
    h.emu.inject(r"^queues\.get_all$", error_rate=1.0, kinds=("500",))
    h.start(engine)
    wait_for(lambda: len(clock.slept) >= 10)
    h.stop(engine)
    sleeps = clock.slept[:10]
    for attempt, delay in enumerate(sleeps, start=1):
        ceiling = min(16.0, 2.0 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling, (attempt, sleeps)
    assert max(sleeps) <= 16.0
    assert len(set(sleeps)) > 5  # jittered, not in lockstep
