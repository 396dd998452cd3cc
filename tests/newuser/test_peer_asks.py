"""Issue 15, asks from users of kube-capacity and kubectl: --sort-by on read commands, gpu-report --watch."""

from __future__ import annotations

import json

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


def test_gpu_report_watch_refreshes_until_ctrl_c(world, ctrl_c_on_second_sleep):
    sleeps = ctrl_c_on_second_sleep
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


def test_custom_columns_and_jsonpath_outputs(world):
    columns = run_cli(["queues", "-n", "clearml", "-o", "custom-columns=NAME:.name,PENDING:.pending"], env=world.env)
    assert columns.exit_code == 0, columns.stderr
    lines = columns.stdout.splitlines()
    assert lines[0].split() == ["NAME", "PENDING"] and ["2xGPU", "2"] in [line.split() for line in lines]
    names = run_cli(["queues", "-n", "clearml", "-o", "jsonpath={.items[*].name}"], env=world.env)
    assert "2xGPU" in names.stdout.split() and "red" in names.stdout.split()
    free = run_cli(["gpu-report", "--by", "node", "-n", "clearml", "-o", "jsonpath={.items[0].free}"], env=world.env)
    assert free.exit_code == 0 and free.stdout.strip().isdigit()
    one = run_cli(["queues", "show", "2xGPU", "-n", "clearml", "-o", "jsonpath={.queue.pending}"], env=world.env)
    assert one.stdout == "2"
    bad = run_cli(["queues", "-n", "clearml", "-o", "custom-columns=NAME"], env=world.env)
    assert bad.exit_code == 2 and "expected HEADER:.path" in bad.stderr
