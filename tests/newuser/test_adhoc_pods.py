"""Issue 15 item 20: ad-hoc pods: --rm, --env, counted as ClearML's, no empty label, no agent note."""

from __future__ import annotations

import json

import yaml

from tests.helpers import run_cli

TEMPLATE = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: main\n    resources:\n      limits:\n        nvidia.com/gpu: 1\n"


def test_adhoc_dry_run_has_env_no_empty_label_and_no_agent_note(world, tmp_path):
    template = tmp_path / "t.yaml"
    template.write_text(TEMPLATE)
    result = run_cli(
        ["submit-pod", "--queue", "1xGPU", "-n", "clearml", "--image", "busybox", "--template", str(template),
         "--env", "HF_HOME=/data/hf", "--env", "A=1", "--dry-run=client", "--", "true"],
        env=world.env,
    )
    assert result.exit_code == 0, result.stderr
    pod = yaml.safe_load(result.stdout)
    assert "" not in pod["metadata"]["labels"].values()
    env = pod["spec"]["containers"][0]["env"]
    assert {"name": "HF_HOME", "value": "/data/hf"} in env and {"name": "A", "value": "1"} in env
    assert "will not authenticate" not in result.stderr
    assert run_cli(["submit-pod", "--queue", "1xGPU", "--env", "A=1", "-n", "clearml", "x" * 32], env=world.env).exit_code == 2


def test_adhoc_pod_counts_as_clearml_and_rm_deletes_it(world, tmp_path):
    forever = tmp_path / "forever.yaml"  # the sandbox's kubelet keeps it running
    forever.write_text(TEMPLATE.replace("spec:", "metadata:\n  annotations:\n    sandbox.kubectl-clearml/run-seconds: inf\nspec:", 1))
    created = run_cli(
        ["submit-pod", "--queue", "1xGPU", "-n", "clearml", "--image", "busybox", "--template", str(forever), "--wait",
         "--", "sleep", "1"], env=world.env
    )
    assert created.exit_code == 0, created.stderr
    name = created.stdout.split()[0].removeprefix("pod/")
    report = json.loads(run_cli(["gpu-report", "--by", "node", "-n", "clearml", "-o", "json"], env=world.env).stdout)
    node = next(p for p in world.store.list("pods") if p["metadata"]["name"] == name)["spec"]["nodeName"]
    row = next(r for r in report["items"] if r["name"] == node and r["resource"] == "nvidia.com/gpu")
    before = run_cli(["gpu-report", "--by", "node", "-n", "clearml", "-o", "json"], env=world.env)
    assert row["requestedByClearml"] >= 1 and before.exit_code == 0
    removed = run_cli(
        ["submit-pod", "--queue", "1xGPU", "-n", "clearml", "--image", "busybox", "--rm", "--timeout", "60", "--",
         "true"],
        env=world.env,
    )
    assert removed.exit_code == 0, removed.stderr
    gone = removed.stdout.split()[0].removeprefix("pod/")
    assert "deleted (--rm)" in removed.stderr
    assert all(p["metadata"]["name"] != gone for p in world.store.list("pods"))
