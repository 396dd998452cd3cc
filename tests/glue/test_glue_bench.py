"""bench/glue.py at CI size: two depths, each emulator in its own process; it must drain both and print the
table of tasks/s and CPU per task (the figures themselves are the bench's, not a test's)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "glue.py"


def test_the_glue_bench_drains_every_depth_and_prints_cost_per_task():
    args = ["--tasks", "40", "--tasks", "80", "--poll-interval", "0.1", "--idle-intervals", "1"]
    run = subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "80 across 4 queues (80 pods, 0 left queued)" in run.stdout
    rows = re.findall(r"^ +([\d,]+) +(\d+) +([\d.]+) ms +([\d.]+)x$", run.stdout, re.MULTILINE)
    assert [r[0] for r in rows] == ["40", "80"], run.stdout
    assert all(float(r[2]) > 0 for r in rows)
