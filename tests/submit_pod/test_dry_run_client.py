"""`submit-pod --dry-run=client`: the real CLI against the ClearML emulator, templates from values files."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_clearml.sandbox.clearml import ClearmlEmulator
from tests.helpers import run_cli

SEEDS = Path(__file__).resolve().parents[2] / "kubectl_clearml" / "sandbox" / "seeds"


@pytest.fixture
def values_file(tmp_path: Path) -> str:
    text = (SEEDS / "agent-enterprise-values.yaml").read_text()
    for key, value in {
        "${ACCESS_KEY}": "VALUESACCESSKEY",
        "${SECRET_KEY}": "values-file-secret-value-123",
        "${API_HOST}": "http://api.example:8008",
        "${FILES_HOST}": "http://files.example",
        "${WEB_HOST}": "http://web.example",
    }.items():
        text = text.replace(key, value)
    path = tmp_path / "values.yaml"
    path.write_text(text)
    return str(path)


def submit(clearml: ClearmlEmulator, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = run_cli(["submit-pod", *args], env=clearml.env(), home=str(tmp_path))
    return result.exit_code, result.stdout, result.stderr


def test_prints_the_pod_for_a_task_on_a_queue(clearml: ClearmlEmulator, tmp_path: Path, values_file: str) -> None:
    state = clearml.state
    queue_id = state.create_queue("green")
    task_id = state.create_task(
        "train",
        queue="green",
        container={"image": "python:3.11-slim", "arguments": "-e FOO=bar --shm-size 4g --gpus all"},
    )
    code, out, err = submit(clearml, tmp_path, task_id, "--queue", "green", "-f", values_file, "--dry-run=client")
    assert code == 0, err
    pod: dict[str, Any] = yaml.safe_load(out)
    assert pod["metadata"]["name"] == f"clearml-id-{task_id}"
    labels = pod["metadata"]["labels"]
    assert labels["team"] == "green"  # the queue's override reached the pod
    assert labels["clearml-agent-queue"] == queue_id
    assert labels["clearml-agent-queue-name"] == "green"
    assert labels["CLEARML"].startswith("agent-")
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["MY_ENV"]["value"] == "my_value" and env["FOO"]["value"] == "bar"
    assert env["CLEARML_API_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "clearml-agent-ac",
        "key": "agentk8sglue_secret",
    }
    assert container["resources"]["limits"]["memory"] == "2Gi"
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "4Gi"}} in pod["spec"]["volumes"]
    # The task is queued, so the in-pod agent keeps --require-queue (guards against a second runner).
    assert f"--require-queue --id {task_id}" in container["command"][2]
    # Dropped, and said so in the shape every diagnostic line has (as the other commands print them).
    assert "kubectl clearml: warning: docker arguments not applied on Kubernetes: --gpus all\n" in err
    assert all(line.startswith("kubectl clearml: ") for line in err.splitlines()), err
    for secret in ("values-file-secret-value-123", clearml.secret_key):
        assert secret not in out and secret not in err
    # A client dry run never touches the task.
    assert state.task(task_id)["status"] == "queued"
    assert state.queue_entries("green") == [task_id]


def test_output_json_and_name(clearml: ClearmlEmulator, tmp_path: Path, values_file: str) -> None:
    clearml.state.create_queue("1xGPU")
    task_id = clearml.state.create_task("t", container={"image": "alpine"})
    code, out, _ = submit(
        clearml, tmp_path, task_id, "-q", "1xGPU", "-f", values_file, "--dry-run=client", "-o", "name"
    )
    assert (code, out) == (0, f"pod/clearml-id-{task_id}\n")
    code, out, _ = submit(
        clearml, tmp_path, task_id, "-q", "1xGPU", "-f", values_file, "--dry-run=client", "-o", "json"
    )
    assert code == 0
    pod = yaml.safe_load(out)
    assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    # A created (not queued) task runs without --require-queue, or its agent would refuse it.
    assert "--require-queue" not in pod["spec"]["containers"][0]["command"][2]


def test_bad_input(clearml: ClearmlEmulator, tmp_path: Path, values_file: str) -> None:
    clearml.state.create_queue("green")
    task_id = clearml.state.create_task("t", container={"image": "alpine"})
    code, _, err = submit(clearml, tmp_path, "0" * 32, "-q", "green", "-f", values_file, "--dry-run=client")
    assert code == 3, err
    code, _, err = submit(clearml, tmp_path, task_id, "-q", "no-such-queue", "-f", values_file, "--dry-run=client")
    assert code == 3 and "no-such-queue" in err
    not_a_pod = tmp_path / "template.yaml"
    shutil.copy(values_file, not_a_pod)
    code, _, err = submit(clearml, tmp_path, task_id, "-q", "green", "--template", str(not_a_pod), "--dry-run=client")
    assert code == 2 and "not a pod spec" in err, err
    clearml.state.set_task(task_id, container={"image": "Not A Valid Image"})
    code, _, err = submit(clearml, tmp_path, task_id, "-q", "green", "-f", values_file, "--dry-run=client")
    assert code == 2 and "invalid image name" in err
    done = clearml.state.create_task("done", status="completed")
    code, _, err = submit(clearml, tmp_path, done, "-q", "green", "-f", values_file, "--dry-run=client")
    assert code == 2 and "is completed" in err
    code, _, err = submit(clearml, tmp_path, "-q", "green", "-f", values_file, "--dry-run=client")
    assert code == 2 and "missing TASK_ID" in err
    code, _, err = submit(clearml, tmp_path, task_id, "-q", "green", "--dry-run=client", "--wait", "-f", values_file)
    assert code == 2
    assert "Traceback" not in err


def test_adhoc_pod_needs_no_task(clearml: ClearmlEmulator, tmp_path: Path, values_file: str) -> None:
    args = ["-q", "1xGPU", "-f", values_file, "--dry-run=client", "--image", "nvidia/cuda:12.2.0-base-ubuntu22.04"]
    code, out, err = submit(clearml, tmp_path, *args, "--", "nvidia-smi", "-L")
    assert code == 0, err
    pod = yaml.safe_load(out)
    assert pod["metadata"]["name"].startswith("clearml-adhoc-")
    assert "CLEARML" not in pod["metadata"]["labels"]
    first = pod["spec"]["containers"][0]
    assert first["command"] == ["nvidia-smi", "-L"]
    assert first["resources"]["limits"]["nvidia.com/gpu"] == 1
    code, _, err = submit(
        clearml, tmp_path, "-q", "nope", "-f", values_file, "--dry-run=client", "--image", "alpine", "--", "true"
    )
    assert code == 3 and "nope" in err


@pytest.mark.parametrize(
    ("arguments", "code", "shown"),
    [
        ('-e HF_TOKEN=hf_leak123 -e X="open', 2, "docker arguments cannot be parsed"),
        ("--label API_TOKEN=hf_leak123 -e LR=0.1", 0, "--label API_TOKEN=********"),
        ("--hf-token hf_leak123 -e LR=0.1", 0, "not applied on Kubernetes: --hf-token ********\n"),
    ],
)
def test_secrets_in_docker_arguments_are_masked_in_errors_and_warnings(
    clearml: ClearmlEmulator, tmp_path: Path, values_file: str, arguments: str, code: int, shown: str
) -> None:
    # No Secret or config holds hf_leak123: its name is all that says it is one.
    clearml.state.create_queue("green")
    task_id = clearml.state.create_task("t", queue="green", container={"image": "python:3.11", "arguments": arguments})
    exit_code, out, err = submit(clearml, tmp_path, task_id, "-q", "green", "-f", values_file, "--dry-run=client")
    assert exit_code == code, err
    assert shown in err and "hf_leak123" not in out + err
    assert all(line.startswith("kubectl clearml: ") for line in err.splitlines()), err
