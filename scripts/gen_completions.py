#!/usr/bin/env python3
"""Write completions/kubectl-clearml.{bash,zsh,fish}: click's completion scripts for running
`kubectl-clearml` directly (kubectl >= 1.26 users get completion through kubectl_complete-clearml instead).

Usage: python scripts/gen_completions.py [--check]   (--check: exit 1 if the committed files are stale)
"""

from __future__ import annotations

import sys
from pathlib import Path

from click.shell_completion import get_completion_class

from kubectl_clearml.cli.main import COMPLETE_VAR, cli

ROOT = Path(__file__).resolve().parent.parent
SHELLS = ("bash", "zsh", "fish")


def render(shell: str) -> str:
    cls = get_completion_class(shell)
    if cls is None:
        raise SystemExit(f"click has no completion for {shell}")
    return cls(cli, {}, "kubectl-clearml", COMPLETE_VAR).source()


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for shell in SHELLS:
        path = ROOT / "completions" / f"kubectl-clearml.{shell}"
        text = render(shell)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
    if stale:
        print("stale completion scripts (run python scripts/gen_completions.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
