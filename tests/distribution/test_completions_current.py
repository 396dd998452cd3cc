"""completions/ holds click's scripts for the current command tree (regenerate with scripts/gen_completions.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_completion_scripts_are_current():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_completions.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_bash_completion_protocol_answers_for_kubectl_clearml():
    env = {"COMP_WORDS": "kubectl-clearml gpu", "COMP_CWORD": "1", "_KUBECTL_CLEARML_COMPLETE": "bash_complete"}
    import os

    exe = os.path.join(os.path.dirname(sys.executable), "kubectl-clearml")
    out = subprocess.run([exe], capture_output=True, text=True, env={**os.environ, **env}).stdout
    assert out.strip() == "plain,gpu-report"
