"""Issue 15 item 10: an explicit --from-agent wins over clearml.conf (it used to be ignored without a note)."""

from __future__ import annotations

import json

from tests.helpers import run_cli


def test_from_agent_wins_over_a_complete_clearml_conf(world, tmp_path):
    assert "CLEARML_CONFIG_FILE" in world.env  # clearml.conf alone is complete
    result = run_cli(["config", "--check", "--from-agent", "-o", "json"], env=world.env, home=str(tmp_path))
    assert result.exit_code == 0, result.stderr
    sources = json.loads(result.stdout)["sources"]
    assert sources["clearml.secret_key"] == "agent deployment clearml/clearml-agent"
    assert sources["clearml.access_key"] == "agent deployment clearml/clearml-agent"
    # A flag still wins over the agent, field by field.
    mixed = run_cli(
        ["config", "--check", "--from-agent", "-o", "json", "--api-host", world.clearml.url],
        env=world.env,
        home=str(tmp_path),
    )
    assert json.loads(mixed.stdout)["sources"]["clearml.api_host"] == "flag --api-host"
