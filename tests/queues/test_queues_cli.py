"""`kubectl clearml queues` end to end over HTTP against the ClearML emulator, with values files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
GPU_VALUES = str(ROOT / "examples" / "enterprise-gpu-values.yaml")


@pytest.fixture
def env(clearml, tmp_path):
    return {**clearml.env(), "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "no-kubeconfig")}


def enqueue(clearml, queue_name, *names, image="python:3.11"):
    if clearml.state.queue_by_name(queue_name) is None:
        clearml.state.create_queue(queue_name)
    container = {"image": image, "arguments": "", "setup_shell_script": ""}
    ids = [clearml.state.create_task(name, queue=queue_name, container=container) for name in names]
    return clearml.state.queue_by_name(queue_name), ids


def test_list_with_only_clearml(clearml, env):
    enqueue(clearml, "2xGPU", "train-a", "train-b")
    result = run_cli(["queues", "--no-kube"], env=env)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "PENDING", "OLDEST", "RUNNING", "POD-PENDING", "SERVED", "TEMPLATE", "WORKERS"]
    row = next(line.split() for line in lines if line.startswith("2xGPU"))
    assert row[1] == "2" and row[3] == "-" and row[5] == "-"


def test_values_file_adds_served_and_template_columns(clearml, env):
    enqueue(clearml, "2xGPU", "train-a")
    clearml.state.create_queue("adhoc")
    result = run_cli(["queues", "--no-kube", "-f", GPU_VALUES, "-o", "json"], env=env)
    assert result.exit_code == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)["items"]}
    assert (
        rows["2xGPU"]["served"] is True
        and rows["2xGPU"]["template"] == "gpu=2 mem=64Gi node=gpu.product=A100-SXM4-40GB"
    )
    assert rows["GPUshm"]["template"] == "gpu=2 mem=64Gi shm=32Gi"
    assert rows["GPUshm"]["exists"] is False  # served but not created in ClearML yet
    assert rows["adhoc"]["served"] is False
    assert rows["2xGPU"]["pending"] == 1


def test_offline_with_only_values_files(tmp_path):
    result = run_cli(
        ["queues", "-f", GPU_VALUES, "--no-kube"], env={"KUBECONFIG": str(tmp_path / "none")}, home=str(tmp_path)
    )
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert names == ["1xGPU", "2xGPU", "GPUshm"]
    assert "ClearML unavailable" in result.stderr


def test_hidden_queues_and_stranded_tasks(clearml, env):
    clearml.state.create_queue("k8s_scheduler", system_tags=["k8s-glue"])
    clearml.state.create_task("parked", queue="k8s_scheduler")
    plain = run_cli(["queues", "--no-kube"], env=env)
    assert "k8s_scheduler" not in plain.stdout
    # --no-kube looked at no pod: flagged, but without claiming there is none.
    assert "1 task(s) waiting in hidden queue(s) k8s_scheduler (task pods not checked)" in plain.stderr
    assert "with no pod" not in plain.stderr
    shown = run_cli(["queues", "--no-kube", "--all", "-o", "name"], env=env)
    assert "queue/k8s_scheduler" in shown.stdout.splitlines()


def test_show_lists_pending_tasks_in_order(clearml, env):
    _, ids = enqueue(clearml, "2xGPU", "first-task", "second-task", image="nvcr.io/nvidia/pytorch:24.01-py3")
    named = run_cli(["queues", "show", "2xgpu", "--no-kube", "-o", "name"], env=env)  # every read command
    assert (named.exit_code, named.stdout) == (0, "queue/2xGPU\n"), named.stderr
    result = run_cli(["queues", "show", "2xGPU", "--no-kube", "-f", GPU_VALUES], env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.index(ids[0]) < result.stdout.index(ids[1])
    assert "nvcr.io/nvidia/pytorch:24.01-py3" in result.stdout
    assert "Template: gpu=2" in result.stdout
    bare = run_cli(["--no-headers", "queues", "show", "2xGPU", "--no-kube"], env=env)  # README: show takes it
    assert bare.exit_code == 0, bare.stderr
    assert ids[0] in bare.stdout and "TASK" not in bare.stdout and "ENQUEUED" not in bare.stdout
    doc = json.loads(run_cli(["queues", "show", "2xGPU", "--no-kube", "-o", "json"], env=env).stdout)
    assert [t["name"] for t in doc["pendingTasks"]] == ["first-task", "second-task"]


def test_unknown_queue_suggests_close_names(clearml, env):
    enqueue(clearml, "2xGPU", "train-a")
    result = run_cli(["queues", "show", "2xGPUs", "--no-kube"], env=env)
    assert result.exit_code == 3
    assert result.stderr.strip() == "kubectl clearml: error: queue '2xGPUs' not found (ClearML): did you mean: 2xGPU"
    wrong_case = run_cli(["queues", "show", "2xgpus", "--no-kube"], env=env)  # a typo in the other case too
    assert wrong_case.exit_code == 3
    assert wrong_case.stderr.strip().endswith("not found (ClearML): did you mean: 2xGPU"), wrong_case.stderr


def test_create_delete_and_force(clearml, env):
    assert run_cli(["queues", "create", "team-x", "--tag", "gpu"], env=env).exit_code == 0
    assert clearml.state.queue_by_name("team-x")["tags"] == ["gpu"]
    enqueue(clearml, "team-x", "busy-task")
    refused = run_cli(["queues", "delete", "team-x"], env=env)
    assert refused.exit_code == 2 and "Queue is not empty" in refused.stderr
    assert clearml.state.queue_by_name("team-x") is not None
    assert run_cli(["queues", "delete", "team-x", "--force"], env=env).exit_code == 0
    assert clearml.state.queue_by_name("team-x") is None


def test_sync_creates_served_queues_with_dry_run_first(clearml, env):
    dry = run_cli(["queues", "sync", "-f", GPU_VALUES, "--dry-run=client"], env=env)
    assert dry.stdout.splitlines() == [f"queue/{q} would be created (dry run)" for q in ("1xGPU", "2xGPU", "GPUshm")]
    assert clearml.state.queue_by_name("1xGPU") is None
    assert run_cli(["queues", "sync", "-f", GPU_VALUES], env=env).exit_code == 0
    assert all(clearml.state.queue_by_name(q) for q in ("1xGPU", "2xGPU", "GPUshm"))
    again = run_cli(["queues", "sync", "-f", GPU_VALUES], env=env)
    assert again.stdout == "every served queue exists; nothing to do\n"


def test_bad_credentials_with_nothing_else_to_show(clearml, env):
    result = run_cli(["queues", "--no-kube"], env={**env, "CLEARML_API_SECRET_KEY": "not-the-secret"})
    assert result.exit_code == 4
    assert "not-the-secret" not in result.stdout + result.stderr


def test_one_clearml_call_for_all_queues(clearml, env):
    for i in range(20):
        enqueue(clearml, f"queue-{i:02d}", f"task-{i}")
    clearml.requests.clear()
    assert run_cli(["queues", "--no-kube"], env=env).exit_code == 0
    assert clearml.requests.count("queues.get_all") == 1


@pytest.mark.parametrize("subcommand", [[], ["show", "2xGPU"], ["sync", "--dry-run=client"]])
def test_a_missing_values_file_is_an_error_not_a_warning(clearml, env, tmp_path, subcommand):
    # The user named the file: listing ClearML's queues without it (exit 0) would hide the typo.
    enqueue(clearml, "2xGPU", "train-a")
    missing = str(tmp_path / "valuse.yaml")
    result = run_cli(["queues", *subcommand, "--no-kube", "-f", missing], env=env)
    assert result.exit_code == 2, result.stderr
    assert result.stderr == f"kubectl clearml: error: values file not found ({missing}): check the -f/--values path\n"
    assert result.stdout == ""


@pytest.mark.parametrize("dry_run", ["none", "client", "server"])
def test_creating_an_existing_queue_is_refused_by_name_even_in_a_dry_run(clearml, env, dry_run):
    existing = clearml.state.create_queue("team-x")
    result = run_cli(["queues", "create", "team-x", f"--dry-run={dry_run}"], env=env)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        f"kubectl clearml: error: queue 'team-x' already exists (ClearML, id {existing}): "
        "pick another name, or use that queue\n"
    )
    assert [q["name"] for q in clearml.state.queues.values()].count("team-x") == 1


def test_a_dry_run_delete_of_a_busy_queue_fails_like_the_delete(clearml, env):
    enqueue(clearml, "team-x", "busy-task")
    dry = run_cli(["queues", "delete", "team-x", "--dry-run=server"], env=env)
    real = run_cli(["queues", "delete", "team-x"], env=env)
    assert dry.exit_code == real.exit_code == 2 and dry.stdout == ""
    assert "not empty: 1 queued task(s)" in dry.stderr and "pass --force" in dry.stderr
    forced = run_cli(["queues", "delete", "team-x", "--dry-run=client", "--force"], env=env)
    assert forced.exit_code == 0 and forced.stdout == "queue/team-x would be deleted (dry run)\n"
    assert clearml.state.queue_by_name("team-x") is not None


def test_changes_print_names_with_o_name_and_refuse_other_formats_before_changing(clearml, env):
    created = run_cli(["queues", "create", "team-x", "-o", "name"], env=env)
    assert (created.exit_code, created.stdout) == (0, "queue/team-x\n")
    refused = run_cli(["queues", "-o", "json", "create", "team-y"], env=env)
    assert refused.exit_code == 2 and "unsupported output format 'json'" in refused.stderr
    assert clearml.state.queue_by_name("team-y") is None
    sync = run_cli(["queues", "sync", "-f", GPU_VALUES, "--dry-run=client", "-o", "name"], env=env)
    assert sync.stdout.splitlines() == ["queue/1xGPU", "queue/2xGPU", "queue/GPUshm"]
    assert run_cli(["queues", "sync", "-f", GPU_VALUES, "-o", "yaml"], env=env).exit_code == 2
    assert clearml.state.queue_by_name("1xGPU") is None
    deleted = run_cli(["queues", "delete", "team-x", "-o", "name"], env=env)
    assert (deleted.exit_code, deleted.stdout) == (0, "queue/team-x\n")


def test_a_wrong_clearml_setting_is_an_error_while_none_at_all_is_a_note(tmp_path):
    # Only the agent's values, no ClearML configured anywhere: the offline view, exit 0.
    base = {"KUBECONFIG": str(tmp_path / "none"), "CLEARML_CONFIG_FILE": None}
    offline = run_cli(["queues", "-f", GPU_VALUES, "--no-kube"], env=base, home=str(tmp_path))
    assert offline.exit_code == 0 and "no ClearML server / access key / secret key configured" in offline.stderr
    # A setting the user gave, but wrong: bad input (exit 2), not a table with ClearML columns '-'.
    for flags, message in (
        (["--api-host", "ftp://clearml:8008"], "the ClearML API host must be an http(s) URL (ftp://clearml:8008)"),
        (["--clearml-config", str(tmp_path / "missing.conf")], "clearml.conf not found"),
    ):
        result = run_cli(["queues", "-f", GPU_VALUES, "--no-kube", *flags], env=base, home=str(tmp_path))
        assert result.exit_code == 2 and result.stdout == "", flags
        assert result.stderr.startswith(f"kubectl clearml: error: {message}") and len(result.stderr.splitlines()) == 1


def test_no_queues_prints_no_bare_header(clearml, env):
    for queue in list(clearml.state.queues.values()):
        assert run_cli(["queues", "delete", queue["name"], "--force"], env=env).exit_code == 0
    table = run_cli(["queues", "--no-kube"], env=env)
    assert (table.exit_code, table.stdout) == (0, "") and table.stderr.splitlines()[-1] == "kubectl clearml: No queues found."
    listed = run_cli(["queues", "--no-kube", "-o", "json"], env=env)
    assert json.loads(listed.stdout)["items"] == []


def test_values_from_standard_input_as_in_diff_template(tmp_path):
    # `helm get values REL | kubectl clearml queues -f -`: '-' is standard input, not a file named '-'.
    import subprocess
    import sys

    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")}
    values = Path(GPU_VALUES).read_text()
    for args in (["queues", "-f", "-", "--no-kube", "-o", "json"], ["shm-fix", "--check", "-f", "-", "-o", "json"]):
        proc = subprocess.run(
            [sys.executable, "-m", "kubectl_clearml", *args], input=values, capture_output=True, text=True, env=env,
            timeout=60, cwd=tmp_path,
        )  # fmt: skip
        assert "values file not found" not in proc.stderr, args
        names = {item.get("name") or item.get("queue") for item in json.loads(proc.stdout)["items"]}
        assert {"1xGPU", "2xGPU", "GPUshm"} <= names, args
    in_place = run_cli(["shm-fix", "2xGPU", "-f", "-", "--in-place"], env=env, home=str(tmp_path))
    assert in_place.exit_code == 2 and "--in-place cannot edit standard input" in in_place.stderr


def test_a_values_file_that_is_not_a_mapping_is_one_line_with_a_hint(clearml, env, tmp_path):
    listed = tmp_path / "list.yaml"
    listed.write_text("- agentk8sglue\n- clearml\n")
    result = run_cli(["queues", "--no-kube", "-f", str(listed)], env=env)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        f"kubectl clearml: error: a values file must be a YAML mapping ({listed}): "
        "its top level holds keys such as agentk8sglue: and clearml:\n"
    )


def test_a_kube_flag_that_cannot_work_is_an_error_while_no_kubeconfig_is_a_note(clearml, env, kube, tmp_path):
    # As for ClearML settings: nothing configured gives the ClearML-only view with a note, but a --context
    # or --kubeconfig the user named and that cannot work stops with its error (kubectl does the same).
    enqueue(clearml, "2xGPU", "train-a")
    no_config = run_cli(["queues"], env=env)
    assert no_config.exit_code == 0 and "Kubernetes columns unavailable: no kubeconfig found" in no_config.stderr
    config = kube.write_kubeconfig(tmp_path / "kubeconfig", namespace="ml", context="sandbox")
    for flags, code, message in (
        (["--kubeconfig", str(config), "--context", "prod"], 3, "context 'prod' not found in the kubeconfig"),
        (["--kubeconfig", str(tmp_path / "missing")], 2, "kubeconfig file not found"),
    ):
        for command in (["queues"], ["queues", "show", "2xGPU"]):
            result = run_cli([*command, *flags], env=env)
            assert (result.exit_code, result.stdout) == (code, ""), (command, flags, result.stderr)
            assert result.stderr.startswith(f"kubectl clearml: error: {message}") and len(result.stderr.splitlines()) == 1
    fine = run_cli(["queues", "--kubeconfig", str(config), "--context", "sandbox"], env=env)
    assert fine.exit_code == 0 and "Kubernetes columns unavailable" not in fine.stderr


def test_show_names_the_project_of_each_pending_task(clearml, env):
    # tasks.get_all answers a task's project as its id; the PROJECT column wants the name (one extra call).
    vision = clearml.state.create_project("vision/resnet")
    enqueue(clearml, "2xGPU", "no-project")
    in_project = clearml.state.create_task("in-project", queue="2xGPU", project=vision)
    clearml.requests.clear()
    doc = json.loads(run_cli(["queues", "show", "2xGPU", "--no-kube", "-o", "json"], env=env).stdout)
    assert [(t["name"], t["project"]) for t in doc["pendingTasks"]] == [
        ("no-project", None),
        ("in-project", "vision/resnet"),
    ]
    assert doc["pendingTasks"][1]["id"] == in_project
    assert clearml.requests.count("projects.get_all") == 1
    table = run_cli(["queues", "show", "2xGPU", "--no-kube"], env=env).stdout
    assert "vision/resnet" in table and vision not in table


def test_sync_takes_an_id_for_the_queue_and_refuses_short_names_before_creating_any(clearml, env, tmp_path):
    existing = clearml.state.create_queue("research")
    values = tmp_path / "values.yaml"
    values.write_text(f"agentk8sglue:\n  queue: {existing},batch\n")  # open-source chart: a comma list
    dry = run_cli(["queues", "sync", "-f", str(values), "--dry-run=client"], env=env)
    assert dry.stdout.splitlines() == ["queue/batch would be created (dry run)"], dry.stderr  # not the id
    short = tmp_path / "short.yaml"
    short.write_text("agentk8sglue:\n  queue: batch,q1\n")
    for flags in (["--dry-run=client"], []):
        result = run_cli(["queues", "sync", "-f", str(short), *flags], env=env)
        assert (result.exit_code, result.stdout) == (2, ""), result.stderr
        assert result.stderr.strip() == (
            "kubectl clearml: error: cannot create queue(s) 'q1': ClearML needs at least 3 characters "
            "(agent configuration): rename the queue in the agent's values"
        )
    assert clearml.state.queue_by_name("batch") is None  # nothing was created


def test_show_masks_secret_env_values_in_the_template(clearml, env, tmp_path):
    # diff-template and submit-pod mask them; `show -o yaml|json` printed the template as is.
    enqueue(clearml, "research", "train-a")
    for served in ("research", "RESEARCH"):  # the agent serves a queue in any case: its template all the same
        values = tmp_path / f"{served}.yaml"
        values.write_text(
            f"agentk8sglue:\n  queue: {served}\n  basePodTemplate:\n    env:\n"
            "      - {name: HF_TOKEN, value: hf_live_value_1234}\n      - {name: MODE, value: fast}\n"
        )
        for fmt in ("yaml", "json"):
            result = run_cli(["queues", "show", "research", "--no-kube", "-f", str(values), "-o", fmt], env=env)
            assert result.exit_code == 0, result.stderr
            assert "hf_live_value_1234" not in result.stdout, (served, fmt)
            assert "********" in result.stdout and "fast" in result.stdout, (served, fmt)
