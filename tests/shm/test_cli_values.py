"""`kubectl clearml shm-fix` on values files: overlays, --in-place, --base, --check, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from kubectl_clearml.adapters.values_file import parse_values
from kubectl_clearml.core.agent_config import config_from_user_values
from kubectl_clearml.core.shm import current_provision
from tests.helpers import run_cli

DATA = Path(__file__).parent / "data"


@pytest.fixture
def files(tmp_path):
    for name in ("oss-values.yaml", "enterprise-values.yaml"):
        shutil.copy(DATA / name, tmp_path / name)
    return tmp_path


def shm(args, tmp_path):
    return run_cli(["shm-fix", *args], env={"KUBECONFIG": str(tmp_path / "none")}, home=str(tmp_path))


def test_overlay_to_stdout_then_helm_merge_gives_the_queue_its_shm(files):
    values = files / "enterprise-values.yaml"
    r = shm(["2xGPU", "--size", "16Gi", "-f", str(values)], files)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("# /dev/shm overlay written by kubectl clearml shm-fix")
    overlay = yaml.safe_load(r.stdout)
    assert "queue 2xGPU: /dev/shm none (container runtime default 64Mi) -> emptyDir medium Memory, sizeLimit 16Gi" in r.stderr
    cfg = config_from_user_values([parse_values(values.read_text()), overlay])
    assert current_provision(cfg.effective_template("2xGPU")).size_limit == "16Gi"
    assert current_provision(cfg.effective_template("red")).kind == "none"


def test_overlay_file_and_idempotent_second_run(files):
    values, overlay = files / "oss-values.yaml", files / "overlay.yaml"
    r = shm(["train-2x", "--size", "16Gi", "-f", str(values), "--output-file", str(overlay)], files)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "" and f"wrote {overlay}" in r.stderr
    assert "one pod template per release" in r.stderr
    again = shm(["train-2x", "--size", "16Gi", "-f", str(values), "-f", str(overlay)], files)
    assert again.exit_code == 0 and again.stdout == ""
    assert "already emptyDir medium Memory, sizeLimit 16Gi (volume dshm): no change" in again.stderr


def test_json_overlay(files):
    import json

    r = shm(["2xGPU", "--size", "1Gi", "-f", str(files / "enterprise-values.yaml"), "-o", "json"], files)
    assert r.exit_code == 0
    assert json.loads(r.stdout)["agentk8sglue"]["queues"]["2xGPU"]["templateOverrides"]["extraVolumeMounts"] == [
        {"name": "dshm", "mountPath": "/dev/shm"}
    ]


def test_in_place_keeps_comments_and_a_backup(files):
    values = files / "oss-values.yaml"
    original = values.read_text()
    r = shm(["eval", "--size", "8Gi", "-f", str(values), "--in-place"], files)
    assert r.exit_code == 0, r.stderr
    edited = values.read_text()
    assert (files / "oss-values.yaml.bak").read_text() == original
    assert "# every task pod asks for two A100s" in edited and "      - name: scratch   # wiped nightly" in edited
    assert len(edited.splitlines()) == len(original.splitlines()) + 6
    again = shm(["eval", "--size", "8Gi", "-f", str(values), "--in-place"], files)
    assert again.exit_code == 0 and "no change" in again.stderr and values.read_text() == edited


def test_in_place_dry_run_prints_the_diff_only(files):
    values = files / "enterprise-values.yaml"
    original = values.read_text()
    r = shm(["4xGPU", "--size", "8Gi", "-f", str(values), "--in-place", "--dry-run"], files)
    assert r.exit_code == 0, r.stderr
    assert "+          - name: dshm" in r.stdout and r.stdout.startswith("--- a/")
    assert values.read_text() == original and not (files / "enterprise-values.yaml.bak").exists()


def test_in_place_dry_run_diff_masks_the_agent_credentials_in_context_lines(tmp_path):
    secret = "s3cr3t-agent-value-0123456789"
    values = tmp_path / "values.yaml"
    values.write_text(
        "agentk8sglue:\n  queues:\n    train:\n      templateOverrides:\n        resources:\n"
        "          limits:\n            nvidia.com/gpu: 4\n"
        f"clearml:\n  agentk8sglueKey: AKEYAKEY\n  agentk8sglueSecret: {secret}\n"
    )
    r = shm(["train", "--size", "8Gi", "-f", str(values), "--in-place", "--dry-run"], tmp_path)
    assert r.exit_code == 0, r.stderr
    assert "agentk8sglueSecret: ********" in r.stdout  # the diff's context reaches the credentials
    assert secret not in r.stdout + r.stderr
    written = shm(["train", "--size", "8Gi", "-f", str(values), "--in-place"], tmp_path)
    assert written.exit_code == 0 and secret not in written.stdout + written.stderr
    edited = yaml.safe_load(values.read_text())  # masked in the output only, never in the file
    assert edited["clearml"]["agentk8sglueSecret"] == secret
    assert edited["agentk8sglue"]["queues"]["train"]["templateOverrides"]["extraVolumes"][0]["name"] == "dshm"


def test_in_place_dry_run_diff_masks_secret_env_values_in_context_lines(tmp_path):
    token = "hf_abcdefghijklmnop0123"
    values = tmp_path / "values.yaml"
    values.write_text(
        "clearml:\n  existingAgentk8sglueSecret: creds\nagentk8sglue:\n  basePodTemplate:\n    env:\n"
        f"      - name: HF_TOKEN\n        value: {token}\n    volumes: []\n"
    )
    r = shm(["--base", "--size", "1Gi", "-f", str(values), "--in-place", "--dry-run"], tmp_path)
    assert r.exit_code == 0, r.stderr
    assert "+      - name: dshm" in r.stdout and "value: ********" in r.stdout
    assert token not in r.stdout + r.stderr


def test_in_place_dry_run_diff_masks_secrets_in_the_clearml_config_text(tmp_path):
    # clearml.clearmlConfig is one HOCON string: no YAML key of it looks secret, its lines do.
    values = tmp_path / "values.yaml"
    values.write_text(
        "clearml:\n  clearmlConfig: |-\n    sdk.aws.s3.secret = s3-eq-secret-1\n"
        "    api.credentials.secret_key: colon-secret-2\nagentk8sglue:\n  basePodTemplate:\n    volumes: []\n"
    )
    r = shm(["--base", "--size", "1Gi", "-f", str(values), "--in-place", "--dry-run"], tmp_path)
    assert r.exit_code == 0, r.stderr
    assert "\n     api.credentials.secret_key: ********\n agentk8sglue:" in r.stdout  # in the diff's context
    assert "s3-eq-secret-1" not in r.stdout + r.stderr and "colon-secret-2" not in r.stdout + r.stderr


def test_base_for_every_queue(files):
    r = shm(["--base", "--size", "2Gi", "-f", str(files / "enterprise-values.yaml")], files)
    assert r.exit_code == 0, r.stderr
    overlay = yaml.safe_load(r.stdout)
    assert list(overlay["agentk8sglue"]) == ["basePodTemplate"]
    assert "queue 'legacy' still has hostPath /dev/shm" in r.stderr


def test_default_size_from_the_memory_limit(files):
    r = shm(["train-4x", "-f", str(files / "oss-values.yaml")], files)
    assert r.exit_code == 0
    assert yaml.safe_load(r.stdout)["agentk8sglue"]["basePodTemplate"]["volumes"][-1]["emptyDir"]["sizeLimit"] == "24Gi"


@pytest.mark.parametrize("size", ["16GB", "-1", "abc", "0"])
def test_bad_sizes_exit_2_listing_accepted_forms(files, size):
    r = shm(["2xGPU", "--size", size, "-f", str(files / "enterprise-values.yaml")], files)
    assert r.exit_code == 2
    assert f"invalid size '{size}'" in r.stderr and "16Gi, 512Mi" in r.stderr and "Traceback" not in r.stderr


def test_unknown_queue_exit_3(files):
    r = shm(["nope", "-f", str(files / "enterprise-values.yaml")], files)
    assert r.exit_code == 3
    assert "queue 'nope' is not in the agent's configuration" in r.stderr and "red, 2xGPU, 4xGPU, legacy" in r.stderr


def test_foreign_shm_refused_without_force_showing_both(files):
    values = files / "enterprise-values.yaml"
    r = shm(["legacy", "--size", "8Gi", "-f", str(values)], files)
    assert r.exit_code == 2 and r.stdout == ""
    assert "hostPath /dev/shm (volume dshm)" in r.stderr and "emptyDir medium Memory, sizeLimit 8Gi" in r.stderr
    assert "--force" in r.stderr
    forced = shm(["legacy", "--size", "8Gi", "-f", str(values), "--force"], files)
    assert forced.exit_code == 0, forced.stderr
    assert "hostPath" not in forced.stdout


def test_check_exits_1_for_multi_gpu_queues_without_shm(files):
    r = shm(["--check", "-f", str(files / "enterprise-values.yaml")], files)
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["QUEUE", "GPUS", "SHM", "SIZE", "STATUS", "FAILURES"]
    assert lines[2].split() == ["2xGPU", "2", "none", "64Mi", "missing", "-"]
    assert lines[4].split() == ["legacy", "2", "other", "-", "custom", "-"]


def test_check_passes_after_the_fix(files):
    values, overlay = files / "enterprise-values.yaml", files / "o.yaml"
    for queue in ("2xGPU", "4xGPU"):
        assert shm([queue, "-f", str(values), "--in-place"], files).exit_code == 0
    r = shm(["--check", "2xGPU", "4xGPU", "-f", str(values), "-o", "json"], files)
    assert r.exit_code == 0, r.stdout
    import json

    items = json.loads(r.stdout)["items"]
    assert [(i["queue"], i["status"], i["size"]) for i in items] == [("2xGPU", "ok", "32Gi"), ("4xGPU", "ok", "512Mi")]
    assert not overlay.exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["-f", "x.yaml"], "which queue?"),
        (["q", "--base", "-f", "x.yaml"], "either QUEUE... or --base"),
        (["q"], "give the agent's values with -f"),
        (["q", "--apply", "-f", "x.yaml"], "--apply needs --live"),
        (["q", "--in-place"], "--in-place needs -f"),
        (["--rollback", "q"], "--rollback takes no queue"),
    ],
)
def test_bad_combinations(files, args, message):
    r = shm(args, files)
    assert r.exit_code == 2 and message in r.stderr


def test_missing_and_malformed_files(files):
    r = shm(["q", "-f", str(files / "missing.yaml")], files)
    assert r.exit_code == 2 and "values file not found" in r.stderr
    bad = files / "bad.yaml"
    bad.write_text("agentk8sglue: [\n")
    r = shm(["q", "-f", str(bad)], files)
    assert r.exit_code == 2 and "malformed YAML" in r.stderr


def test_dry_run_does_not_write_the_overlay_file(files):
    overlay = files / "overlay.yaml"
    r = shm(["2xGPU", "-f", str(files / "enterprise-values.yaml"), "--output-file", str(overlay), "--dry-run"], files)
    assert r.exit_code == 0 and not overlay.exists()
    assert "not writing" in r.stderr and yaml.safe_load(r.stdout)["agentk8sglue"]["queues"]["2xGPU"]


def test_help_lists_the_modes(files):
    r = shm(["--help"], files)
    assert r.exit_code == 0
    for flag in ("--check", "--size", "--in-place", "--base", "--live", "--apply", "--rollback", "--dry-run", "--force"):
        assert flag in r.stdout
