"""The seeded demo world, read back through the real APIs (Kubernetes adapter, ClearML REST client, kubectl)."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import yaml

from kubectl_clearml.adapters.clearml import ClearmlClient
from kubectl_clearml.adapters.credentials import Credentials
from kubectl_clearml.core.podbuilder import agent_label
from tests.sandbox.cluster_helpers import wait_for


def _clearml(handle: Any) -> ClearmlClient:
    server = handle.clearml
    return ClearmlClient(Credentials(server.url, server.access_key, server.secret_key), retries=0)


def _decode_release(secret: dict[str, Any]) -> dict[str, Any]:
    # base64 (the API's Secret encoding) → base64 (Helm's) → gunzip → JSON
    helm_text = base64.b64decode(secret["data"]["release"])
    compressed = base64.b64decode(helm_text)
    assert compressed[:3] == b"\x1f\x8b\x08"
    return dict(json.loads(gzip.decompress(compressed)))


def test_nodes_carry_gfd_labels_gpus_mig_and_a_taint(world: Any) -> None:
    nodes = {n["metadata"]["name"]: n for n in world.client().list("nodes")}

    assert sorted(nodes) == ["cpu-1", "cpu-2", "gpu-a100-1", "gpu-a100-2", "gpu-a100-mig-1", "gpu-t4-1", "gpu-t4-2"]
    a100 = nodes["gpu-a100-1"]
    assert a100["metadata"]["labels"]["nvidia.com/gpu.product"] == "A100-SXM4-40GB"
    assert a100["status"]["allocatable"]["nvidia.com/gpu"] == "8"
    mig = nodes["gpu-a100-mig-1"]
    assert mig["metadata"]["labels"]["nvidia.com/mig.strategy"] == "mixed"
    assert mig["status"]["allocatable"]["nvidia.com/mig-1g.5gb"] == "14"
    assert mig["status"]["allocatable"]["nvidia.com/mig-3g.20gb"] == "4"
    assert nodes["gpu-t4-2"]["metadata"]["labels"]["nvidia.com/gpu.product"] == "Tesla-T4"
    assert "nvidia.com/gpu" not in nodes["cpu-1"]["status"]["allocatable"]
    assert nodes["cpu-2"]["spec"]["taints"] == [{"key": "dedicated", "value": "system", "effect": "NoSchedule"}]
    assert all(n["metadata"]["labels"]["kubernetes.io/hostname"] == name for name, n in nodes.items())


def test_release_secret_decodes_to_values_with_the_colour_queues(world: Any) -> None:
    client = world.client("clearml")
    secrets = list(client.list("secrets", "clearml", label_selector="owner=helm,status=deployed"))
    assert [s["metadata"]["name"] for s in secrets] == ["sh.helm.release.v1.clearml-agent.v1"]
    assert secrets[0]["type"] == "helm.sh/release.v1"

    release = _decode_release(secrets[0])

    assert release["name"] == "clearml-agent" and release["namespace"] == "clearml"
    assert release["info"]["status"] == "deployed"
    assert release["chart"]["metadata"]["name"] == "clearml-enterprise-agent"
    queues = release["config"]["agentk8sglue"]["queues"]
    assert list(queues) == ["red", "blue", "green", "1xGPU", "2xGPU", "GPUshm"]
    assert queues["red"]["templateOverrides"] == {}
    assert queues["blue"]["templateOverrides"]["labels"] == {"team": "blue"}
    assert queues["green"]["templateOverrides"]["resources"]["limits"]["memory"] == "2Gi"
    base = release["config"]["agentk8sglue"]["basePodTemplate"]
    assert base == {"labels": {"team": "red"}, "resources": {"limits": {"memory": "1Gi"}}}
    # The chart defaults are the release's chart.values, user values its config.
    assert release["chart"]["values"]["clearml"]["agentk8sglueKey"] == "ACCESSKEY"
    assert release["config"]["clearml"]["agentk8sglueKey"] == world.clearml.access_key


def test_release_manifest_names_the_live_objects(world: Any) -> None:
    client = world.client("clearml")
    secret = client.get("secrets", "sh.helm.release.v1.clearml-agent.v1", "clearml")
    manifest = _decode_release(secret)["manifest"]
    assert "# Source: clearml-enterprise-agent/templates/agentk8sglue-deployment.yaml" in manifest
    for doc in yaml.safe_load_all(manifest):
        if doc["kind"] in ("Role", "RoleBinding"):
            continue  # kept in the release; the emulator serves no RBAC objects
        live = client.get(doc["kind"].lower() + "s", doc["metadata"]["name"], "clearml")
        assert live["metadata"]["name"] == doc["metadata"]["name"]


def test_agent_deployment_template_configmap_and_credentials(world: Any) -> None:
    client = world.client("clearml")
    deployment = client.get("deployments", "clearml-agent", "clearml")
    container = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "k8s-glue")
    env = {e["name"]: e for e in container["env"]}
    assert env["K8S_GLUE_QUEUE"]["value"].split() == ["red", "blue", "green", "1xGPU", "2xGPU", "GPUshm"]
    assert env["CLEARML_API_HOST"]["value"] == world.clearml.url
    # enterprise 6.14.1: a non-root glue with its mounts under /home/nonroot (docs enterprise_agent_upgrade_6_12_3.md)
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/home/nonroot/template")
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    config_map = client.get("configmaps", volume["configMap"]["name"], "clearml")
    templates = yaml.safe_load(config_map["data"]["template.yaml"])
    assert templates["green"]["metadata"]["labels"] == {"team": "green"}
    assert templates["green"]["metadata"]["annotations"] == {"example": "example value"}
    green = templates["green"]["spec"]["containers"][0]
    assert green["resources"]["limits"] == {"memory": "2Gi"}
    assert {"name": "MY_ENV", "value": "my_value"} in green["env"]
    shm = templates["GPUshm"]["spec"]
    assert shm["volumes"] == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "32Gi"}}]

    key_ref = env["CLEARML_API_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]
    credentials = client.get("secrets", key_ref["name"], "clearml")
    assert base64.b64decode(credentials["data"]["agentk8sglue_key"]).decode() == world.clearml.access_key
    assert base64.b64decode(credentials["data"]["agentk8sglue_secret"]).decode() == world.clearml.secret_key


def test_clearml_queues_hold_queued_tasks_with_images(world: Any) -> None:
    api = _clearml(world)
    queues = {q["name"]: q for q in api.call("queues.get_all", {"search_hidden": True})["queues"]}
    assert {"default", "red", "blue", "green", "1xGPU", "2xGPU", "GPUshm", "k8s_scheduler"} <= set(queues)
    assert "k8s-glue" in queues["k8s_scheduler"]["system_tags"]
    visible = {q["name"] for q in api.call("queues.get_all", {})["queues"]}
    assert "k8s_scheduler" not in visible
    assert len(queues["1xGPU"]["entries"]) == 3
    assert len(queues["red"]["entries"]) == 2

    # Entries carry past enqueue times (the seeds' age_minutes): red's head waited 48 minutes.
    added = datetime.fromisoformat(queues["red"]["entries"][0]["added"].replace("Z", "+00:00"))
    waited = datetime.now(timezone.utc) - added
    assert timedelta(minutes=47) < waited < timedelta(minutes=49)
    first = queues["2xGPU"]["entries"][0]["task"]
    task = api.call("tasks.get_by_id", {"task": first})["task"]
    assert task["status"] == "queued" and task["name"] == "finetune-llama-7b-ddp"
    assert task["container"]["image"] == "nvcr.io/nvidia/pytorch:24.05-py3"
    assert world.world.task_ids["finetune-llama-7b-ddp"] == first


def test_running_task_pods_look_like_glue_pods_and_stay_running(world: Any) -> None:
    client = world.client("clearml")
    pods = list(client.list("pods", "clearml", label_selector="CLEARML"))
    assert len(pods) == 3
    task_ids = world.world.task_ids
    by_task = {p["metadata"]["labels"]["clearml-task-id"]: p for p in pods}
    vit = by_task[task_ids["train-vit-b16"]]
    assert vit["metadata"]["name"] == f"clearml-id-{task_ids['train-vit-b16']}"
    assert vit["metadata"]["labels"]["CLEARML"] == agent_label("clearml-agent")
    assert vit["metadata"]["labels"]["clearml-agent-queue-name"] == "1xgpu"
    assert vit["spec"]["nodeName"] == "gpu-a100-1"
    assert vit["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"  # quantities are strings
    api = _clearml(world)
    assert api.call("tasks.get_by_id", {"task": task_ids["train-vit-b16"]})["task"]["status"] == "in_progress"

    # The seeded load stays: the kubelet has adopted these pods and leaves them Running.
    passes = world.cluster.passes  # a poke before the first pass coalesces with it: compare, not count
    world.cluster.poke()
    wait_for(lambda: world.cluster.passes > passes, what="a cluster pass")
    assert {p["status"]["phase"] for p in client.list("pods", all_namespaces=True)} == {"Running"}


def test_a_queued_two_gpu_task_pod_would_fail_without_shm_in_this_world(world: Any) -> None:
    """The demo's story in miniature: a 2xGPU pod (no /dev/shm) fails, the same on GPUshm succeeds."""
    client = world.client("clearml")
    templates = yaml.safe_load(client.get("configmaps", "clearml-agent-pt", "clearml")["data"]["template.yaml"])
    for queue in ("2xGPU", "GPUshm"):
        pod = templates[queue]
        pod["metadata"]["name"] = f"probe-{queue.lower()}"
        pod["metadata"]["annotations"] = {"sandbox.kubectl-clearml/run-seconds": "5"}
        pod["spec"]["restartPolicy"] = "Never"
        pod["spec"]["containers"][0].update(name="main", image="nvcr.io/nvidia/pytorch:24.05-py3")
        client.create("pods", pod, "clearml")

    def phase(name: str) -> str | None:
        got = client.get("pods", name, "clearml")["status"].get("phase")
        return got if got in ("Succeeded", "Failed") else None

    assert wait_for(lambda: phase("probe-2xgpu")) == "Failed"
    assert wait_for(lambda: phase("probe-gpushm")) == "Succeeded"
    assert "NCCL WARN Error while creating shared memory segment" in client.pod_log("probe-2xgpu", "clearml")


