"""diff-template from values files only (no cluster): comparisons, outputs, exit codes, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.helpers import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RBG = str(EXAMPLES / "enterprise-values.yaml")
GPU = str(EXAMPLES / "enterprise-gpu-values.yaml")
OSS = str(EXAMPLES / "oss-values.yaml")


def cli(tmp_path: Path, *args: str):
    return run_cli(
        ["diff-template", *args], env={"NO_COLOR": "1", "KUBECONFIG": str(tmp_path / "none")}, home=str(tmp_path)
    )


def _write(tmp_path: Path, name: str, data: object) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return str(path)


def _changed(stdout: str) -> list[str]:
    return [ln for ln in stdout.splitlines() if ln[:1] in "+-" and not ln.startswith(("---", "+++"))]


def test_green_against_base(tmp_path):
    r = cli(tmp_path, "green", "-f", RBG)
    assert r.exit_code == 1, r.stderr
    assert r.stdout.startswith("--- base\n+++ green\n")
    changed = _changed(r.stdout)
    assert "-    team: red" in changed and "+    team: green" in changed
    assert "+    example: example value" in changed
    assert "-        memory: 1Gi" in changed and "+        memory: 2Gi" in changed
    assert "+    - name: MY_ENV" in changed and "+      value: my_value" in changed
    assert "\x1b[" not in r.stdout  # NO_COLOR / not a TTY


def test_red_inherits_everything(tmp_path):
    r = cli(tmp_path, "red", "-f", RBG)
    assert (r.exit_code, r.stdout) == (0, "")
    assert "no differences" in r.stderr


def test_blue_changes_only_the_label(tmp_path):
    r = cli(tmp_path, "blue", "-f", RBG, "-C", "0")
    assert r.exit_code == 1
    assert _changed(r.stdout) == ["-    team: red", "+    team: blue"]


def test_two_queues(tmp_path):
    r = cli(tmp_path, "blue", "green", "-f", RBG, "-o", "json-patch")
    assert r.exit_code == 1
    ops = json.loads(r.stdout)
    assert {"op": "replace", "path": "/metadata/labels/team", "value": "green"} in ops
    assert {"op": "replace", "path": "/spec/containers/0/resources/limits/memory", "value": "2Gi"} in ops


def test_all_prints_diffs_and_a_summary_table(tmp_path):
    r = cli(tmp_path, "--all", "-f", RBG)
    assert r.exit_code == 1
    table = r.stdout[r.stdout.index("QUEUE") :].splitlines()
    assert table[0].split() == ["QUEUE", "CHANGES", "DIFFERS", "FROM", "BASE", "IN"]
    rows = {line.split()[0]: line for line in table[1:]}
    assert rows["red"].split()[1:] == ["0", "-"]
    assert rows["blue"].split()[1:] == ["1", "labels.team"]
    assert rows["green"].split()[1] == "4"
    assert "annotations.example" in rows["green"] and "container.env[name=MY_ENV]" in rows["green"]


def test_show_gpu_and_shm_queues(tmp_path):
    r = cli(tmp_path, "--show", "GPUshm", "-f", GPU)
    assert r.exit_code == 0, r.stderr
    pod = yaml.safe_load(r.stdout)
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"memory": "64Gi", "nvidia.com/gpu": "2"}
    assert container["volumeMounts"] == [{"name": "dshm", "mountPath": "/dev/shm"}]
    assert pod["spec"]["volumes"][0]["emptyDir"] == {"medium": "Memory", "sizeLimit": "32Gi"}
    r = cli(tmp_path, "--show", "2xGPU", "-f", GPU, "-o", "json")
    pod = json.loads(r.stdout)
    assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "A100-SXM4-40GB"}


def test_structured_and_json_outputs(tmp_path):
    r = cli(tmp_path, "1xGPU", "-f", GPU, "-o", "structured")
    assert r.exit_code == 1
    [report] = json.loads(r.stdout)
    assert (report["name"], report["from"], report["to"], report["changeType"]) == ("1xGPU", "base", "1xGPU", "MODIFY")
    paths = {c["path"] for c in report["changes"]}
    assert "spec.containers[0].resources.limits.nvidia.com/gpu" in paths
    r = cli(tmp_path, "green", "-f", RBG, "-o", "yaml")
    docs = yaml.safe_load(r.stdout)
    assert set(docs) == {"base", "green"} and docs["green"]["metadata"]["labels"] == {"team": "green"}


def test_later_values_files_win(tmp_path):
    extra = _write(
        tmp_path, "extra.yaml", {"agentk8sglue": {"queues": {"green": {"templateOverrides": {"labels": None}}}}}
    )
    r = cli(tmp_path, "--show", "green", "-f", RBG, "-f", extra)
    assert yaml.safe_load(r.stdout)["metadata"]["labels"] == {"team": "red"}


def test_merge_replace_drops_unset_base_keys(tmp_path):
    values = _write(
        tmp_path,
        "v.yaml",
        {
            "agentk8sglue": {
                "basePodTemplate": {"resources": {"limits": {"memory": "1Gi", "cpu": 2}}},
                "queues": {"big": {"templateOverrides": {"resources": {"limits": {"memory": "2Gi"}}}}},
            }
        },
    )
    strategic = yaml.safe_load(cli(tmp_path, "--show", "big", "-f", values).stdout)
    replaced = yaml.safe_load(cli(tmp_path, "--show", "big", "-f", values, "--merge", "replace").stdout)
    assert strategic["spec"]["containers"][0]["resources"]["limits"] == {"memory": "2Gi", "cpu": 2}
    assert replaced["spec"]["containers"][0]["resources"]["limits"] == {"memory": "2Gi"}


def test_oss_every_queue_is_the_base(tmp_path):
    r = cli(tmp_path, "--all", "-f", OSS)
    assert r.exit_code == 0
    assert "open-source chart: one pod template for every queue" in r.stderr
    assert [line.split()[:2] for line in r.stdout.strip().splitlines()[1:]] == [
        ["red", "0"],
        ["blue", "0"],
        ["green", "0"],
    ]


def test_secrets_are_masked(tmp_path):
    values = _write(
        tmp_path,
        "v.yaml",
        {
            "clearml": {"agentk8sglueKey": "AK-visible-key", "agentk8sglueSecret": "very-secret-value-123"},
            "agentk8sglue": {
                "basePodTemplate": {
                    "env": [
                        {"name": "HF_TOKEN", "value": "hf_abcdefghijkl"},
                        {"name": "ECHO", "value": "very-secret-value-123"},
                    ]
                }
            },
        },
    )
    for fmt in ("yaml", "json"):
        out = cli(tmp_path, "--show", "default", "-f", values, "-o", fmt)
        assert out.exit_code == 0, out.stderr
        assert "hf_abcdefghijkl" not in out.stdout and "very-secret-value-123" not in out.stdout
        assert "********" in out.stdout


def test_lint_mode(tmp_path):
    bad = _write(
        tmp_path,
        "bad.yaml",
        {"agentk8sglue": {"basePodTemplate": {"nodeSelectors": {"a": "b"}, "hostPID": True}}},
    )
    r = cli(tmp_path, "--lint", "-f", bad, "--flavour", "oss")
    assert r.exit_code == 1
    assert "did you mean 'nodeSelector'?" in r.stdout
    assert "hostPID" in r.stdout and "ACCESSKEY/SECRETKEY" in r.stdout
    clean = cli(tmp_path, "--lint", "-f", RBG)
    assert (clean.exit_code, clean.stdout) == (0, "")
    # Without --lint, findings are warnings on stderr and the diff still runs.
    r = cli(tmp_path, "default", "-f", bad, "--flavour", "oss")
    assert r.exit_code == 0 and "nodeSelectors" in r.stderr
    lint_lines = [line for line in r.stderr.splitlines() if "nodeSelectors" in line]
    assert lint_lines and all(line.startswith("kubectl clearml: warning: lint error: ") for line in lint_lines)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("agentk8sglue: [\n", "malformed YAML"),
        ("- a\n- b\n", "a values file must be a YAML mapping"),
        ("just a string\n", "a values file must be a YAML mapping"),
        # Keys the chart walks into: helm cannot render with these, so no template is computed from them.
        ("agentk8sglue: 5\n", "agentk8sglue must be a mapping, not the int 5"),
        ("agentk8sglue:\n  basePodTemplate: [1]\n", "agentk8sglue.basePodTemplate must be a mapping, not a list"),
        ("agentk8sglue:\n  queues: [red, blue]\n", "agentk8sglue.queues must be a mapping, not a list"),
        ("agentk8sglue:\n  queues:\n    red: on\n", "agentk8sglue.queues.red must be a mapping, not the bool True"),
        (
            "agentk8sglue:\n  queues:\n    red:\n      templateOverrides: [a]\n",
            "agentk8sglue.queues.red.templateOverrides must be a mapping, not a list",
        ),
    ],
)
def test_bad_values_files(tmp_path, content, message):
    r = cli(tmp_path, "red", "-f", _write(tmp_path, "bad.yaml", content))
    assert r.exit_code == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_missing_values_file(tmp_path):
    r = cli(tmp_path, "red", "-f", str(tmp_path / "nope.yaml"))
    assert r.exit_code >= 2 and "values file not found" in r.stderr


def test_unknown_queue_suggests_close_names(tmp_path):
    r = cli(tmp_path, "gren", "-f", RBG)
    assert r.exit_code == 3
    assert r.stderr.strip().splitlines()[-1] == (
        "kubectl clearml: error: unknown queue 'gren': did you mean 'green'? queues: red, blue, green"
    )


def test_template_override_without_merge_key(tmp_path):
    values = _write(
        tmp_path, "v.yaml", {"agentk8sglue": {"queues": {"q": {"templateOverrides": {"env": [{"value": "x"}]}}}}}
    )
    r = cli(tmp_path, "q", "-f", values, "--merge", "strategic")  # the chart's own rule (deep) needs no key
    assert r.exit_code == 2 and "cannot merge templateOverrides" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--live"],
        ["--live", "--rendered", "-f", RBG],
        ["--reuse-values", "-f", RBG],
        ["--show", "red", "blue", "-f", RBG],
        ["a", "b", "c", "-f", RBG],
        ["--all", "red", "-f", RBG],
        ["red", "-f", RBG, "-o", "table"],
        ["--show", "red", "-f", RBG, "-o", "json-patch"],  # was silently printed as YAML
        ["--show", "red", "-f", RBG, "-o", "diff"],
    ],
)
def test_flag_errors(tmp_path, args):
    r = cli(tmp_path, *args)
    assert r.exit_code == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1


def test_help_has_examples(tmp_path):
    r = cli(tmp_path, "--help")
    assert r.exit_code == 0
    assert "kubectl clearml diff-template green -f values.yaml" in r.stdout
    assert "--merge [deep|replace|strategic]" in r.stdout
