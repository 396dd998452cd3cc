"""`doctor`'s checks: pure functions over a fetched :class:`Snapshot`, each giving named verdicts.

A fetched part is either its value or :class:`Missing` (why it could not be read: ``forbidden: ...``,
``unavailable: ...``); a check whose input is Missing is ``skipped`` with that reason, never an error. The
rules live where the other commands have them: served-queue matching and stranded tasks (core/queues), the
lint (core/lint), GPU fit verdicts (core/gpu_queues), /dev/shm provisioning (core/shm_values), the pod
pending reason (core/queues), the dashboard GPU comparison (core/gpu_summary). This module only words them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

from kubectl_clearml.core.queues import is_hidden, pod_message, pod_reason, served_entry, stranded_tasks

OK, WARN, FAIL, SKIPPED = "ok", "warn", "fail", "skipped"
STATUSES = (OK, WARN, FAIL, SKIPPED)
GROUPS = ("install", "credentials", "rbac", "queues", "templates", "capacity", "shm")
IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})
# What the agent's service account must be allowed (the glue creates, watches and deletes task pods).
AGENT_VERBS = (("create", "pods"), ("delete", "pods"), ("list", "pods"), ("watch", "pods"), ("get", "pods"))
T = TypeVar("T")


@dataclass(frozen=True)
class Missing:
    """A part of the snapshot that could not be fetched, and why (``forbidden: ...``, ``unavailable: ...``)."""

    why: str


Part = Union[T, Missing]  # noqa: UP007 - a generic alias mypy reads (T | Missing it does not)


@dataclass(frozen=True)
class Check:
    id: str
    group: str
    status: str
    detail: str
    hint: str = ""
    objects: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "group": self.group, "status": self.status, "detail": self.detail,
                "hint": self.hint, "objects": list(self.objects)}


@dataclass(frozen=True)
class Login:
    """How the agent's own keys fared against its ClearML server."""

    api_host: str
    outcome: str  # "ok" | "refused" | "unreachable" | "incomplete"
    message: str = ""


@dataclass
class InstallFacts:
    source: str  # "helm-release" | "live-objects"
    name: str
    chart: str  # "clearml-enterprise-agent 6.14.1"
    flavour: str
    deployment: dict[str, Any] | None
    glue_pods: list[dict[str, Any]]
    service_account: str
    notes: list[str] = field(default_factory=list)


@dataclass
class Snapshot:
    namespace: str
    install: Part[InstallFacts]
    served: Part[list[str]] = Missing("no agent install")
    uses_default_credentials: Part[bool] = Missing("no agent configuration")
    create_queues: bool = False
    worker_prefix: str = ""
    login: Part[Login] = Missing("no agent install")
    agent_access: Part[dict[str, bool]] = Missing("no agent install")  # "verb resource" -> allowed
    own_access: Part[dict[str, bool]] = Missing("not asked")
    queues: Part[list[dict[str, Any]]] = Missing("ClearML not asked")
    workers: Part[list[dict[str, Any]]] = Missing("ClearML not asked")
    task_pods: Part[list[dict[str, Any]]] = Missing("not asked")
    dry_runs: Part[dict[str, str | None]] = Missing("no templates")  # queue -> apiserver error or None
    lint: Part[list[Any]] = Missing("no agent configuration")  # core.lint.Finding
    references: Part[dict[str, list[str]]] = Missing("no templates")  # queue -> missing "secret/x", ...
    template_namespaces: Part[dict[str, str]] = Missing("no templates")  # queue -> metadata.namespace
    gpu_reports: Part[list[Any]] = Missing("no templates")  # core.gpu_queues.QueueReport
    dashboard: Part[str | None] = Missing("no GPU data")  # core.gpu_summary.dashboard_check line
    dashboard_mismatch: bool = False
    shm: Part[list[Any]] = Missing("no agent configuration")  # core.shm_values.QueueShm
    shm_findings: Part[dict[str, list[dict[str, Any]]]] = Missing("no task pods")  # queue -> findings


