"""Load the demo world (seeds/) into running emulators: nodes, the agent's Helm install, pods, queues, tasks.

The Kubernetes side goes through the emulator's store backdoor (objects appear as if created long ago, pods
already running on their nodes); the ClearML side through the ClearML emulator's state backdoor. Task pods
are built by the product's own pod builder (core/podbuilder.py) from the agent's rendered template, so they
look exactly like pods the glue creates.
"""

from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from kubectl_clearml.core.podbuilder import GlueSettings, QueueRef, build_task_pod
from kubectl_clearml.sandbox import seeds
from kubectl_clearml.sandbox.clearml.model import iso
from kubectl_clearml.sandbox.cluster.controllers import template_hash
from kubectl_clearml.sandbox.cluster.workload import RUN_SECONDS_ANNOTATION
from kubectl_clearml.sandbox.kube.admission import default_requests_from_limits

Obj = dict[str, Any]

NAMESPACES = ("default", "kube-system", seeds.NAMESPACE, "research")
GLUE_NODE = "cpu-1"
# How long ago things happened, so ages in tables look like a cluster in use (minutes).
NODE_AGE = 60 * 24 * 30
AGENT_AGE = 60 * 24 * 3
# Kinds the Kubernetes emulator serves (the manifest's Role/RoleBinding too: RBAC answers from them).
SERVED_KINDS = {
    "Namespace": "namespaces",
    "Node": "nodes",
    "Pod": "pods",
    "Secret": "secrets",
    "ConfigMap": "configmaps",
    "ServiceAccount": "serviceaccounts",
    "Service": "services",
    "Deployment": "deployments",
    "ReplicaSet": "replicasets",
    "Event": "events",
    "Lease": "leases",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
}


class KubeSeedTarget(Protocol):
    def add(self, resource: str, obj: Obj) -> None: ...

    def get(self, resource: str, name: str, namespace: str | None = None) -> Obj | None: ...

    def update_pod_status(self, namespace: str, name: str, status: Obj) -> None: ...


class ClearmlSeedTarget(Protocol):
    """The parts of the ClearML emulator's ``state`` backdoor the world uses."""

    lock: Any
    queues: dict[str, dict[str, Any]]
    events: list[dict[str, Any]]

    def create_queue(self, name: str, *, system_tags: Any = ...) -> str: ...

    def create_task(self, name: str, **fields: Any) -> str: ...

    def set_task(self, task_id: str, **fields: Any) -> None: ...

    def task(self, task_id: str) -> dict[str, Any]: ...

    def register_worker(self, name: str, queue_ids: list[str], timeout: int) -> None: ...


@dataclass
class World:
    """What was seeded, for tests and the demo to refer to by name."""

    flavour: str
    install: seeds.AgentInstall
    endpoint: seeds.Endpoint
    queue_ids: dict[str, str] = field(default_factory=dict)
    task_ids: dict[str, str] = field(default_factory=dict)
    node_names: list[str] = field(default_factory=list)
    pods: list[tuple[str, str]] = field(default_factory=list)  # (namespace, name) of seeded pods
    worker_ids: list[str] = field(default_factory=list)  # ClearML workers registered for the seeded agent

    @property
    def namespace(self) -> str:
        return seeds.NAMESPACE

    @property
    def served_queues(self) -> list[str]:
        return self.install.queues


