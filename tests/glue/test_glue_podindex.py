"""The tracker's pod index keeps its per-queue active counts equal to a recount after any sequence of writes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kubectl_clearml.core.glue_policy import PodView
from kubectl_clearml.glue.podindex import PodIndex

views = st.builds(
    PodView,
    name=st.just("pod"),
    task_id=st.sampled_from(["t1", "t2", "t3", "t4"]),
    queue_id=st.sampled_from(["qa", "qb"]),
    phase=st.sampled_from(["Pending", "Running", "Succeeded", "Failed", "Unknown"]),
)
writes = st.one_of(
    st.tuples(st.just("set"), views),
    st.tuples(st.just("del"), st.sampled_from(["t1", "t2", "t3", "t4"])),
    st.tuples(st.just("pop"), st.sampled_from(["t1", "t2", "t3", "t4"])),
    st.tuples(st.just("setdefault"), views),
    st.tuples(st.just("update"), st.lists(views, max_size=3)),
    st.tuples(st.just("clear"), st.none()),
)


def recount(pods: dict[str, PodView]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for view in pods.values():
        if view.active:
            counts[view.queue_id] = counts.get(view.queue_id, 0) + 1
    return counts


@settings(max_examples=300, deadline=None)
@given(st.lists(views, max_size=4), st.lists(writes, max_size=30))
def test_counts_follow_every_write(initial, ops):
    index = PodIndex({v.task_id: v for v in initial})
    mirror = {v.task_id: v for v in initial}
    for op, arg in ops:
        if op == "set":
            index[arg.task_id] = mirror[arg.task_id] = arg
        elif op == "del" and arg in mirror:
            del index[arg]
            del mirror[arg]
        elif op == "pop":
            assert index.pop(arg, None) == mirror.pop(arg, None)
        elif op == "setdefault":
            assert index.setdefault(arg.task_id, arg) == mirror.setdefault(arg.task_id, arg)
        elif op == "update":
            index.update({v.task_id: v for v in arg})
            mirror.update({v.task_id: v for v in arg})
        elif op == "clear":
            index.clear()
            mirror.clear()
        assert dict(index) == mirror
        assert index.active_by_queue() == recount(mirror)
        assert index.active_total == sum(recount(mirror).values())
