"""Worst wall time and peak RSS of the commands that read values files, over the hostile corpus (issue 16).

    python bench/hostile_input.py [--tree DIR] [--timeout 20] [--memory-mb 1500] [--commands all|quick]

Each case of tests/hostile/corpus.py (alias bombs, cycles, encodings, huge and endless input, deep nesting,
typed values, and the largest inputs the bounds accept) plus /dev/zero and /dev/urandom is given as -f to offline commands (diff-template, --all,
--lint, shm-fix --check, shm-fix QUEUE), one fresh `python -m kubectl_clearml` process per run, measured
with wait4. ``--tree`` runs another checkout's code instead (e.g. `git archive main | tar -x -C DIR` for the
"before" figures); runs are killed at --timeout seconds and capped at --memory-mb of address space so a
bomb cannot take the machine down. Targets: exit 0-3, < 5 s, < 300 MB.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import site
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hostile.corpus import hostile_cases, near_bound_cases, valid_cases  # noqa: E402

COMMANDS = {
    "diff-template": ["diff-template"],
    "diff-template --all": ["diff-template", "--all"],
    "diff-template --lint": ["diff-template", "--lint"],
    "shm-fix --check": ["shm-fix", "--check"],
    "shm-fix default": ["shm-fix", "default"],
}


def run_one(tree: Path, args: list[str], home: str, timeout: float, memory_mb: int) -> tuple[int, float, float]:
    """(exit status or -signal, wall seconds, peak RSS MB)."""

    def limit() -> None:
        cap = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    # -S: no site hooks, so the editable install's finder cannot shadow --tree; the libraries still come from
    # this interpreter's site-packages, put after the tree.
    path = os.pathsep.join([str(tree), *site.getsitepackages()])
    env = {**os.environ, "PYTHONPATH": path, "HOME": home, "KUBECONFIG": os.path.join(home, "none"),
           "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-S", "-m", "kubectl_clearml", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=home, preexec_fn=limit)
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.send_signal(signal.SIGKILL)
            _, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.monotonic() - start, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout whose kubectl_clearml is measured")
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--memory-mb", type=int, default=1500)
    parser.add_argument("--commands", choices=["all", "quick"], default="all")
    opts = parser.parse_args()
    names = list(COMMANDS) if opts.commands == "all" else ["diff-template --all"]
    worst_wall: tuple[float, str] = (0.0, "")
    worst_rss: tuple[float, str] = (0.0, "")
    bad: list[str] = []
    runs = 0
    with tempfile.TemporaryDirectory() as home:
        files = []
        for name, data in {**hostile_cases(), **valid_cases(), **near_bound_cases()}.items():
            path = Path(home) / f"{name}.yaml"
            path.write_bytes(data)
            files.append((name, str(path)))
        files += [("/dev/zero", "/dev/zero"), ("/dev/urandom", "/dev/urandom")]
        for name, path in files:
            for command in names:
                code, wall, rss = run_one(opts.tree, [*COMMANDS[command], "-f", path], home, opts.timeout,
                                          opts.memory_mb)
                runs += 1
                label = f"{command} -f {name}"
                worst_wall = max(worst_wall, (wall, label))
                worst_rss = max(worst_rss, (rss, label))
                if code not in (0, 1, 2, 3) or wall >= 5.0 or rss >= 300.0:
                    bad.append(f"{label}: exit {code}, {wall:.1f} s, {rss:.0f} MB")
    for line in bad:
        print(f"  over target: {line}")
    print(f"hostile corpus: {runs} runs ({len(files)} inputs x {len(names)} commands), tree {opts.tree}")
    print(f"worst wall {worst_wall[0]:.2f} s ({worst_wall[1]}), worst peak RSS {worst_rss[0]:.0f} MB "
          f"({worst_rss[1]}), {len(bad)} over target (exit 0-3, < 5 s, < 300 MB)")


if __name__ == "__main__":
    main()
