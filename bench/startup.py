"""Start-up time of the plugin: median of 20 runs of `kubectl-clearml --help` (target <= 150 ms).

Also times `--version` and one static completion (`kubectl_complete-clearml ""`), which kubectl runs on
every TAB. Run: python bench/startup.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time

RUNS = 20


def find(name: str) -> str:
    here = os.path.join(os.path.dirname(sys.executable), name)
    return here if os.path.exists(here) else (shutil.which(name) or name)


def median_ms(argv: list[str]) -> tuple[float, float]:
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def main() -> None:
    plugin, completer = find("kubectl-clearml"), find("kubectl_complete-clearml")
    baseline, _ = median_ms([sys.executable, "-c", "pass"])
    print(f"python3 -c pass            median {baseline:6.1f} ms  (interpreter floor)")
    for label, argv in (
        ("kubectl-clearml --help", [plugin, "--help"]),
        ("kubectl-clearml --version", [plugin, "--version"]),
        ("completion of subcommands", [completer, ""]),
        ("completion of -o values", [completer, "queues", "-o", ""]),
    ):
        median, worst = median_ms(argv)
        print(f"{label:26} median {median:6.1f} ms  max {worst:6.1f} ms  target <= 150 ms  ratio {median / 150:.2f}")


if __name__ == "__main__":
    main()