CheckFn = Callable[[Snapshot], list[Check]]


def _skipped(check_id: str, group: str, *parts: Any) -> Check | None:
    for part in parts:
        if isinstance(part, Missing):
            return Check(check_id, group, SKIPPED, f"skipped ({part.why})")
    return None


def _one(check_id: str, group: str, ok: bool, good: str, bad: str, hint: str = "",
         objects: Sequence[str] = (), bad_status: str = FAIL) -> Check:
    return Check(check_id, group, OK if ok else bad_status, good if ok else bad, "" if ok else hint, tuple(objects))


# ---- install -------------------------------------------------------------------------------------------


def install_checks(s: Snapshot) -> list[Check]:
    if isinstance(s.install, Missing):
        return [Check("install.found", "install", FAIL, s.install.why,
                      "pass -n with the agent's namespace, or --release NAME")]
    inst = s.install
    found = Check("install.found", "install", OK, f"{'Helm release' if inst.source == 'helm-release' else 'live objects'}"
                  f" {inst.name} ({inst.chart}, {inst.flavour} chart)", objects=(f"namespace/{s.namespace}",))
    out = [found]
    deployment = inst.deployment
    if deployment is None:
        out.append(Check("install.deployment", "install", FAIL, "the glue Deployment is not in the cluster",
                         "helm upgrade --install the agent, or check the release's namespace"))
        return out
    name = deployment["metadata"]["name"]
    available: dict[str, Any] = next((c for c in (deployment.get("status") or {}).get("conditions") or ()
                      if c.get("type") == "Available"), {})
    status = deployment.get("status") or {}
    ready = f"{status.get('availableReplicas', 0)}/{(deployment.get('spec') or {}).get('replicas', 1)} available"
    out.append(_one("install.deployment", "install", available.get("status") == "True",
                    f"Deployment {name}: {ready}", f"Deployment {name}: {ready} "
                    f"({available.get('message') or 'no Available condition'})",
                    f"kubectl -n {s.namespace} describe deployment {name}", [f"deployment/{name}"]))
    out.append(_glue_pod_check(s.namespace, inst.glue_pods))
    return out


def _glue_pod_check(namespace: str, pods: list[dict[str, Any]]) -> Check:
    if not pods:
        return Check("install.pod", "install", FAIL, "no agent pod is running",
                     f"kubectl -n {namespace} get events --sort-by=.lastTimestamp")
    pod = pods[0]
    name = pod["metadata"]["name"]
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    last = next((((c.get("lastState") or {}).get("terminated") or {}).get("reason") for c in statuses
                 if (c.get("lastState") or {}).get("terminated")), None)
    reason = pod_reason(pod)
    objects = (f"pod/{name}",)
    if reason in IMAGE_PULL_REASONS:
        return Check("install.pod", "install", FAIL, f"pod {name}: {reason}: {pod_message(pod)}",
                     "fix agentk8sglue.image (repository/tag) or add an imagePullSecret", objects)
    if reason == "CrashLoopBackOff":
        return Check("install.pod", "install", FAIL, f"pod {name} is crash-looping ({restarts} restarts, last "
                     f"exit: {last or 'unknown'})", f"kubectl -n {namespace} logs {name} --previous", objects)
    ready = all(c.get("ready") for c in statuses) and bool(statuses)
    if not ready:
        return Check("install.pod", "install", FAIL, f"pod {name} is not ready ({reason})",
                     f"kubectl -n {namespace} describe pod {name}", objects)
    detail = f"pod {name} ready, {restarts} restart(s)" + (f", last termination {last}" if last else "")
    return Check("install.pod", "install", WARN if restarts else OK, detail,
                 f"kubectl -n {namespace} logs {name} --previous" if restarts else "", objects)


# ---- credentials ---------------------------------------------------------------------------------------


