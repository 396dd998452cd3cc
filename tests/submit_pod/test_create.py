"""`submit-pod` end to end in the sandbox: the live agent install, the Kubernetes emulator, the simulated cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.helpers import CliResult, run_cli

NS = "clearml"


def submit(world: Any, tmp_path: Path, *args: str) -> CliResult:
    return run_cli(["submit-pod", "-n", NS, *args], env=world.env, home=str(tmp_path))


def task_pods(world: Any) -> list[dict[str, Any]]:
    # A pod being deleted (graceful deletion: deletionTimestamp set) is on its way out, as on a cluster.
    return [p for p in world.client(NS).list("pods", NS) if p["metadata"]["name"].startswith("clearml-")
            and not p["metadata"].get("deletionTimestamp")]


def new_task(world: Any, queue: str | None = "1xGPU", **container: Any) -> str:
    container.setdefault("image", "python:3.11-slim")
    return str(world.clearml.state.create_task("train", queue=queue, container=container))


def unschedulable_template(tmp_path: Path) -> str:
    """64 GPUs on one pod: no node has them, the pod stays Pending with the scheduler's reason."""
    template = tmp_path / "big.yaml"
    template.write_text(
        yaml.safe_dump({"spec": {"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": 64}}}]}})
    )
    return str(template)


def test_create_and_wait_shows_scheduling_and_pull_events(world: Any, tmp_path: Path) -> None:
    task_id = new_task(world, arguments="--shm-size 2g --gpus all")
    result = submit(world, tmp_path, task_id, "-q", "1xGPU", "--wait", "--timeout", "30")
    assert result.exit_code == 0, result.stderr
    name = f"clearml-id-{task_id}"
    assert result.stdout == f"pod/{name} created\n"
    for text in ("Scheduled", "Pulling", "Pulled", f"pod/{name}: Running", "--gpus all"):
        assert text in result.stderr, text
    pod = world.client(NS).get("pods", name, NS)
    labels = pod["metadata"]["labels"]
    assert labels["clearml-agent-queue"] == world.world.queue_ids["1xGPU"]
    assert labels["clearml-task-id"] == task_id
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] in (1, "1")
    assert pod["spec"]["nodeName"].startswith("gpu")
    assert world.clearml.secret_key not in str(pod)
    env = {e["name"]: e for e in container["env"]}
    assert "valueFrom" in env["CLEARML_API_SECRET_KEY"] and "value" not in env["CLEARML_API_SECRET_KEY"]


def test_labels_match_the_installed_glue(world: Any, tmp_path: Path) -> None:
    seeded = [p for p in task_pods(world) if p["metadata"]["name"].startswith("clearml-id-")]
    task_id = new_task(world, queue="red")
    result = submit(world, tmp_path, task_id, "-q", "red", "--dry-run=client", "-o", "json")
    assert result.exit_code == 0, result.stderr
    pod = yaml.safe_load(result.stdout)
    assert seeded, "the demo world seeds task pods made by the installed glue"
    assert pod["metadata"]["labels"]["CLEARML"] == seeded[0]["metadata"]["labels"]["CLEARML"]
    assert pod["metadata"]["labels"]["team"] == "red"


def test_a_second_submit_is_refused_and_changes_nothing(world: Any, tmp_path: Path) -> None:
    template = unschedulable_template(tmp_path)  # the pod stays Pending, so the task stays queued
    task_id = new_task(world)
    assert submit(world, tmp_path, task_id, "-q", "1xGPU", "--template", template).exit_code == 0
    pod = world.client(NS).get("pods", f"clearml-id-{task_id}", NS)
    again = submit(world, tmp_path, task_id, "-q", "1xGPU", "--template", template, "--mark-started")
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert world.client(NS).get("pods", f"clearml-id-{task_id}", NS)["metadata"]["uid"] == pod["metadata"]["uid"]
    assert "submit-pod" not in str(world.clearml.state.task(task_id).get("status_reason"))  # not marked


def test_server_dry_run_creates_nothing(world: Any, tmp_path: Path) -> None:
    task_id = new_task(world)
    before = len(task_pods(world))
    result = submit(world, tmp_path, task_id, "-q", "1xGPU", "--dry-run=server", "-o", "yaml")
    assert result.exit_code == 0, result.stderr
    assert yaml.safe_load(result.stdout)["metadata"]["name"] == f"clearml-id-{task_id}"
    assert len(task_pods(world)) == before
    assert world.clearml.state.task(task_id)["status"] == "queued"


def test_forbidden_to_create_pods(world: Any, tmp_path: Path) -> None:
    task_id = new_task(world)
    before = len(task_pods(world))
    world.kube.deny("create", "pods", NS)
    result = submit(world, tmp_path, task_id, "-q", "1xGPU", "--mark-started")
    assert result.exit_code == 4, result.stderr
    assert "create" in result.stderr and "pods" in result.stderr and "forbidden" in result.stderr
    assert len(task_pods(world)) == before
    task = world.clearml.state.task(task_id)
    assert task["status"] == "queued"  # nothing half-done: not marked, still in its queue
    assert world.clearml.state.queue_entries("1xGPU")[-1] == task_id


