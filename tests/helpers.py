"""Run the CLI in-process with captured streams and a chosen environment, as a user would see it."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@contextmanager
def environment(env: Mapping[str, str] | None, clear: bool = False) -> Iterator[None]:
    saved = dict(os.environ)
    try:
        if clear:
            os.environ.clear()
            os.environ["PATH"] = saved.get("PATH", "")
        for key, value in (env or {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_cli(args: Sequence[str], env: Mapping[str, str] | None = None, *, home: str | None = None) -> CliResult:
    """Invoke `kubectl clearml ARGS` through the real entry point's error boundary.

    ``home`` (recommended in tests) isolates ~/clearml.conf and ~/.kube/config lookups.
    """
    from kubectl_clearml.cli.main import run

    merged = dict(env or {})
    if home is not None:
        merged["HOME"] = home
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        with environment(merged):
            code = run(list(args))
    finally:
        sys.stdout, sys.stderr = saved
    return CliResult(code, out.getvalue(), err.getvalue())