def credentials_checks(s: Snapshot) -> list[Check]:
    out = [_skipped("credentials.login", "credentials", s.login) or _login_check(s.login)]  # type: ignore[arg-type]
    out.append(_skipped("credentials.default-keys", "credentials", s.uses_default_credentials) or _one(
        "credentials.default-keys", "credentials", not s.uses_default_credentials,
        "the agent does not use the chart's default ACCESSKEY/SECRETKEY",
        "the agent uses the chart's default ACCESSKEY/SECRETKEY",
        "create keys in the ClearML UI (Settings > Workspace) and set clearml.agentk8sglueKey/Secret, or "
        "clearml.existingAgentk8sglueSecret"))
    return out


def _login_check(login: Login) -> Check:
    objects = (login.api_host,)
    if login.outcome == "ok":
        return Check("credentials.login", "credentials", OK, f"the agent's keys log in to {login.api_host}",
                     objects=objects)
    if login.outcome == "refused":
        return Check("credentials.login", "credentials", FAIL, f"{login.api_host} refuses the agent's keys: "
                     f"{login.message}", "put a valid key pair in the agent's Secret (clearml.agentk8sglueKey/"
                     "Secret), then restart the agent", objects)
    if login.outcome == "unreachable":
        internal = _cluster_internal(login.api_host)
        return Check("credentials.login", "credentials", WARN if internal else FAIL,
                     f"{login.api_host} is not reachable from here" + (" (a cluster-internal address)" if internal
                                                                       else f": {login.message}"),
                     "run doctor from inside the cluster to test the login" if internal else
                     "check clearml.apiServerUrlReference and that the server is up", objects)
    return Check("credentials.login", "credentials", FAIL, f"the agent's credentials are incomplete: {login.message}",
                 "set CLEARML_API_HOST and the key pair in the agent's values", objects)


