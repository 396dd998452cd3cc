"""Issue 15 item 16 (in part): the seeded agent is a registered worker; with --oss, tasks waiting in queues no
agent serves are warned about in queues and gpu-report."""

from __future__ import annotations

import json

from tests.helpers import run_cli


def test_seeded_agent_is_a_worker_of_the_queues_it_serves(world):
    rows = {r["name"]: r for r in json.loads(run_cli(["queues", "-n", "clearml", "-o", "json"], env=world.env).stdout)["items"]}
    assert rows["red"]["workers"] == 1 and rows["2xGPU"]["workers"] == 1
    assert rows["default"]["workers"] == 0  # served by no agent


def test_oss_world_warns_about_tasks_no_agent_serves(world_oss):
    warning = "6 task(s) wait in queue(s) 1xGPU, 2xGPU, GPUshm that the agent does not serve"
    queues = run_cli(["queues", "-n", "clearml"], env=world_oss.env)
    assert queues.exit_code == 0 and f"kubectl clearml: warning: {warning}" in queues.stderr
    report = run_cli(["gpu-report", "--by", "queue", "-n", "clearml"], env=world_oss.env)
    assert report.exit_code == 0 and warning in report.stderr


def test_enterprise_world_has_no_unserved_warning(world):
    assert "does not serve" not in run_cli(["queues", "-n", "clearml"], env=world.env).stderr


def test_gpu_report_shows_the_unserved_queues_with_the_reason(world_oss):
    """Issue 15 item 16: the queues a user's tasks wait in appear in the queue view, not only in a warning."""
    import json

    report = run_cli(["gpu-report", "--by", "queue", "-n", "clearml", "-o", "json"], env=world_oss.env)
    assert report.exit_code == 0, report.stderr
    rows = {q["name"]: q for q in json.loads(report.stdout)["items"]}
    for name in ("1xGPU", "2xGPU", "GPUshm"):
        assert rows[name]["verdict"] == "MISCONFIGURED"
        assert rows[name]["why"].startswith("the agent does not serve this queue") and rows[name]["pendingTasks"] >= 1
    table = run_cli(["gpu-report", "--by", "queue", "-n", "clearml"], env=world_oss.env).stdout
    assert "GPUshm" in table and "does not serve" in table
