"""Issue 15 item 2: partial-data modes go on, but the exit code says what failed."""

from __future__ import annotations

import json

import yaml

from tests.helpers import run_cli

WRONG = ["--access-key", "WRONG", "--secret-key", "WRONG"]


def test_queues_with_refused_credentials_prints_the_kube_view_and_exits_4(world):
    result = run_cli(["queues", "-n", "clearml", *WRONG], env=world.env)
    assert result.exit_code == 4, result.stderr
    assert "red " in result.stdout  # the Kubernetes view is still printed
    assert result.stderr.startswith("kubectl clearml: warning: ClearML unavailable")
    shown = run_cli(["queues", "show", "1xGPU", "-n", "clearml", "-o", "json", *WRONG], env=world.env)
    assert shown.exit_code == 4 and json.loads(shown.stdout)["pendingTasks"] is None


def test_gpu_report_with_refused_credentials_warns_and_exits_4(world):
    result = run_cli(["gpu-report", "--by", "queue", "-n", "clearml", *WRONG], env=world.env)
    assert result.exit_code == 4, result.stderr
    assert "kubectl clearml: warning: ClearML unavailable, PENDING shows '-'" in result.stderr
    assert "note: ClearML" not in result.stderr
    # Asking for the degraded output explicitly is success.
    assert run_cli(["gpu-report", "--by", "queue", "-n", "clearml", "--no-clearml", *WRONG], env=world.env).exit_code == 0


def test_a_server_that_does_not_answer_stays_a_warning(world):
    world.clearml.stop()
    assert run_cli(["queues", "-n", "clearml"], env=world.env).exit_code == 0


def test_current_context_naming_a_missing_context_exits_3_like_context_flag(world, tmp_path):
    config = yaml.safe_load(world.kubeconfig.read_text())
    config["current-context"] = "prod"
    broken = tmp_path / "kubeconfig"
    broken.write_text(yaml.safe_dump(config))
    env = {**world.env, "KUBECONFIG": str(broken)}
    result = run_cli(["queues"], env=env)
    assert result.exit_code == 3, result.stderr
    assert "context 'prod' not found in the kubeconfig" in result.stderr
    assert "red " in result.stdout  # ClearML's view is still printed
    assert run_cli(["queues", "--context", "prod"], env=env).exit_code == 3
    assert run_cli(["queues", "--no-kube"], env=env).exit_code == 0
