"""The worst cases of the corpus as real processes, for what in-process runs cannot show: peak RSS and the
wall time of a whole `kubectl-clearml` run (issue 16: < 300 MB, < 5 s). Kept to a handful: each costs a
process start (~0.5 s)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.hostile.corpus import hostile_cases
from tests.hostile.harness import RSS_LIMIT_MB, check_result

WORST = ["laughs-merge", "laughs-top", "many-nodes", "huge-scalar"]


# The child reports its own peak RSS (VmHWM of its address space) as it exits. wait4's ru_maxrss cannot be used:
# Linux carries the parent's high-water mark across fork and exec, so a child of a large pytest process "peaks"
# at the pytest process's size (303 MB late in a full run, whatever the child did).
PROBE = (
    "import atexit, os, runpy\n"
    "def report():\n"
    "    with open('/proc/self/status') as status, open(os.environ['PEAK_RSS_FILE'], 'w') as out:\n"
    "        out.write(next(line.split()[1] for line in status if line.startswith('VmHWM:')))\n"
    "atexit.register(report)\n"
    "runpy.run_module('kubectl_clearml', run_name='__main__', alter_sys=True)\n"
)


def run_measured(args: list[str], env: dict[str, str], stdin: bytes | None = None) -> tuple[int, str, float, float]:
    """(exit, stderr, wall seconds, peak RSS MB) of one `python -m kubectl_clearml ARGS` process."""
    peak_file = os.path.join(env.get("HOME", "/tmp"), f"peak-rss-{os.getpid()}-{time.monotonic_ns()}")
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", PROBE, *args],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **env, "NO_COLOR": "1", "PEAK_RSS_FILE": peak_file},
    )
    if stdin is not None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(stdin)
            proc.stdin.close()
        except BrokenPipeError:  # the reader stopped at the cap, as it should
            pass
    assert proc.stderr is not None
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.wait()
    with open(peak_file) as handle:
        peak_kb = int(handle.read())
    os.unlink(peak_file)
    return proc.returncode, err, time.monotonic() - start, peak_kb / 1024


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", WORST)
def test_worst_cases_stay_within_wall_and_memory(tmp_path, name):
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(hostile_cases()[name])
    args = ["diff-template", "--all", "-f", str(path)]
    code, err, wall, rss = run_measured(args, {"HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")})
    check_result(args, code, err, wall)
    assert code == 2 and rss < RSS_LIMIT_MB, (rss, err)


@pytest.mark.timeout(60)
def test_endless_stdin_is_read_up_to_the_cap(tmp_path):
    args = ["diff-template", "--all", "-f", "-"]
    payload = os.urandom(11 * 1024 * 1024)
    code, err, wall, rss = run_measured(args, {"HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")}, payload)
    check_result(args, code, err, wall)
    assert code == 2 and "larger than 10 MiB" in err and rss < RSS_LIMIT_MB, (rss, err)


def test_a_terminal_that_cannot_show_the_values_gets_escapes_not_a_crash(tmp_path):
    path = tmp_path / "cjk.yaml"
    path.write_text("agentk8sglue:\n  queues:\n    default:\n      templateOverrides:\n        labels: {team: 中文}\n")
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONIOENCODING": "latin-1", "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-m", "kubectl_clearml", "diff-template", "default", "-f", str(path)],
                          capture_output=True, env=env, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert b"+    team: \\u4e2d\\u6587" in proc.stdout