def test_mark_started_moves_the_task_and_drops_require_queue(world: Any, tmp_path: Path) -> None:
    task_id = new_task(world, arguments="--privileged")
    result = submit(world, tmp_path, task_id, "-q", "1xGPU", "--mark-started")
    assert result.exit_code == 0, result.stderr
    task = world.clearml.state.task(task_id)
    assert task["status"] in ("in_progress", "completed")  # the simulated pod may already have finished it
    assert task_id not in world.clearml.state.queue_entries("1xGPU")
    pod = world.client(NS).get("pods", f"clearml-id-{task_id}", NS)
    assert "--require-queue" not in pod["spec"]["containers"][0]["command"][2]


def test_mark_started_failure_deletes_the_pod_again(world: Any, tmp_path: Path) -> None:
    task_id = new_task(world)
    before = len(task_pods(world))
    world.clearml.inject(r"^tasks\.started$", error_rate=1.0, kinds=("500",))
    result = submit(world, tmp_path, task_id, "-q", "1xGPU", "--mark-started")
    assert result.exit_code == 5, result.stderr
    assert "deleted again" in result.stderr
    assert len(task_pods(world)) == before


def test_image_pull_failure_stops_the_wait(world: Any, tmp_path: Path) -> None:
    task_id = new_task(world, image="registry.example/does-not-exist:1")
    result = submit(world, tmp_path, task_id, "-q", "red", "--wait", "--timeout", "30")
    assert result.exit_code == 5
    assert "ErrImagePull" in result.stderr or "ImagePullBackOff" in result.stderr
    assert "Traceback" not in result.stderr


def test_wait_is_bounded_by_timeout(world: Any, tmp_path: Path) -> None:
    task_id = new_task(world)
    template = unschedulable_template(tmp_path)
    result = submit(world, tmp_path, task_id, "-q", "1xGPU", "--template", template, "--wait", "--timeout", "1")
    assert result.exit_code == 5, result.stderr
    assert "did not reach Running within 1s (Pending, Unschedulable: 0/7 nodes are available" in result.stderr
    assert "Insufficient nvidia.com/gpu" in result.stderr


def test_wait_timeout_without_a_message_has_no_dangling_colon(make_world: Any, tmp_path: Path) -> None:
    # ContainerCreating carries no message: the error said "(Pending, ContainerCreating: )".
    world = make_world(pull_seconds=10_000)  # the image pull never ends within the wait
    task_id = new_task(world)
    result = submit(world, tmp_path, task_id, "-q", "red", "--wait", "--timeout", "0.5")
    assert result.exit_code == 5, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("kubectl clearml: error: pod clearml-id-"), last
    assert "did not reach Running within 0.5s (Pending, ContainerCreating): " in last, last


def test_logs_are_streamed(world: Any, tmp_path: Path) -> None:
    task_id = new_task(world, queue="red", arguments="-e SANDBOX_RUN_SECONDS=5")
    result = submit(world, tmp_path, task_id, "-q", "red", "--logs", "--timeout", "30")
    assert result.exit_code == 0, result.stderr
    assert f"Executing task id [{task_id}]" in result.stdout


def test_adhoc_pod_on_a_gpu_queue(world: Any, tmp_path: Path) -> None:
    result = submit(
        world, tmp_path, "-q", "1xGPU", "--image", "nvidia/cuda:12.2.0-base-ubuntu22.04", "--", "nvidia-smi"
    )
    assert result.exit_code == 0, result.stderr
    name = result.stdout.split()[0].removeprefix("pod/")
    assert name.startswith("clearml-adhoc-")
    pod = world.client(NS).get("pods", name, NS)
    assert pod["spec"]["containers"][0]["command"] == ["nvidia-smi"]
    assert "CLEARML" not in pod["metadata"]["labels"]


def test_unknown_queue_and_task(world: Any, tmp_path: Path) -> None:
    task_id = new_task(world)
    result = submit(world, tmp_path, task_id, "-q", "no-such-queue")
    assert result.exit_code == 3 and "no-such-queue" in result.stderr
    result = submit(world, tmp_path, "f" * 32, "-q", "1xGPU")
    assert result.exit_code == 3
    assert len([p for p in task_pods(world) if task_id in p["metadata"]["name"]]) == 0


def test_a_task_id_with_image_is_refused_rather_than_run_as_a_command(world: Any, tmp_path: Path) -> None:
    task_id = new_task(world)
    before = len(task_pods(world))
    result = submit(world, tmp_path, task_id, "-q", "1xGPU", "--image", "python:3.12", "--", "python", "-V")
    assert result.exit_code == 2, result.stderr
    assert "looks like a task id" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert len(task_pods(world)) == before
