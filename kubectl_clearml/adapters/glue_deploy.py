"""Put our glue in the cluster in place of the reference agent's, and back: the API side of ``glue``.

The handover is ordered so that two glues never pull at once: our RBAC, Service and PDB first, then the
agent's Deployment is scaled to 0 (its old replica count recorded in an annotation, nothing deleted), then we
wait until its glue pod is gone, and only then is our Deployment created. Uninstall is the mirror image: our
Deployment goes first, we wait until its pods are gone, then the agent gets its replicas back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from kubectl_clearml.adapters.agent_install import find_install
from kubectl_clearml.adapters.kube import Kube
from kubectl_clearml.core import glue_install as gi
from kubectl_clearml.errors import ConflictError, NotFoundError, ServerError, UsageError

CONFLICT_RETRIES = 8

PLURALS = {
    "ServiceAccount": "serviceaccounts",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
    "Service": "services",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "Deployment": "deployments",
}


class HandoverTimeout(ServerError):
    """The other glue's pods did not go away in time; ours was not started (nothing pulls twice)."""


@dataclass(frozen=True)
class Step:
    kind: str
    name: str
    action: str  # created | configured | unchanged | scaled | deleted | restored | waited

    def line(self, dry_run: str) -> str:
        suffix = f" ({dry_run} dry run)" if dry_run != "none" and self.action not in ("unchanged",) else ""
        return f"{self.kind.lower()}/{self.name} {self.action}{suffix}"


def find_agent(kube: Kube, namespace: str, release: str | None) -> dict[str, Any]:
    install = find_install(kube, namespace, release)
    if install.deployment is None:
        raise NotFoundError(
            "the agent's glue Deployment is not in the cluster",
            f"namespace {namespace}",
            "install the agent with its Helm chart first (glue install replaces a running agent)",
        )
    return dict(install.deployment)


