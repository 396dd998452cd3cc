"""Start-up time of the plugin: median of 20 runs of `kubectl-clearml --help` (target <= 150 ms).

Also times `--version` and one static completion (`kubectl_complete-clearml ""`), which kubectl runs on
every TAB; and the fixed cost of a command that talks to the APIs: `queues` and `gpu-report` on an empty
cluster (the sandbox emulators, here in this process) against `kubectl get nodes` on the same kubeconfig.
With `--zipapp dist/kubectl-clearml` (the krew archive's program, scripts/build_dist.py) each command is
also timed through the zipapp, with the ratio to the pip install (target <= 1.2x); its first run, which
unpacks it into its cache, is timed once on its own.
Run: python bench/startup.py [--skip-api] [--zipapp dist/kubectl-clearml]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 20


def find(name: str) -> str:
    here = os.path.join(os.path.dirname(sys.executable), name)
    return here if os.path.exists(here) else (shutil.which(name) or name)


def median_ms(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    return median_wall_and_cpu(argv, env)[:2]


def median_wall_and_cpu(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """(median wall ms, max wall ms, median CPU ms of the child): CPU is what a loaded machine cannot inflate."""
    samples, cpu = [], []
    for _ in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, env=env)
        samples.append((time.perf_counter() - started) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-300:]}")
    return statistics.median(samples), max(samples), statistics.median(cpu)


def api_commands(plugin: str) -> None:
    """queues / gpu-report on an empty cluster, against kubectl get nodes: what a command costs before it
    has anything to show (interpreter, imports, kubeconfig, one or two API calls)."""
    from kubectl_clearml.sandbox.clearml import ClearmlEmulator
    from kubectl_clearml.sandbox.kube import KubeEmulator

    kube, clearml = KubeEmulator().start(), ClearmlEmulator().start()
    try:
        tmp = Path(tempfile.mkdtemp())
        env = {**os.environ, **clearml.env(), "KUBECONFIG": kube.write_kubeconfig(tmp / "kubeconfig"), "HOME": str(tmp)}
        rows = [("kubectl get nodes", ["kubectl", "get", "nodes"])] if shutil.which("kubectl") else []
        rows += [("kubectl-clearml queues", [plugin, "queues"]), ("kubectl-clearml gpu-report", [plugin, "gpu-report"])]
        reference = None
        for label, argv in rows:
            median, worst, cpu = median_wall_and_cpu(argv, env)
            reference = reference or median
            print(
                f"{label:26} median {median:6.1f} ms  max {worst:6.1f} ms  CPU {cpu:6.1f} ms  "
                f"vs kubectl get nodes {median / reference:.2f}x"
            )
    finally:
        kube.stop()
        clearml.stop()


def zipapp_commands(zipapp: str, plugin: str, completer: str) -> None:
    """The krew archive against the pip install, command by command, with a fresh cache of its own."""
    program = [str(Path(zipapp).resolve())]  # run as krew runs it: its #!/usr/bin/env python3
    cache = tempfile.mkdtemp()
    env = {**os.environ, "XDG_CACHE_HOME": cache}
    started = time.perf_counter()
    subprocess.run([*program, "--version"], stdout=subprocess.DEVNULL, check=True, env=env)
    print(f"zipapp first run (unpacks) {(time.perf_counter() - started) * 1000:6.1f} ms  (once per build)")
    for label, pip_argv, zip_argv in (
        ("--help", [plugin, "--help"], [*program, "--help"]),
        ("--version", [plugin, "--version"], [*program, "--version"]),
        ("completion of subcommands", [completer, ""], [*program, "__complete", ""]),
        ("completion of -o values", [completer, "queues", "-o", ""], [*program, "__complete", "queues", "-o", ""]),
    ):
        pip_ms, _ = median_ms(pip_argv, env)
        zip_ms, _ = median_ms(zip_argv, env)
        print(f"{label:26} pip {pip_ms:6.1f} ms  zipapp {zip_ms:6.1f} ms  ratio {zip_ms / pip_ms:.2f}  target <= 1.20")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-api", action="store_true", help="only the commands that talk to no server")
    parser.add_argument("--zipapp", metavar="PATH", help="also time the krew archive's program (dist/kubectl-clearml)")
    args = parser.parse_args()
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
    if not args.skip_api:
        api_commands(plugin)
    if args.zipapp:
        zipapp_commands(args.zipapp, plugin, completer)
        if not args.skip_api:
            api_commands(str(Path(args.zipapp).resolve()))


if __name__ == "__main__":
    main()