def test_oss_variant_has_one_template_and_a_comma_queue_list(world_oss: Any) -> None:
    client = world_oss.client("clearml")
    secret = client.get("secrets", "sh.helm.release.v1.clearml-agent.v1", "clearml")
    release = _decode_release(secret)
    assert release["chart"]["metadata"] == {**release["chart"]["metadata"], "name": "clearml-agent", "version": "5.3.2"}
    assert release["config"]["agentk8sglue"]["queue"] == "red,blue,green"
    assert "queues" not in release["config"]["agentk8sglue"]
    deployment = client.get("deployments", "clearml-agent", "clearml")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["K8S_GLUE_QUEUE"] == "red,blue,green"
    template = yaml.safe_load(client.get("configmaps", "clearml-agent-pt", "clearml")["data"]["template.yaml"])
    assert "kind" not in template and template["metadata"]["labels"] == {"team": "red"}
    # Only the served queue's running task has a pod.
    pods = list(client.list("pods", "clearml", label_selector="CLEARML"))
    assert [p["metadata"]["labels"]["clearml-agent-queue-name"] for p in pods] == ["red"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_real_kubectl_reads_the_release_secret(world: Any) -> None:
    out = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(world.kubeconfig),
            "get",
            "secret",
            "-n",
            "clearml",
            "-l",
            "owner=helm",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    items = json.loads(out)["items"]
    assert _decode_release(items[0])["config"]["agentk8sglue"]["queues"]["green"]["templateOverrides"]["env"] == [
        {"name": "MY_ENV", "value": "my_value"}
    ]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_the_agent_deployment_is_rolled_out_like_its_running_pod(world: Any) -> None:
    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", "--kubeconfig", str(world.kubeconfig), "-n", "clearml", *args],
                              capture_output=True, text=True, timeout=30)

    rollout = kubectl("rollout", "status", "deployment/clearml-agent", "--timeout", "5s")
    assert (rollout.returncode, rollout.stdout.strip()) == (0, 'deployment "clearml-agent" successfully rolled out')
    row = kubectl("get", "deployment", "clearml-agent", "--no-headers").stdout.split()
    assert row[1:4] == ["1/1", "1", "1"]  # READY, UP-TO-DATE, AVAILABLE
