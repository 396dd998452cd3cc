"""Issue 15 item 8: one --dry-run convention (kubectl's: `--dry-run=client`, bare `--dry-run` = client)."""

from __future__ import annotations

import pytest

from tests.helpers import run_cli


def test_run_glue_takes_dry_run_client(world):
    result = run_cli(["run-glue", "-n", "clearml", "--dry-run=client", "-o", "json"], env=world.env)
    assert result.exit_code == 0, result.stderr
    assert '"launch' in result.stdout
    bare = run_cli(["run-glue", "-n", "clearml", "--dry-run", "-o", "json"], env=world.env)
    assert (bare.exit_code, bare.stdout) == (0, result.stdout)
    assert world.clearml.requests.count("queues.get_next_task") == 0


@pytest.mark.parametrize(
    "args",
    [
        ["queues", "create", "newq", "--dry-run"],
        ["queues", "sync", "--dry-run"],
        ["submit-pod", "--queue", "1xGPU", "--image", "busybox", "--dry-run", "--", "true"],
    ],
)
def test_bare_dry_run_means_client_everywhere(world, args):
    pods_before = len(list(world.store.list("pods")))
    result = run_cli([*args, "-n", "clearml"], env=world.env)
    assert result.exit_code == 0, result.stderr
    assert world.clearml.state.queue_by_name("newq") is None
    assert len(list(world.store.list("pods"))) == pods_before
