"""Issue 15 item 18: numbers are numbers in every -o json output of our own view models.

Embedded Kubernetes objects (a queue's pod template) keep the API's conventions: quantities are strings
there, as `kubectl get -o json` prints them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import run_cli

NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")
# Keys whose values are Kubernetes objects or quantities, in the API's own shape: a template, the values a
# template diff changes, and resource requests formatted as Kubernetes does ("2", "500m", "1Gi").
KUBERNETES_OBJECTS = {"template", "oldValue", "newValue", "requests"}


def numeric_strings(doc: Any, path: str = "") -> Iterator[str]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key not in KUBERNETES_OBJECTS and not key.endswith("version"):  # '2.34' is a version, not a number
                yield from numeric_strings(value, f"{path}.{key}")
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from numeric_strings(value, f"{path}[{i}]")
    elif isinstance(doc, str) and NUMERIC.match(doc):
        yield f"{path}={doc!r}"


COMMANDS = [
    ["queues"],
    ["queues", "show", "2xGPU"],
    ["gpu-report"],
    ["gpu-report", "--by", "node"],
    ["gpu-report", "--by", "product"],
    ["gpu-report", "--by", "queue"],
    ["run-glue", "--dry-run=client"],
    ["shm-fix", "--check"],
    ["diff-template", "--all", "-o", "structured"],
    ["config", "--check"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_every_json_output_has_numbers_as_numbers(world, args):
    args = args if "-o" in args else [*args, "-o", "json"]
    result = run_cli([*args, "-n", "clearml"], env=world.env)
    assert result.exit_code in (0, 1), result.stderr
    doc = json.loads(result.stdout)
    assert list(numeric_strings(doc)) == []


def test_gpus_per_pod_is_a_number(world):
    rows = {r["name"]: r for r in json.loads(run_cli(["queues", "-n", "clearml", "-o", "json"], env=world.env).stdout)["items"]}
    assert rows["2xGPU"]["gpusPerPod"] == {"nvidia.com/gpu": 2} and rows["red"]["gpusPerPod"] == {}
    report = json.loads(run_cli(["gpu-report", "--by", "queue", "-n", "clearml", "-o", "json"], env=world.env).stdout)
    assert {r["name"]: r["gpusPerPod"] for r in report["items"]}["2xGPU"] == rows["2xGPU"]["gpusPerPod"]
