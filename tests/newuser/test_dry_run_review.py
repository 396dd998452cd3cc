"""Issue 15 item 4: dry runs a reviewer can read and that are not applied masked by mistake."""

from __future__ import annotations

import yaml

from tests.helpers import run_cli

TOKEN = "hf_abcdefghijklmnop12345"
TEMPLATE = f"""apiVersion: v1
kind: Pod
spec:
  containers:
  - name: main
    env:
    - name: HF_TOKEN
      value: {TOKEN}
"""


def _adhoc(world, template, *extra):
    return run_cli(
        ["submit-pod", "--queue", "1xGPU", "-n", "clearml", "--image", "busybox", "--template", str(template),
         "--dry-run=client", *extra, "--", "sh", "-c", "echo one\necho two"],
        env=world.env,
    )


def test_start_script_is_a_block_scalar_and_masking_is_said(world, tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE)
    result = _adhoc(world, template)
    assert result.exit_code == 0, result.stderr
    assert "    - |-\n      echo one\n      echo two\n" in result.stdout  # a literal block, not "echo one\\necho two"
    assert TOKEN not in result.stdout and "********" in result.stdout
    assert "secret values are masked as '********': this manifest cannot be applied as printed" in result.stderr
    # Our own inputs refuse the masked manifest rather than create a pod with HF_TOKEN=********.
    printed = tmp_path / "pod.yaml"
    printed.write_text(result.stdout)
    again = _adhoc(world, printed)
    assert again.exit_code == 2 and "the template holds masked secret values" in again.stderr
    shown = _adhoc(world, template, "--show-secrets")
    assert shown.exit_code == 0 and TOKEN in shown.stdout and "masked" not in shown.stderr
    env = yaml.safe_load(shown.stdout)["spec"]["containers"][0]["env"]
    assert {"name": "HF_TOKEN", "value": TOKEN} in env


def test_live_apply_dry_run_is_a_unified_diff_of_the_template(world):
    result = run_cli(["shm-fix", "2xGPU", "--live", "--apply", "-n", "clearml", "--dry-run=client"], env=world.env)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith("--- a/configmap/") and "+++ b/configmap/" in out
    assert "+" + " " * 8 + "medium: Memory" in out or "medium: Memory" in out
    assert '"op"' not in out and len(out) < 4000
    assert "the exact JSON patches: -o json-patch" in result.stderr
    patch = run_cli(["shm-fix", "2xGPU", "--live", "--apply", "-n", "clearml", "--dry-run=client", "-o", "json-patch"],
                    env=world.env)
    assert patch.exit_code == 0 and '"patchType": "json"' in patch.stdout
