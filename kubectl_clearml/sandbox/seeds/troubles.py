"""The troubleshooting scenario (`sandbox --troubles`): the demo world with every failure `doctor` and `why`
name, laid over the seeded world after it is loaded (seed_world(..., troubles=True)).

What breaks, and who sees it:
- the agent's Secret holds a wrong secret key (doctor credentials.login);
- the agent's Role lost ``delete`` on pods (doctor rbac.agent);
- queue green's template asks for an image pull secret nobody created (doctor templates.references);
- queue ``cpu-batch`` has a pending task and no agent serves it (doctor queues.unserved; why: queue not served);
- a blue task's pod must run on the tainted node cpu-2 (doctor capacity.pending-pods; why: pod pending);
- green's nightly-report gets its pod, whose image does not exist (why: image pull failed);
- finetune-mistral-7b-ddp ran on 2xGPU without a Memory /dev/shm and died in NCCL (doctor shm.failures; why:
  failed: exit 1 (NCCL /dev/shm too small));
- batch jobs of another team hold all GPUs but one per node, so the next 2xGPU task waits (why: waiting for
  GPUs: largest free block 1, needs 2; doctor capacity.fit);
- one task completed and one aborted (why: completed, aborted).
The default world stays healthy; only this overlay breaks it.
"""

from __future__ import annotations

import base64
import copy
from typing import Any, Protocol

import yaml

from kubectl_clearml.core.podbuilder import GlueSettings, QueueRef, build_task_pod
from kubectl_clearml.core.scheduling import node_allocatable, requested_by_node
from kubectl_clearml.sandbox.cluster.workload import RUN_SECONDS_ANNOTATION
from kubectl_clearml.sandbox.seeds import AgentInstall, decode_release_secret, helm_release_payload

Obj = dict[str, Any]
WRONG_SECRET = "not-the-agent-secret-0000"
MISSING_PULL_SECRET = "registry-team-green"
UNSERVED_QUEUE = "cpu-batch"
TAINTED_NODE = "cpu-2"
GPU = "nvidia.com/gpu"
HOG_NAMESPACE = "research"


class Target(Protocol):
    def add(self, resource: str, obj: Obj) -> None: ...

    def list(self, resource: str) -> list[Obj]: ...

    def update_pod_status(self, namespace: str, name: str, status: Obj) -> None: ...

    def set_pod_log(self, namespace: str, name: str, text: str) -> None: ...


def apply(kube: Target, clearml: Any, world: Any) -> None:
    install: AgentInstall = world.install
    namespace = world.namespace
    _wrong_agent_key(kube, install)
    _rbac_gap(kube, install)
    _missing_pull_secret(kube, install, namespace)
    settings = GlueSettings(worker_id=install.worker_id, api_host=world.endpoint.api_host,
                            credentials_secret=f"{install.deployment['metadata']['name']}-ac", namespace=namespace)
    _unserved_queue(clearml, world)
    _ended_tasks(clearml, world)
    if "blue" in install.queues:
        _pod_on_tainted_node(kube, clearml, world, settings)
    if "green" in install.queues:
        _pod_with_missing_image(kube, clearml, world, settings)
    if "2xGPU" in install.queues:
        _nccl_failure(kube, clearml, world, settings)
        _gpu_hogs(kube)


def _wrong_agent_key(kube: Target, install: AgentInstall) -> None:
    secret = copy.deepcopy(next(o for o in install.objects if o["kind"] == "Secret"
                                and "agentk8sglue_secret" in (o.get("data") or {})))
    secret["data"]["agentk8sglue_secret"] = base64.b64encode(WRONG_SECRET.encode()).decode()
    kube.add("secrets", secret)


def _rbac_gap(kube: Target, install: AgentInstall) -> None:
    role = copy.deepcopy(install.object("Role"))
    rules = []
    for rule in role.get("rules") or ():
        if "pods" in (rule.get("resources") or ()) and "delete" in (rule.get("verbs") or ()):
            others = [r for r in rule["resources"] if r != "pods"]
            if others:
                rules.append({**rule, "resources": others})
            rules.append({**rule, "resources": ["pods"], "verbs": [v for v in rule["verbs"] if v != "delete"]})
        else:
            rules.append(rule)
    role["rules"] = rules
    kube.add("roles", role)


def _missing_pull_secret(kube: Target, install: AgentInstall, namespace: str) -> None:
    """Green's template gains an imagePullSecret, in the release's values and in the rendered ConfigMap."""
    pull = [{"name": MISSING_PULL_SECRET}]
    release = decode_release_secret(install.release_secret)
    queues = ((release.get("config") or {}).get("agentk8sglue") or {}).get("queues") or {}
    if "green" in queues:
        queues["green"].setdefault("templateOverrides", {})["imagePullSecrets"] = pull
    else:  # the open-source chart renders its pull secret from imageCredentials (templates.py), for every queue
        release["config"]["imageCredentials"] = {"enabled": True, "existingSecret": MISSING_PULL_SECRET}
    secret = copy.deepcopy(install.release_secret)
    secret["data"]["release"] = base64.b64encode(helm_release_payload(release).encode()).decode()
    kube.add("secrets", secret)
    config_map = copy.deepcopy(install.object("ConfigMap"))
    template = yaml.safe_load(config_map["data"]["template.yaml"])
    target = template.get("green", template) if install.flavour == "enterprise" else template
    target.setdefault("spec", {})["imagePullSecrets"] = pull
    config_map["data"]["template.yaml"] = yaml.safe_dump(template, sort_keys=False)
    kube.add("configmaps", config_map)


