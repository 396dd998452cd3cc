"""Issue 15 item 11: `submit-pod --queue Q -- CMD` without --image says what is missing."""

from __future__ import annotations

from tests.helpers import run_cli


def test_dashdash_command_without_image_is_a_usage_error(world):
    result = run_cli(["submit-pod", "--queue", "1xGPU", "-n", "clearml", "--", "nvidia-smi"], env=world.env)
    assert result.exit_code == 2
    assert result.stderr.startswith("kubectl clearml: error: `-- CMD` needs --image: ")
    assert "Invalid task id" not in result.stderr
    assert world.clearml.requests.count("tasks.get_by_id") == 0