def _cluster_internal(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return host.endswith((".svc", ".svc.cluster.local", ".cluster.local")) or "." not in host


# ---- rbac ----------------------------------------------------------------------------------------------


def rbac_checks(s: Snapshot) -> list[Check]:
    out: list[Check] = []
    sa = s.install.service_account if not isinstance(s.install, Missing) else ""
    skipped = _skipped("rbac.agent", "rbac", s.agent_access)
    if skipped is not None:
        out.append(skipped)
    else:
        assert isinstance(s.agent_access, dict)
        lacking = [k for k, allowed in s.agent_access.items() if not allowed]
        out.append(_one("rbac.agent", "rbac", not lacking,
                        f"service account {sa} may {', '.join(sorted(s.agent_access))}",
                        f"service account {sa} may not {', '.join(lacking)}",
                        "grant them in the agent's Role (the chart's rbac templates), e.g. kubectl -n "
                        f"{s.namespace} edit role", [f"serviceaccount/{sa}"]))
    skipped = _skipped("rbac.self", "rbac", s.own_access)
    if skipped is not None:
        return [*out, skipped]
    assert isinstance(s.own_access, dict)
    lacking = [k for k, allowed in s.own_access.items() if not allowed]
    out.append(_one("rbac.self", "rbac", not lacking, "you may read everything doctor reads",
                    f"you may not {', '.join(lacking)} (those checks are skipped)",
                    "ask for a Role with these reads, or run doctor as the cluster admin", bad_status=WARN))
    return out


# ---- queues --------------------------------------------------------------------------------------------


def queue_checks(s: Snapshot) -> list[Check]:
    skipped = _skipped("queues.exist", "queues", s.queues, s.served)
    if skipped is not None:
        return [skipped]
    assert isinstance(s.queues, list) and isinstance(s.served, list)
    queues, served = s.queues, s.served
    names = {str(q.get("name")) for q in queues}
    ids = {str(q.get("id")) for q in queues}
    missing = [q for q in served if q not in names and q.lower() not in {n.lower() for n in names} and q not in ids]
    out = [_one("queues.exist", "queues", not missing, f"all {len(served)} served queues exist in ClearML",
                f"served queue(s) missing in ClearML: {', '.join(missing)}",
                "kubectl clearml queues create NAME, or set createQueues: true" if not s.create_queues else
                "the agent creates them at start (createQueues): restart it", missing,
                WARN if s.create_queues else FAIL)]
    served_by_workers = {str(q.get("id")) for w in s.workers if not isinstance(s.workers, Missing)
                         for q in (w.get("queues") or ())} if isinstance(s.workers, list) else set()
    unserved = [f"{q.get('name')} ({len(q.get('entries') or [])} pending)" for q in queues
                if q.get("entries") and not is_hidden(q) and served_entry(served, str(q.get("name")), q.get("id"))
                is None and str(q.get("id")) not in served_by_workers]
    out.append(_one("queues.unserved", "queues", not unserved, "every queue with pending tasks is served",
                    f"pending tasks in queue(s) no agent serves: {', '.join(unserved)}",
                    "add the queue to the agent (agentk8sglue.queue / queues), or move the tasks",
                    [u.split(" ", 1)[0] for u in unserved]))
    pods = s.task_pods if isinstance(s.task_pods, list) else None
    stranded = stranded_tasks(queues, pods)
    out.append(_one("queues.stranded", "queues", not stranded, "no task is stranded in a hidden queue",
                    f"{len(stranded)} task(s) stranded in hidden queue(s) "
                    f"{', '.join(sorted({str(t['queue']) for t in stranded}))} with no pod",
                    "the reference glue left them when it restarted: re-enqueue them (kubectl clearml why "
                    "TASK shows each)", [str(t["task"]) for t in stranded]))
    out.append(_worker_check(s))
    return out


def _worker_check(s: Snapshot) -> Check:
    skipped = _skipped("queues.worker", "queues", s.workers)
    if skipped is not None:
        return skipped
    assert isinstance(s.workers, list)
    mine = [w for w in s.workers if s.worker_prefix and str(w.get("id", "")).startswith(s.worker_prefix)]
    return _one("queues.worker", "queues", bool(mine), f"worker {mine[0].get('id') if mine else ''} is reporting",
                f"no worker {s.worker_prefix}* reported to ClearML in the last 10 minutes",
                "the agent is not polling: check install.pod and credentials.login", bad_status=WARN)


# ---- templates -----------------------------------------------------------------------------------------


def template_checks(s: Snapshot) -> list[Check]:
    out: list[Check] = []
    skipped = _skipped("templates.valid", "templates", s.dry_runs)
    if skipped is not None:
        out.append(skipped)
    else:
        assert isinstance(s.dry_runs, dict)
        bad = {q: e for q, e in s.dry_runs.items() if e}
        out.append(_one("templates.valid", "templates", not bad,
                        f"{len(s.dry_runs)} queue template(s) pass the server's dry-run",
                        "; ".join(f"{q}: {e}" for q, e in bad.items()),
                        "kubectl clearml submit-pod QUEUE --dry-run=server shows the rejected pod", list(bad)))
    skipped = _skipped("templates.lint", "templates", s.lint)
    if skipped is not None:
        out.append(skipped)
    else:
        assert isinstance(s.lint, list)
        errors = [f for f in s.lint if f.level == "error"]
        warnings = [f for f in s.lint if f.level != "error"]
        worst = errors or warnings
        out.append(Check("templates.lint", "templates", FAIL if errors else WARN if warnings else OK,
                         "no lint findings" if not worst else f"{len(errors)} error(s), {len(warnings)} warning(s): "
                         f"{worst[0].one_line()}", "" if not worst else "kubectl clearml diff-template --all "
                         "lists every finding", tuple(f.where for f in worst)))
    skipped = _skipped("templates.references", "templates", s.references)
    if skipped is not None:
        out.append(skipped)
    else:
        assert isinstance(s.references, dict)
        missing = sorted({ref for refs in s.references.values() for ref in refs})
        queues = [q for q, refs in s.references.items() if refs]
        out.append(_one("templates.references", "templates", not missing,
                        "image pull secrets, ConfigMaps, Secrets and PVCs the templates use exist",
                        f"missing in namespace {s.namespace}: {', '.join(missing)} (queues {', '.join(queues)})",
                        f"create them in {s.namespace} (kubectl -n {s.namespace} create secret docker-registry ...)"
                        , missing))
    skipped = _skipped("templates.namespace", "templates", s.template_namespaces)
    if skipped is not None:
        out.append(skipped)
    else:
        assert isinstance(s.template_namespaces, dict)
        other = {q: ns for q, ns in s.template_namespaces.items() if ns and ns != s.namespace}
        out.append(_one("templates.namespace", "templates", not other,
                        f"task pods go to the agent's namespace {s.namespace}",
                        "; ".join(f"{q} -> {ns}" for q, ns in other.items()),
                        "the glue's Secret and RBAC live in the agent's namespace: drop metadata.namespace",
                        list(other)))
    return out


# ---- capacity ------------------------------------------------------------------------------------------


def capacity_checks(s: Snapshot) -> list[Check]:
    from kubectl_clearml.core.gpu_queues import MISCONFIGURED, NO_ELIGIBLE_NODE, WAITING
    from kubectl_clearml.core.gpu_queues import OK as FITS

    out: list[Check] = []
    skipped = _skipped("capacity.fit", "capacity", s.gpu_reports)
    if skipped is not None:
        out.append(skipped)
    else:
        assert isinstance(s.gpu_reports, list)
        rank = {MISCONFIGURED: FAIL, NO_ELIGIBLE_NODE: FAIL, WAITING: WARN, FITS: OK}
        bad = [r for r in s.gpu_reports if rank.get(r.verdict, WARN) != OK]
        status = max((rank.get(r.verdict, WARN) for r in s.gpu_reports), key=_severity, default=OK)
        detail = "; ".join(f"{r.name}: {r.verdict} ({r.why})" for r in bad) or \
            f"every queue's pod fits now ({len(s.gpu_reports)} queues)"
        out.append(Check("capacity.fit", "capacity", status, detail,
                         "" if status == OK else "kubectl clearml gpu-report --by queue", tuple(r.name for r in bad)))
    skipped = _skipped("capacity.pending-pods", "capacity", s.task_pods)
    if skipped is not None:
        out.append(skipped)
    else:
        assert isinstance(s.task_pods, list)
        stuck = [p for p in s.task_pods if (p.get("status") or {}).get("phase") == "Pending"
                 and pod_reason(p) == "Unschedulable"]
        first = stuck[0] if stuck else {}
        out.append(_one("capacity.pending-pods", "capacity", not stuck, "no task pod is stuck unschedulable",
                        f"{len(stuck)} task pod(s) unschedulable; {first.get('metadata', {}).get('name')}: "
                        f"{pod_message(first)}" if stuck else "",
                        "kubectl clearml why TASK_ID shows node fit; add a toleration or fix the nodeSelector",
                        [f"pod/{p['metadata']['name']}" for p in stuck]))
    skipped = _skipped("capacity.dashboard", "capacity", s.dashboard)
    if skipped is not None:
        out.append(skipped)
    elif s.dashboard is None:
        out.append(Check("capacity.dashboard", "capacity", OK, "no dashboard GPU maximum set"))
    else:
        out.append(Check("capacity.dashboard", "capacity", WARN if s.dashboard_mismatch else OK, str(s.dashboard),
                         "set orchestrationDashboard.gpu.reportMax to the cluster's GPUs" if s.dashboard_mismatch
                         else ""))
    return out


def _severity(status: str) -> int:
    return {OK: 0, SKIPPED: 1, WARN: 2, FAIL: 3}[status]


# ---- shm -----------------------------------------------------------------------------------------------


def shm_checks(s: Snapshot) -> list[Check]:
    out: list[Check] = []
    skipped = _skipped("shm.multi-gpu", "shm", s.shm)
    if skipped is not None:
        out.append(skipped)
    else:
        assert isinstance(s.shm, list)
        lacking = [q.queue for q in s.shm if q.lacking]
        out.append(_one("shm.multi-gpu", "shm", not lacking, "every multi-GPU queue has a Memory /dev/shm",
                        f"multi-GPU queue(s) with the runtime's 64Mi /dev/shm: {', '.join(lacking)}",
                        f"kubectl clearml shm-fix {lacking[0] if lacking else 'QUEUE'} --live", lacking, WARN))
    skipped = _skipped("shm.failures", "shm", s.shm_findings)
    if skipped is not None:
        out.append(skipped)
    else:
        assert isinstance(s.shm_findings, dict)
        failing = {q: f for q, f in s.shm_findings.items() if f}
        first = next(iter(failing.values()), [{}])[0]
        out.append(_one("shm.failures", "shm", not failing, "no /dev/shm failure in recent task pod logs",
                        f"/dev/shm failures in queue(s) {', '.join(failing)}: pod {first.get('pod')}: "
                        f"{first.get('line')}" if failing else "",
                        f"kubectl clearml shm-fix {next(iter(failing), 'QUEUE')} --live",
                        sorted({f"pod/{x['pod']}" for f in failing.values() for x in f})))
    return out


CHECKS: tuple[CheckFn, ...] = (install_checks, credentials_checks, rbac_checks, queue_checks, template_checks,
                               capacity_checks, shm_checks)


def run_checks(snapshot: Snapshot, groups: Sequence[str] = ()) -> list[Check]:
    out = [c for fn in CHECKS for c in fn(snapshot)]
    return [c for c in out if not groups or c.group in groups]


def summary(checks: Sequence[Check]) -> dict[str, int]:
    counts = {status: 0 for status in STATUSES}
    for check in checks:
        counts[check.status] += 1
    return counts


def failed(checks: Sequence[Check]) -> bool:
    return any(c.status == FAIL for c in checks)


def access_key(verb: str, resource: str) -> str:
    return f"{verb} {resource}"


def missing_references(template: Mapping[str, Any], existing: Mapping[str, set[str]]) -> list[str]:
    """``secret/x``, ``configmap/y``, ``persistentvolumeclaim/z`` a pod template uses that are not in
    ``existing`` (kind -> names; a kind absent from ``existing`` could not be listed and is not judged)."""
    spec = template.get("spec") if "spec" in template else template
    spec = spec or {}
    wanted: list[tuple[str, str]] = [("secret", str(s.get("name"))) for s in spec.get("imagePullSecrets") or ()]
    for volume in spec.get("volumes") or ():
        if (volume.get("secret") or {}).get("secretName"):
            wanted.append(("secret", str(volume["secret"]["secretName"])))
        if (volume.get("configMap") or {}).get("name"):
            wanted.append(("configmap", str(volume["configMap"]["name"])))
        if (volume.get("persistentVolumeClaim") or {}).get("claimName"):
            wanted.append(("persistentvolumeclaim", str(volume["persistentVolumeClaim"]["claimName"])))
    for container in [*(spec.get("containers") or ()), *(spec.get("initContainers") or ())]:
        for source in container.get("envFrom") or ():
            for key, kind in (("secretRef", "secret"), ("configMapRef", "configmap")):
                ref = source.get(key) or {}
                if ref.get("name") and not ref.get("optional"):
                    wanted.append((kind, str(ref["name"])))
        for env in container.get("env") or ():
            value_from = env.get("valueFrom") or {}
            for key, kind in (("secretKeyRef", "secret"), ("configMapKeyRef", "configmap")):
                ref = value_from.get(key) or {}
                if ref.get("name") and not ref.get("optional"):
                    wanted.append((kind, str(ref["name"])))
    return sorted({f"{kind}/{name}" for kind, name in wanted if kind in existing and name not in existing[kind]})