def seed_world(
    kube: KubeSeedTarget,
    clearml: ClearmlSeedTarget,
    endpoint: seeds.Endpoint,
    *,
    flavour: str = "enterprise",
    troubles: bool = False,
) -> World:
    install = seeds.agent_install(flavour, endpoint)
    world = World(flavour, install, endpoint)
    for namespace in NAMESPACES:
        namespace_obj = {"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": namespace, "labels": {"kubernetes.io/metadata.name": namespace}},
                         "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
        kube.add("namespaces", _aged(namespace_obj, NODE_AGE))
    for node in seeds.nodes():
        kube.add("nodes", _aged(node, NODE_AGE))
        world.node_names.append(node["metadata"]["name"])
    for obj in install.objects:
        if obj["kind"] in SERVED_KINDS:
            if obj["kind"] == "Deployment":
                obj = _rolled_out(obj)
            kube.add(SERVED_KINDS[obj["kind"]], _aged(obj, AGENT_AGE))
    kube.add("secrets", _aged(install.release_secret, AGENT_AGE))
    _seed_clearml(world, clearml)
    _run_pod(kube, world, _glue_pod(kube, install), GLUE_NODE, AGENT_AGE)
    _seed_task_pods(world, kube, clearml)
    for pod in seeds.workloads().get("pods") or ():
        pod = copy.deepcopy(pod)
        age = pod.pop("age_minutes", 0)
        node = pod["spec"].pop("nodeName")
        _run_pod(kube, world, pod, node, age)
    if troubles:  # the troubleshooting overlay (sandbox --troubles): every failure doctor and why name
        from kubectl_clearml.sandbox.seeds import troubles as scenario

        scenario.apply(kube, clearml, world)  # type: ignore[arg-type]
    return world


def _minutes_ago(minutes: float) -> float:
    return time.time() - 60 * minutes


def _kube_time(minutes_ago: float) -> str:
    return datetime.fromtimestamp(_minutes_ago(minutes_ago), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _aged(obj: Obj, minutes: float) -> Obj:
    obj = copy.deepcopy(obj)
    obj.setdefault("metadata", {})["creationTimestamp"] = _kube_time(minutes)
    return obj


# ---- ClearML -----------------------------------------------------------------------------------------


def _seed_clearml(world: World, clearml: ClearmlSeedTarget) -> None:
    data = seeds.clearml_world()
    for queue in data["queues"]:
        world.queue_ids[queue["name"]] = clearml.create_queue(queue["name"], system_tags=queue.get("system_tags", []))
    served = set(world.install.queues)
    # The installed agent's glue is running (its pod is seeded Running): it has registered as a worker of
    # the queues it serves, so `queues` shows WORKERS 1 there, not a dead-looking 0. It never reports
    # again, hence a registration that does not expire while the sandbox runs.
    world.worker_ids.append(world.install.worker_id)
    clearml.register_worker(world.install.worker_id, [world.queue_ids[q] for q in world.install.queues
                                                      if q in world.queue_ids], timeout=10 * 365 * 24 * 3600)
    for task in data["tasks"]:
        fields = {"user": task.get("user"), "container": dict(task.get("container") or {})}
        when = iso(_minutes_ago(task.get("age_minutes", 0)))
        created = iso(_minutes_ago(task.get("age_minutes", 0) + 5))
        if task["status"] == "queued":
            task_id = clearml.create_task(task["name"], queue=task["queue"], **fields)
            with clearml.lock:
                for entry in clearml.queues[world.queue_ids[task["queue"]]]["entries"]:
                    if entry["task"] == task_id:
                        entry["added"] = when
            clearml.set_task(task_id, created=created, status_changed=when, last_update=when, last_change=when)
            if task.get("pulled_from"):
                # What the reference glue logs to a task before parking it in k8s_scheduler (basic servers keep
                # no other record of the queue it came from).
                queue_id = world.queue_ids[task["pulled_from"]]
                line = f"task {task_id} pulled from {queue_id} by worker {world.install.worker_id}"
                with clearml.lock:
                    clearml.events.append({"type": "log", "task": task_id, "msg": line, "level": "INFO"})
        elif task["queue"] in served:
            task_id = clearml.create_task(task["name"], status=task["status"], **fields)
            clearml.set_task(
                task_id,
                execution__queue=world.queue_ids[task["queue"]],
                created=created,
                started=when,
                status_changed=when,
                last_worker=f"{world.install.worker_id}:{task_id}",
            )
        else:
            # This agent does not serve the queue (open-source variant): the task ran earlier, elsewhere.
            task_id = clearml.create_task(task["name"], status="completed", **fields)
            clearml.set_task(task_id, execution__queue=world.queue_ids[task["queue"]], created=created)
        world.task_ids[task["name"]] = task_id


# ---- pods ------------------------------------------------------------------------------------------------


def _seed_task_pods(world: World, kube: KubeSeedTarget, clearml: ClearmlSeedTarget) -> None:
    install, endpoint = world.install, world.endpoint
    settings = GlueSettings(
        worker_id=install.worker_id,
        api_host=endpoint.api_host,
        web_host=endpoint.web_host,
        files_host=endpoint.files_host,
        credentials_secret=f"{install.deployment['metadata']['name']}-ac",
        namespace=seeds.NAMESPACE,
    )
    seeded = {t["name"]: t for t in seeds.clearml_world()["tasks"]}
    for spec in seeds.workloads().get("task_pods") or ():
        queue = seeded[spec["task"]]["queue"]
        if queue not in install.queues:
            continue
        task = clearml.task(world.task_ids[spec["task"]])
        built = build_task_pod(task, QueueRef(world.queue_ids[queue], queue), install.template_for(queue), settings)
        _run_pod(kube, world, built.manifest, spec["node"], seeded[spec["task"]].get("age_minutes", 0))


def _rolled_out(deployment: Obj) -> Obj:
    """The status a deployment controller leaves once every replica is up (as the glue pod seeded below is):
    without it `kubectl get deploy` says 0/1 next to a Running pod and `kubectl rollout status` never ends."""
    deployment = copy.deepcopy(deployment)
    replicas = int((deployment.get("spec") or {}).get("replicas", 1))
    generation = int(deployment.setdefault("metadata", {}).setdefault("generation", 1))
    deployment["status"] = {
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
             "message": "Deployment has minimum availability."},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
             "message": f'ReplicaSet "{deployment["metadata"].get("name", "")}" has successfully progressed.'},
        ],
    }
    return deployment


