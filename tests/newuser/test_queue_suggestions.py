"""Issue 15 item 13: an unknown queue's "did you mean" offers close names, never the hidden k8s_scheduler."""

from __future__ import annotations

from tests.helpers import run_cli


def test_unknown_queue_suggests_no_hidden_queue(world):
    result = run_cli(["queues", "show", "nosuchqueue", "-n", "clearml"], env=world.env)
    assert result.exit_code == 3
    assert "k8s_scheduler" not in result.stderr
    assert result.stderr == (
        "kubectl clearml: error: queue 'nosuchqueue' not found (ClearML): kubectl clearml queues --all lists them\n"
    )
    close = run_cli(["queues", "show", "1xgp", "-n", "clearml"], env=world.env)
    assert close.exit_code == 3 and "did you mean: 1xGPU" in close.stderr