def _unserved_queue(clearml: Any, world: Any) -> None:
    world.queue_ids[UNSERVED_QUEUE] = clearml.create_queue(UNSERVED_QUEUE)
    world.task_ids["etl-unserved-queue"] = clearml.create_task("etl-unserved-queue", queue=UNSERVED_QUEUE,
                                                               user="frank")


def _ended_tasks(clearml: Any, world: Any) -> None:
    done = clearml.create_task("export-onnx-resnet50", status="completed", user="alice")
    clearml.set_task(done, status_message="completed")
    world.task_ids["export-onnx-resnet50"] = done
    aborted = clearml.create_task("sweep-lightgbm", status="stopped", user="carol")
    clearml.set_task(aborted, status_message="aborted", status_reason="aborted by carol from the UI")
    world.task_ids["sweep-lightgbm"] = aborted


def _task_pod(clearml: Any, world: Any, settings: GlueSettings, task_id: str, queue: str) -> Obj:
    """The pod the glue would have created for the task (popped from its queue, as the glue does)."""
    queue_id = world.queue_ids[queue]
    with clearml.lock:
        entries = clearml.queues[queue_id]["entries"]
        entries[:] = [e for e in entries if e["task"] != task_id]
    built = build_task_pod(clearml.task(task_id), QueueRef(queue_id, queue), world.install.template_for(queue),
                           settings)
    return built.manifest


def _pod_on_tainted_node(kube: Target, clearml: Any, world: Any, settings: GlueSettings) -> None:
    task_id = clearml.create_task("render-on-system-node", queue="blue", user="bob",
                                  container={"image": "python:3.11-slim", "arguments": ""})
    world.task_ids["render-on-system-node"] = task_id
    pod = _task_pod(clearml, world, settings, task_id, "blue")
    pod["spec"]["nodeSelector"] = {"kubernetes.io/hostname": TAINTED_NODE}
    kube.add("pods", pod)  # unbound: the simulated scheduler reports the untolerated taint


def _pod_with_missing_image(kube: Target, clearml: Any, world: Any, settings: GlueSettings) -> None:
    kube.add("pods", _task_pod(clearml, world, settings, world.task_ids["nightly-report"], "green"))


def _nccl_failure(kube: Target, clearml: Any, world: Any, settings: GlueSettings) -> None:
    """finetune-mistral-7b-ddp's pod ran and died as the simulated kubelet makes such pods die (its own lines)."""
    from kubectl_clearml.sandbox.cluster.workload import KubeletSettings, plan_run

    task_id = world.task_ids["finetune-mistral-7b-ddp"]  # llama asks --ipc=host: the glue gives it a /dev/shm
    pod = _task_pod(clearml, world, settings, task_id, "2xGPU")
    node = "gpu-a100-2"
    pod["spec"]["nodeName"] = node
    plan = plan_run(pod, node, KubeletSettings())
    meta = pod["metadata"]
    container = pod["spec"]["containers"][0]
    pod["status"] = {  # added with its status: the kubelet leaves an ended pod alone
        "phase": "Failed",
        "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False",
                                                                     "reason": "PodFailed"}],
        "containerStatuses": [{"name": container["name"], "image": container["image"], "ready": False,
                               "restartCount": 0, "state": {"terminated": {"exitCode": plan.exit_code,
                                                                           "reason": "Error"}}}],
    }
    kube.add("pods", pod)
    kube.set_pod_log(meta["namespace"], meta["name"], "\n".join((*plan.start_lines, *plan.end_lines)) + "\n")
    clearml.set_task(task_id, status="failed", status_reason="Process failed, exit code 1",
                     status_message="task pod failed")


def _gpu_hogs(kube: Target) -> None:
    """Another team's batch pods take every GPU but one on each whole-GPU node."""
    used = requested_by_node(kube.list("pods"))
    for node in kube.list("nodes"):
        name = node["metadata"]["name"]
        free = node_allocatable(node).get(GPU, 0) - used.get(name, {}).get(GPU, 0)
        if free <= 1:
            continue
        kube.add("pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"batch-sim-{name}", "namespace": HOG_NAMESPACE, "labels": {"app": "batch-sim"},
                         "annotations": {RUN_SECONDS_ANNOTATION: "inf"}},
            # Single-process jobs: NCCL_SHM_DISABLE=1, so the simulated NCCL does not kill them for lack of /dev/shm.
            "spec": {"nodeName": name, "containers": [{"name": "sim", "image": "nvcr.io/nvidia/pytorch:24.05-py3",
                                                        "env": [{"name": "NCCL_SHM_DISABLE", "value": "1"}],
                                                        "resources": {"limits": {GPU: str(free - 1)}}}]},
        })
