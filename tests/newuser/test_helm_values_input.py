"""Issue 15 item 3: `helm get values` output is taken as it is; an empty values stream is refused."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def stdin(monkeypatch):
    def feed(text: str) -> None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))

    return feed


def test_an_empty_values_stream_is_refused(world, stdin):
    # What `helm get values -n WRONG clearml-agent | kubectl clearml queues -f -` feeds us.
    stdin("")
    result = run_cli(["queues", "-n", "clearml", "-f", "-"], env=world.env)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("kubectl clearml: error: no values on standard input (<stdin>): ")
    stdin("\n")
    assert run_cli(["diff-template", "--all", "-f", "-"], env=world.env).exit_code == 2


def test_helm_get_values_header_is_accepted(world, stdin):
    text = (EXAMPLES / "enterprise-values.yaml").read_text()
    plain = run_cli(["diff-template", "--all", "--lint", "-f", str(EXAMPLES / "enterprise-values.yaml")], env=world.env)
    stdin("USER-SUPPLIED VALUES:\n" + text)
    headed = run_cli(["diff-template", "--all", "--lint", "-f", "-"], env=world.env)
    assert (headed.exit_code, headed.stdout) == (plain.exit_code, plain.stdout)
    assert "USER-SUPPLIED" not in headed.stderr


def test_a_release_without_overrides_is_its_chart_defaults(world, stdin):
    stdin("USER-SUPPLIED VALUES:\nnull\n")
    result = run_cli(["queues", "-n", "clearml", "-f", "-", "-o", "json"], env=world.env)
    assert result.exit_code == 0, result.stderr
    assert "malformed" not in result.stderr