def _glue_pod(kube: KubeSeedTarget, install: seeds.AgentInstall) -> Obj:
    """The pod the Deployment's ReplicaSet would have created: the simulated controller's ReplicaSet for
    the stored template adopts it (same pod-template-hash), so no second glue pod starts."""
    deployment = install.deployment
    stored = kube.get("deployments", deployment["metadata"]["name"], deployment["metadata"]["namespace"])
    template = copy.deepcopy((stored or deployment)["spec"]["template"])
    pod_hash = template_hash(template)
    digest = hashlib.sha256(repr(template).encode()).hexdigest()
    metadata = template.get("metadata") or {}
    metadata["name"] = f"{deployment['metadata']['name']}-{pod_hash}-{digest[10:15]}"
    metadata["namespace"] = deployment["metadata"]["namespace"]
    metadata["labels"] = {**(metadata.get("labels") or {}), "pod-template-hash": pod_hash}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


def _run_pod(kube: KubeSeedTarget, world: World, pod: Obj, node: str, age_minutes: float) -> None:
    """Add a pod that is already running on ``node`` (and keeps running: the demo's steady load)."""
    pod = _aged(pod, age_minutes)
    pod.setdefault("apiVersion", "v1")
    pod.setdefault("kind", "Pod")
    meta = pod["metadata"]
    meta.setdefault("namespace", "default")
    meta["annotations"] = {**(meta.get("annotations") or {}), RUN_SECONDS_ANNOTATION: "inf"}
    pod["spec"]["nodeName"] = node
    default_requests_from_limits(pod["spec"])  # what the apiserver did when the pod was created
    kube.add("pods", pod)
    now = pod["metadata"]["creationTimestamp"]
    containers = pod["spec"].get("containers") or []
    status = {
        "phase": "Running",
        "startTime": now,
        "hostIP": f"10.0.0.{sum(node.encode()) % 250 + 2}",
        "podIP": f"10.244.{len(world.pods) + 1}.{sum(meta['name'].encode()) % 250 + 2}",
        "qosClass": "Burstable",
        "conditions": [
            {"type": condition, "status": "True", "lastTransitionTime": now}
            for condition in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
        ],
        "containerStatuses": [
            {
                "name": c.get("name", ""),
                "image": c.get("image", ""),
                "imageID": f"{c.get('image', '')}@sha256:{'0' * 64}",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
                "lastState": {},
            }
            for c in containers
        ],
    }
    kube.update_pod_status(meta["namespace"], meta["name"], status)
    world.pods.append((meta["namespace"], meta["name"]))
