"""Issue 15 item 9: shm-fix's -o is a format as everywhere; --output-file writes; the printed command works."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.helpers import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_o_is_a_format_and_output_file_writes(tmp_path):
    values = str(EXAMPLES / "enterprise-gpu-values.yaml")
    target = tmp_path / "overlay.yaml"
    wrong = run_cli(["shm-fix", "2xGPU", "-f", values, "-o", str(target)], home=str(tmp_path))
    assert wrong.exit_code == 2 and not target.exists()
    assert f"--output-file {target}" in wrong.stderr
    written = run_cli(["shm-fix", "2xGPU", "-f", values, "--output-file", str(target)], home=str(tmp_path))
    assert written.exit_code == 0, written.stderr
    assert yaml.safe_load(target.read_text())["agentk8sglue"]
    as_json = run_cli(["shm-fix", "2xGPU", "-f", values, "-o", "json"], home=str(tmp_path))
    assert as_json.exit_code == 0 and as_json.stdout.startswith("{")


def test_live_overlay_on_stdout_names_no_file_that_was_never_written(world, tmp_path):
    result = run_cli(["shm-fix", "2xGPU", "--live", "-n", "clearml"], env=world.env)
    assert result.exit_code == 0, result.stderr
    assert yaml.safe_load(result.stdout)  # the overlay itself
    assert "save the overlay (--output-file overlay.yaml, or > overlay.yaml), then run: helm upgrade" in result.stderr
    target = tmp_path / "fix.yaml"
    written = run_cli(["shm-fix", "2xGPU", "--live", "-n", "clearml", "--output-file", str(target)], env=world.env)
    assert written.exit_code == 0 and target.exists()
    assert "for a durable fix run: helm upgrade" in written.stderr and f"-f {target}" in written.stderr
