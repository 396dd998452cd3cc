"""Issue 15, asks from users of kube-capacity and kubectl: --sort-by on read commands, gpu-report --watch."""

from __future__ import annotations

import json
import time

from tests.helpers import run_cli


def test_sort_by_orders_rows_as_kubectl_does(world):
    result = run_cli(["queues", "-n", "clearml", "--sort-by", ".pending", "-o", "json"], env=world.env)
    assert result.exit_code == 0, result.stderr
    pending = [r["pending"] for r in json.loads(result.stdout)["items"]]
    assert pending == sorted(pending)
    nodes = run_cli(["gpu-report", "--by", "node", "-n", "clearml", "--sort-by", "free", "-o", "json"], env=world.env)
    free = [r["free"] for r in json.loads(nodes.stdout)["items"]]
    assert free == sorted(free)
    table = run_cli(["gpu-report", "--by", "queue", "-n", "clearml", "--sort-by", "name"], env=world.env)
    names = [line.split()[0] for line in table.stdout.splitlines()[1:]]
    assert names == sorted(names)
    bad = run_cli(["queues", "-n", "clearml", "--sort-by", ".nosuch"], env=world.env)
    assert bad.exit_code == 2 and "no row has this field" in bad.stderr


def test_gpu_report_watch_refreshes_until_ctrl_c(world, monkeypatch):
    sleeps = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", sleep)
    result = run_cli(["gpu-report", "--by", "product", "-n", "clearml", "--watch", "--interval", "1"], env=world.env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("PRODUCT ") == 2 and sleeps[0] == 1.0
    assert result.stderr.count("refreshed at") == 2 and "error" not in result.stderr


def test_label_columns_on_the_node_view(world):
    result = run_cli(["gpu-report", "--by", "node", "-n", "clearml", "-L", "nvidia.com/gpu.family"], env=world.env)
    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[-1] == "GPU.FAMILY"
    assert {line.split()[-1] for line in rows if line.startswith("gpu-a100")} == {"ampere"}
    doc = json.loads(run_cli(["gpu-report", "--by", "node", "-n", "clearml", "-L", "nvidia.com/gpu.family", "-o", "json"],
                             env=world.env).stdout)
    assert doc["items"][0]["labels"] == {"nvidia.com/gpu.family": "ampere"}
