"""Issue 15 item 17: every diagnostic line carries the `kubectl clearml:` prefix once; Ctrl-C ends --watch
quietly; watch mode says when it refreshed."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_empty_views_and_lint_findings_carry_the_prefix_once(make_world, tmp_path):
    bare = make_world(seed=False)
    result = run_cli(["gpu-report", "--by", "product"], env=bare.env)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "kubectl clearml: No GPU products found.\n"
    combined = run_cli(["gpu-report"], env=bare.env, home=str(tmp_path))
    assert "kubectl clearml: No GPU nodes found." in combined.stderr
    values = tmp_path / "v.yaml"
    values.write_text("agentk8sglue:\n  basePodTemplate:\n    nodeSelectors: {a: b}\n")
    diff = run_cli(["diff-template", "--all", "-f", str(values), "--flavour", "oss"], home=str(tmp_path))
    for line in _lines(diff.stderr):
        assert line.startswith("kubectl clearml: "), line
        assert line.count("warning") <= 1, line
    same = run_cli(["diff-template", "red", "red", "-f", str(EXAMPLES / "oss-values.yaml")], home=str(tmp_path))
    assert "kubectl clearml: no differences" in same.stderr


def test_ctrl_c_ends_watch_quietly_and_each_refresh_is_stamped(world, ctrl_c_on_second_sleep):
    assert ctrl_c_on_second_sleep == []  # nothing slept yet
    result = run_cli(["queues", "-n", "clearml", "--watch", "--interval", "0.5"], env=world.env)
    assert result.exit_code == 0, result.stderr
    assert "error" not in result.stderr
    assert result.stderr.count("kubectl clearml: refreshed at ") == 2
    assert result.stdout.count("NAME ") == 2
