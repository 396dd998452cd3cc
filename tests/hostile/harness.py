"""What every command must do with hostile input (issue 16), as one assertion shared by the fuzz tests.

Exit 0-3 only (never 70, never 4/5: the input is what is wrong, not a server); a refusal (2/3) prints exactly
one ``kubectl clearml: error:`` line and only prefixed lines, a success none; no traceback, no line that
echoes a megabyte of the input,
within the wall bound, and nothing written next to the input.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from tests.helpers import CliResult, run_cli

WALL_LIMIT = 5.0
RSS_LIMIT_MB = 300.0
PREFIX = "kubectl clearml:"


def commands(values: str, namespace: str = "clearml") -> list[list[str]]:
    """Every command that reads a values file, with ``values`` as its -f."""
    ns = ["-n", namespace]
    return [
        ["diff-template", "-f", values, *ns],
        ["diff-template", "--all", "-f", values, *ns],
        ["diff-template", "--lint", "-f", values, *ns],
        ["shm-fix", "--check", "-f", values, *ns],
        ["shm-fix", "default", "-f", values, *ns],
        ["gpu-report", "-f", values, *ns],
        ["queues", "-f", values, *ns],
        ["run-glue", "--dry-run", "-f", values, *ns],
        ["submit-pod", "--queue", "default", "--image", "python:3.11", "--dry-run=client", "-f", values, *ns,
         "--", "true"],
    ]


def check_result(args: Sequence[str], code: int, stderr: str, wall: float) -> None:
    where = f"kubectl clearml {' '.join(args)}: exit {code}, {wall:.1f} s, stderr {stderr[-600:]!r}"
    assert code in (0, 1, 2, 3), where
    assert "Traceback" not in stderr and "internal error" not in stderr, where
    lines = stderr.splitlines()
    errors = [line for line in lines if line.startswith(f"{PREFIX} error:")]
    assert len(errors) == (1 if code in (2, 3) else 0), where
    if code in (2, 3):  # a refusal says so in prefixed lines only (notes before the error are prefixed too)
        assert all(line.startswith(PREFIX) for line in lines), where
    assert all(len(line) < 2000 for line in lines), where
    assert wall < WALL_LIMIT, where


def run_checked(args: Sequence[str], env: dict[str, str], home: Path) -> CliResult:
    """Run in-process, assert the contract, and that the directory of the input gained no file."""
    before = set(os.listdir(home))
    start = time.monotonic()
    result = run_cli(list(args), env={**env, "NO_COLOR": "1"}, home=str(home))
    check_result(args, result.exit_code, result.stderr, time.monotonic() - start)
    assert set(os.listdir(home)) == before, f"{args} wrote {set(os.listdir(home)) - before}"
    return result
