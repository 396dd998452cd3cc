"""Benchmark `kubectl clearml doctor` and `why` on the sandbox (the default and the troubles world).

    python bench/doctor.py [--runs 5]

Each run is a fresh `kubectl-clearml doctor` process against a sandbox started in this process (emulators
and the simulated cluster at the default clock), so the figures include Python start-up and imports, as a
user sees them: wall and CPU time per run (from wait4), p50 and max. Target (issue 18): doctor under 2 s on
the sandbox. On a shared machine wall times swing with the load: compare CPU times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET_WALL = 2.0


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    started = time.monotonic()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - started, usage.ru_utime + usage.ru_stime, process.returncode


def main() -> int:
    from kubectl_clearml.sandbox.runner import Sandbox, SandboxOptions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("kubectl-clearml"))
    for troubles in (False, True):
        with Sandbox(SandboxOptions(troubles=troubles)) as sandbox:
            env = sandbox.client_environment(dict(os.environ))
            assert sandbox.world is not None
            task = sandbox.world.task_ids["finetune-mistral-7b-ddp" if troubles else "train-vit-b16"]
            time.sleep(0.5)  # let the simulated scheduler settle the seeded pods
            for name, argv in (("doctor", [exe, "doctor"]), ("why", [exe, "why", task[:8]])):
                runs = [timed(argv, env) for _ in range(args.runs)]
                walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
                world = "troubles" if troubles else "default"
                print(f"{name:<6} {world:<8} exit {runs[0][2]}  wall p50 {statistics.median(walls):.2f} s, max "
                      f"{max(walls):.2f} s; cpu p50 {statistics.median(cpus):.2f} s  (target wall < {TARGET_WALL} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