def _ours(obj: Mapping[str, Any]) -> bool:
    return ((obj.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/managed-by") == gi.MANAGED_BY


def apply(kube: Kube, obj: dict[str, Any], dry_run: str) -> Step:
    """Create, update or leave one object; an object of that name that is not ours is refused, not taken."""
    kind, meta = obj["kind"], obj["metadata"]
    plural, name, ns = PLURALS[kind], meta["name"], meta.get("namespace")
    try:
        live = kube.get(plural, name, ns)
    except NotFoundError:
        live = None
    if live is None:
        if dry_run != "client":
            kube.create(plural, obj, ns, dry_run=_server(dry_run))
        return Step(kind, name, "created")
    if not _ours(live):
        raise UsageError(
            f"{kind} {name} exists and was not created by kubectl clearml",
            f"namespace {ns}" if ns else None,
            "delete or rename it, then run glue install again; nothing was changed",
        )
    if not gi.differs(obj, live):
        return Step(kind, name, "unchanged")
    body = {**obj, "metadata": {**meta, "resourceVersion": live["metadata"].get("resourceVersion")}}
    if dry_run != "client":
        kube.replace(plural, name, body, ns, dry_run=_server(dry_run))
    return Step(kind, name, "configured")


def _selector(labels: Mapping[str, str]) -> str:
    """A matchLabels map as a label selector (``a=1,b=2``)."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _server(dry_run: str) -> str | None:
    return "server" if dry_run == "server" else None


def _patch_agent(
    kube: Kube, agent: dict[str, Any], plan: Callable[[gi.AgentFacts], dict[str, Any] | None], dry_run: str
) -> bool:
    """A conditional patch of the agent's Deployment, planned on what it is now: a 409 (its controller wrote
    its status, someone edited it) re-reads it and plans again, so a concurrent edit is never clobbered."""
    for attempt in range(CONFLICT_RETRIES):
        facts = gi.agent_facts(agent)
        patch = plan(facts)
        if patch is None:
            return False
        patch["metadata"]["resourceVersion"] = agent["metadata"].get("resourceVersion")
        if dry_run == "client":
            return True
        try:
            kube.patch("deployments", facts.name, patch, facts.namespace, patch_type="merge", dry_run=_server(dry_run))
            return True
        except ConflictError:
            if attempt == CONFLICT_RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
            agent = kube.get("deployments", facts.name, facts.namespace)
    return False


def scale_down_agent(kube: Kube, agent: dict[str, Any], glue: str, dry_run: str, now: datetime) -> Step:
    def plan(facts: gi.AgentFacts) -> dict[str, Any] | None:
        if facts.replicas == 0 and facts.takeover is not None:
            return None  # an earlier install scaled it: what it was is recorded already
        annotation = gi.takeover_annotation(facts.replicas, now.strftime("%Y-%m-%dT%H:%M:%SZ"), glue)
        return {"metadata": {"annotations": {gi.TAKEOVER: annotation}}, "spec": {"replicas": 0}}

    name = gi.agent_facts(agent).name
    return Step("Deployment", name, "scaled" if _patch_agent(kube, agent, plan, dry_run) else "unchanged")


def restore_agent(kube: Kube, agent: dict[str, Any], dry_run: str) -> Step:
    def plan(facts: gi.AgentFacts) -> dict[str, Any] | None:
        replicas = gi.restore_replicas(facts)
        if replicas is None:
            return None
        return {"metadata": {"annotations": {gi.TAKEOVER: None}}, "spec": {"replicas": replicas}}

    name = gi.agent_facts(agent).name
    return Step("Deployment", name, "restored" if _patch_agent(kube, agent, plan, dry_run) else "unchanged")


def wait_pods_gone(
    kube: Kube,
    namespace: str,
    selector: Mapping[str, str],
    what: str,
    timeout: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Until no pod of ``selector`` is left (a terminating one still pulls until its process ends)."""
    label_selector = _selector(selector)
    deadline = clock() + timeout
    while True:
        left = [p["metadata"]["name"] for p in kube.list("pods", namespace, label_selector=label_selector)]
        if not left:
            return
        if clock() >= deadline:
            raise HandoverTimeout(
                f"{what}'s pod {left[0]} is still there after {timeout:g}s",
                f"namespace {namespace}",
                "nothing else was started; wait for it to end (kubectl get pods) and run the command again, "
                "or raise --timeout",
            )
        sleep(0.5)


def delete(kube: Kube, obj: Mapping[str, Any], dry_run: str) -> Step | None:
    kind, meta = obj["kind"], obj["metadata"]
    plural, name, ns = PLURALS[kind], meta["name"], meta.get("namespace")
    try:
        live = kube.get(plural, name, ns)
    except NotFoundError:
        return None
    if not _ours(live):
        return None  # someone else's object of that name: never ours to delete
    if dry_run != "client":
        kube.delete(plural, name, ns, ignore_missing=True, dry_run=_server(dry_run))
    return Step(kind, name, "deleted")


def retire(kube: Kube, deployment: Mapping[str, Any], dry_run: str, timeout: float) -> Step | None:
    """Scale our Deployment to 0, wait until its pods are gone, then delete it: whatever the cluster's
    deletion propagation, no replica of ours is left pulling when the agent comes back."""
    name, ns = deployment["metadata"]["name"], deployment["metadata"]["namespace"]
    try:
        live = kube.get("deployments", name, ns)
    except NotFoundError:
        return None
    if not _ours(live):
        return None
    if dry_run == "none":
        kube.patch("deployments", name, {"spec": {"replicas": 0}}, ns, patch_type="merge")
        wait_pods_gone(kube, ns, live["spec"]["selector"]["matchLabels"], "our glue", timeout)
    return delete(kube, live, dry_run)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _waiting_reason(kube: Kube, namespace: str, selector: Mapping[str, str]) -> str | None:
    """Why our glue's pod is not ready, in the kubelet's words (ImagePullBackOff, CrashLoopBackOff...)."""
    label_selector = _selector(selector)
    for pod in kube.list("pods", namespace, label_selector=label_selector):
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason"):
                return f"pod {pod['metadata']['name']}: {waiting['reason']}"
        if (pod.get("status") or {}).get("phase") == "Pending":
            return f"pod {pod['metadata']['name']}: Pending"
    return None


def wait_available_or_restore(
    kube: Kube,
    facts: gi.AgentFacts,
    deployment: Mapping[str, Any],
    timeout: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Until our Deployment has an available replica; else take it away and give the agent its replicas back.

    A glue that cannot start (a wrong --image, a missing pull secret) must not leave the queues unserved.
    """
    name, ns = deployment["metadata"]["name"], facts.namespace
    selector = deployment["spec"]["selector"]["matchLabels"]
    deadline = clock() + timeout
    while clock() < deadline:
        live = kube.get("deployments", name, ns)
        if int((live.get("status") or {}).get("availableReplicas") or 0) >= 1:
            return
        sleep(0.5)
    reason = _waiting_reason(kube, ns, selector) or "no replica became available"
    retire(kube, deployment, "none", timeout)
    restore_agent(kube, kube.get("deployments", facts.name, ns), "none")
    raise HandoverTimeout(
        f"our glue did not become available in {timeout:g}s ({reason}); it was removed and the agent restored",
        f"deployment {ns}/{name}",
        "check --image (built from deploy/Dockerfile and pushed) and --image-pull-secret, then install again",
    )


def glue_status(kube: Kube, namespace: str, release: str | None) -> dict[str, Any]:
    """Who serves the agent's queues now, the lease holder, replicas, and what the task pods do."""
    from kubectl_clearml.core.glue_policy import lease_name
    from kubectl_clearml.core.podbuilder import agent_label

    agent = find_agent(kube, namespace, release)
    facts = gi.agent_facts(agent)
    name = gi.glue_name(facts.name)
    try:
        ours: dict[str, Any] | None = kube.get("deployments", name, namespace)
    except NotFoundError:
        ours = None
    agent_status, our_status = agent.get("status") or {}, (ours or {}).get("status") or {}
    our_replicas = int(((ours or {}).get("spec") or {}).get("replicas") or 0)
    worker = next((e.get("value") for e in facts.env if e["name"] == "CLEARML_WORKER_ID"), None)
    label = agent_label(str(worker)) if worker else None
    holder = None
    if label:
        try:
            lease = kube.get("leases", lease_name(label), namespace)
            holder = (lease.get("spec") or {}).get("holderIdentity")
        except NotFoundError:
            holder = None
    phases: dict[str, int] = {}
    if label:
        for pod in kube.list("pods", namespace, label_selector=f"CLEARML={label}"):
            phase = str((pod.get("status") or {}).get("phase") or "Unknown").lower()
            phases[phase] = phases.get(phase, 0) + 1
    return {
        "serving": gi.who_serves(facts.replicas, our_replicas),
        "agent": {
            "deployment": facts.name,
            "replicas": facts.replicas,
            "ready": int(agent_status.get("readyReplicas") or 0),
            "takenOverAt": (facts.takeover or {}).get("time"),
        },
        "glue": {
            "deployment": name if ours else None,
            "replicas": our_replicas,
            "ready": int(our_status.get("readyReplicas") or 0),
            "image": _image(ours),
            "leader": holder,
            "lastError": _last_error(kube, namespace, ours, holder) if ours else None,
        },
        "workerId": worker,
        "taskPods": {p: phases.get(p, 0) for p in ("pending", "running", "succeeded", "failed")},
    }


def _image(deployment: Mapping[str, Any] | None) -> str | None:
    containers = ((((deployment or {}).get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")
    return str(containers[0].get("image")) if containers else None


def _last_error(kube: Kube, namespace: str, ours: Mapping[str, Any], holder: str | None) -> str | None:
    """The newest error line of the leading replica's log (run-glue logs JSON in the cluster)."""
    import json

    selector = _selector(ours["spec"]["selector"]["matchLabels"])
    pods = [p["metadata"]["name"] for p in kube.list("pods", namespace, label_selector=selector)]
    pods.sort(key=lambda n: not (holder or "").startswith(n))  # the leader first
    for pod in pods[:1]:
        try:
            text = kube.pod_log(pod, namespace, tail_lines=500)
        except (NotFoundError, ServerError):
            return None
        for line in reversed(text.splitlines()):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("level") in ("error", "critical"):
                return str(record.get("msg"))
    return None
