"""The short soak: bench/soak.py with 60 tasks, 10% faults on both servers and 3 SIGKILLs of the glue."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def test_sigkill_and_faults_neither_duplicate_nor_strand_tasks():
    run = subprocess.run(
        [
            sys.executable,
            str(SOAK),
            "--tasks",
            "60",
            "--kills",
            "3",
            "--max-kill-delay",
            "1.5",
            "--seed",
            "11",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["tasks_with_exactly_one_pod"] == 60, result
    assert result["tasks_with_several_pods"] == 0 and result["pods_of_unknown_tasks"] == 0, result
    assert result["tasks_launched_twice"] == 0, result  # a pod deleted and created again is a relaunch
    assert result["stranded"] == 0 and result["left_in_queues"] == 0, result
    assert result["secret_leaks"] == {"pod specs": 0, "log lines": 0, "status texts": 0}, result
    assert not result["clearml_faults_injected"].startswith("0 ") and not result["kube_faults_injected"].startswith(
        "0 "
    )
    assert len(result["pods_at_each_kill"]) == 3
    assert run.returncode == 0 and result["ok"]
