"""Issue 15 item 5: `gpu-report -l` narrows the view; verdicts and the dashboard check use the whole cluster."""

from __future__ import annotations

import json

from tests.helpers import run_cli


def _report(world, *extra):
    result = run_cli(["gpu-report", "-n", "clearml", "-o", "json", *extra], env=world.env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_selector_narrows_the_view_not_the_verdicts(world):
    whole, _ = _report(world)
    hopper, notes = _report(world, "-l", "nvidia.com/gpu.family=hopper")
    assert hopper["products"] == [] and hopper["nodes"] == []
    assert {q["name"]: q["verdict"] for q in hopper["queues"]} == {q["name"]: q["verdict"] for q in whole["queues"]}
    assert "MISCONFIGURED" not in json.dumps(hopper["queues"]) and "NO ELIGIBLE NODE" not in json.dumps(hopper["queues"])
    assert "narrows the node and product views to 0 of 7 node(s)" in notes
    ampere, _ = _report(world, "-l", "nvidia.com/gpu.family=ampere")
    assert ampere["cluster"] == whole["cluster"]  # the dashboard check counts every GPU (28), not the view's 20
    assert whole["cluster"]["physicalGpus"] == 28
    assert {n["name"] for n in ampere["nodes"]} < {n["name"] for n in whole["nodes"]}


def test_a_bad_selector_is_bad_input(world):
    result = run_cli(["gpu-report", "-n", "clearml", "-l", "a in (b"], env=world.env)
    assert result.exit_code == 2 and "invalid label selector" in result.stderr
