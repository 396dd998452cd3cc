"""Issue 15 item 14: completion of run-glue --queue, submit-pod's pending task ids, served queues only."""

from __future__ import annotations

import pytest

from tests.distribution.test_completion_values import KUBECTL, complete

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is installed by .ci/run; never skipped in CI")


def test_run_glue_queue_offers_queues(world, tmp_path):
    lines = complete("run-glue", "-n", "clearml", "--queue", "1x", env=world.env, home=tmp_path)
    assert lines[0].startswith("1xGPU\t") and lines[-1] == ":4"


def test_submit_pod_offers_the_pending_tasks_of_the_chosen_queue(world, tmp_path):
    queue = world.clearml.state.queue_by_name("2xGPU")
    expected = [e["task"] for e in queue["entries"]]
    lines = complete("submit-pod", "-n", "clearml", "--queue", "2xGPU", "", env=world.env, home=tmp_path)
    assert [line.split("\t")[0] for line in lines[:-1]] == expected
    assert all("pending in 2xGPU" in line for line in lines[:-1])


def test_diff_template_and_shm_fix_offer_only_served_queues(world, tmp_path):
    for command in ("diff-template", "shm-fix"):
        names = [line.split("\t")[0] for line in complete(command, "-n", "clearml", "", env=world.env, home=tmp_path)]
        assert "default" not in names and "2xGPU" in names, (command, names)
