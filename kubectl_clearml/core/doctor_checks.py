"""The checks `doctor` runs, in report order, each registered with the Snapshot parts it reads (core/doctor.py
runs them: a Missing part makes a check `skipped`). Each only words a rule that lives elsewhere: the install
as agent_install finds it, served-queue matching and stranded tasks (core/queues), the lint (core/lint), GPU fit
(core/gpu_queues), /dev/shm provisioning (core/shm_values), a pod's pending reason (core/queues).
"""

from __future__ import annotations

from typing import Any

from kubectl_clearml.core.doctor import (
    FAIL,
    OK,
    SKIPPED,
    WARN,
    InstallFacts,
    Login,
    Missing,
    Result,
    Snapshot,
    check,
    judged,
)
from kubectl_clearml.core.queues import is_hidden, pod_message, pod_reason, served_entry, stranded_tasks
from kubectl_clearml.core.why import IMAGE_PULL_REASONS

# ---- install -------------------------------------------------------------------------------------------


@check("install.found")
def _found(s: Snapshot) -> Result:
    if isinstance(s.install, Missing):
        return Result(FAIL, s.install.why, "pass -n with the agent's namespace, or --release NAME")
    inst = s.install
    how = "Helm release" if inst.source == "helm-release" else "live objects"
    return Result(OK, f"{how} {inst.name} ({inst.chart}, {inst.flavour} chart)", objects=(f"namespace/{s.namespace}",))


@check("install.deployment", "install")
def _deployment(s: Snapshot, inst: InstallFacts) -> Result:
    deployment = inst.deployment
    if deployment is not None and inst.our_glue is not None:
        return _handed_over(s, deployment, inst.our_glue)
    if deployment is None:
        return Result(FAIL, "the glue Deployment is not in the cluster",
                      "helm upgrade --install the agent, or check the release's namespace")
    name = deployment["metadata"]["name"]
    status = deployment.get("status") or {}
    available: dict[str, Any] = next((c for c in status.get("conditions") or () if c.get("type") == "Available"), {})
    ready = f"{status.get('availableReplicas', 0)}/{(deployment.get('spec') or {}).get('replicas', 1)} available"
    return judged(available.get("status") == "True", f"Deployment {name}: {ready}",
                  f"Deployment {name}: {ready} ({available.get('message') or 'no Available condition'})",
                  f"kubectl -n {s.namespace} describe deployment {name}", [f"deployment/{name}"])


def _handed_over(s: Snapshot, agent: dict[str, Any], ours: dict[str, Any]) -> Result:
    """After `glue install`: who serves the queues (core/glue_install.who_serves), and is our glue available."""
    from kubectl_clearml.core.glue_install import who_serves

    name, agent_name = ours["metadata"]["name"], agent["metadata"]["name"]
    serving = who_serves(int((agent.get("spec") or {}).get("replicas", 1) or 0),
                         int((ours.get("spec") or {}).get("replicas", 0) or 0))
    objects = (f"deployment/{agent_name}", f"deployment/{name}")
    if serving == "both":
        # Safe (run-glue claims a task before creating its pod, so neither glue runs a task twice or fails
        # the other's; README "When two glues meet") but not a state to stay in: two glues serve one queue.
        return Result(WARN, f"both the agent's glue ({agent_name}) and kubectl-clearml's ({name}) run: two glues "
                      "pull from the same queues", f"kubectl clearml glue status -n {s.namespace}; then glue "
                      "install (again) or glue uninstall", objects)
    status = ours.get("status") or {}
    ready = f"{status.get('availableReplicas', 0)}/{(ours.get('spec') or {}).get('replicas', 0)} available"
    return judged(serving == "kubectl-clearml" and bool(status.get("availableReplicas")),
                  f"served by kubectl-clearml's glue {name}: {ready} (the agent's {agent_name} scaled to 0)",
                  f"kubectl-clearml's glue {name}: {ready}, serving: {serving}",
                  f"kubectl clearml glue status -n {s.namespace}", objects)


@check("install.pod", "install", "glue_pods")
def _glue_pod(s: Snapshot, inst: InstallFacts, pods: list[dict[str, Any]]) -> Result:
    if not pods:
        return Result(FAIL, "no agent pod is running", f"kubectl -n {s.namespace} get events --sort-by=.lastTimestamp")
    pod = pods[0]
    name = pod["metadata"]["name"]
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    last = next((((c.get("lastState") or {}).get("terminated") or {}).get("reason") for c in statuses
                 if (c.get("lastState") or {}).get("terminated")), None)
    reason = pod_reason(pod)
    objects = (f"pod/{name}",)
    if reason in IMAGE_PULL_REASONS:
        return Result(FAIL, f"pod {name}: {reason}: {pod_message(pod)}",
                      "fix agentk8sglue.image (repository/tag) or add an imagePullSecret", objects)
    if reason == "CrashLoopBackOff":
        return Result(FAIL, f"pod {name} is crash-looping ({restarts} restarts, last exit: {last or 'unknown'})",
                      f"kubectl -n {s.namespace} logs {name} --previous", objects)
    if not statuses or not all(c.get("ready") for c in statuses):
        return Result(FAIL, f"pod {name} is not ready ({reason})", f"kubectl -n {s.namespace} describe pod {name}",
                      objects)
    detail = f"pod {name} ready, {restarts} restart(s)" + (f", last termination {last}" if last else "")
    return Result(WARN if restarts else OK, detail,
                  f"kubectl -n {s.namespace} logs {name} --previous" if restarts else "", objects)


# ---- credentials ---------------------------------------------------------------------------------------


@check("credentials.login", "login")
def _login(s: Snapshot, login: Login) -> Result:
    objects = (login.api_host,)
    if login.outcome == "ok":
        return Result(OK, f"the agent's keys log in to {login.api_host}", objects=objects)
    if login.outcome == "refused":
        return Result(FAIL, f"{login.api_host} refuses the agent's keys: {login.message}",
                      "put a valid key pair in the agent's Secret (clearml.agentk8sglueKey/Secret), then restart "
                      "the agent", objects)
    if login.outcome == "unreachable":
        if _cluster_internal(login.api_host):
            return Result(WARN, f"{login.api_host} is not reachable from here (a cluster-internal address)",
                          "run doctor from inside the cluster to test the login", objects)
        return Result(FAIL, f"{login.api_host} is not reachable from here: {login.message}",
                      "check clearml.apiServerUrlReference and that the server is up", objects)
    return Result(FAIL, f"the agent's credentials are incomplete: {login.message}",
                  "set CLEARML_API_HOST and the key pair in the agent's values", objects)


def _cluster_internal(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return host.endswith((".svc", ".svc.cluster.local", ".cluster.local")) or "." not in host


@check("credentials.same-server", "login", "our_server")
def _same_server(s: Snapshot, login: Login, ours: str) -> Result:
    """The queue checks read the server doctor was pointed at: say so when it is not the agent's."""
    same = login.api_host.rstrip("/") == ours.rstrip("/")
    return judged(same, f"doctor reads the agent's own ClearML server {ours}",
                  f"doctor reads ClearML at {ours}, the agent uses {login.api_host}: the queue checks may be "
                  "about another server", "pass --from-agent (or --api-host) to read the agent's server",
                  (ours, login.api_host), WARN)


@check("credentials.default-keys", "uses_default_credentials")
def _default_keys(s: Snapshot, uses_default: bool) -> Result:
    return judged(not uses_default, "the agent does not use the chart's default ACCESSKEY/SECRETKEY",
                  "the agent uses the chart's default ACCESSKEY/SECRETKEY",
                  "create keys in the ClearML UI (Settings > Workspace) and set clearml.agentk8sglueKey/Secret, or "
                  "clearml.existingAgentk8sglueSecret")


# ---- rbac ----------------------------------------------------------------------------------------------


@check("rbac.agent", "agent_access")
def _agent_rbac(s: Snapshot, access: dict[str, bool]) -> Result:
    sa = s.install.service_account if not isinstance(s.install, Missing) else ""
    lacking = [k for k, allowed in access.items() if not allowed]
    return judged(not lacking, f"service account {sa} may {', '.join(sorted(access))}",
                  f"service account {sa} may not {', '.join(lacking)}",
                  f"grant them in the agent's Role (the chart's rbac templates), e.g. kubectl -n {s.namespace} "
                  "edit role", [f"serviceaccount/{sa}"])


@check("rbac.self", "own_access")
def _own_rbac(s: Snapshot, access: dict[str, bool]) -> Result:
    lacking = [k for k, allowed in access.items() if not allowed]
    return judged(not lacking, "you may read everything doctor reads",
                  f"you may not {', '.join(lacking)} (those checks are skipped)",
                  "ask for a Role with these reads, or run doctor as the cluster admin", bad_status=WARN)


# ---- queues --------------------------------------------------------------------------------------------


@check("queues.exist", "queues", "served")
def _queues_exist(s: Snapshot, queues: list[dict[str, Any]], served: list[str]) -> Result:
    names = {str(q.get("name")).lower() for q in queues}
    ids = {str(q.get("id")) for q in queues}
    missing = [q for q in served if q.lower() not in names and q not in ids]
    hint = ("the agent creates them at start (createQueues): restart it" if s.create_queues
            else "kubectl clearml queues create NAME, or set createQueues: true")
    return judged(not missing, f"all {len(served)} served queues exist in ClearML",
                  f"served queue(s) missing in ClearML: {', '.join(missing)}", hint, missing,
                  WARN if s.create_queues else FAIL)


@check("queues.unserved", "queues", "served")
def _queues_unserved(s: Snapshot, queues: list[dict[str, Any]], served: list[str]) -> Result:
    by_workers = {str(q.get("id")) for w in s.workers or () for q in (w.get("queues") or ())} \
        if isinstance(s.workers, list) else set()
    unserved = [q for q in queues if q.get("entries") and not is_hidden(q) and str(q.get("id")) not in by_workers
                and served_entry(served, str(q.get("name")), q.get("id")) is None]
    listed = ", ".join(f"{q.get('name')} ({len(q.get('entries') or [])} pending)" for q in unserved)
    return judged(not unserved, "every queue with pending tasks is served",
                  f"pending tasks in queue(s) no agent serves: {listed}",
                  "add the queue to the agent (agentk8sglue.queue / queues), or move the tasks",
                  [str(q.get("name")) for q in unserved])


@check("queues.stranded", "queues")
def _queues_stranded(s: Snapshot, queues: list[dict[str, Any]]) -> Result:
    stranded = stranded_tasks(queues, s.task_pods if isinstance(s.task_pods, list) else None)
    where = ", ".join(sorted({str(t["queue"]) for t in stranded}))
    return judged(not stranded, "no task is stranded in a hidden queue",
                  f"{len(stranded)} task(s) stranded in hidden queue(s) {where} with no pod",
                  "the reference glue left them when it restarted: re-enqueue them (kubectl clearml why TASK "
                  "shows each)", [str(t["task"]) for t in stranded])


@check("queues.worker", "workers")
def _worker(s: Snapshot, workers: list[dict[str, Any]]) -> Result:
    mine = [w for w in workers if s.worker_prefix and str(w.get("id", "")).startswith(s.worker_prefix)]
    return judged(bool(mine), f"worker {mine[0].get('id') if mine else ''} is reporting",
                  f"no worker {s.worker_prefix}* reported to ClearML in the last 10 minutes",
                  "the agent is not polling: check install.pod and credentials.login", bad_status=WARN)


# ---- templates -----------------------------------------------------------------------------------------


@check("templates.valid", "dry_runs")
def _valid(s: Snapshot, dry_runs: dict[str, str | None]) -> Result:
    bad = {q: e for q, e in dry_runs.items() if e}
    return judged(not bad, f"{len(dry_runs)} queue template(s) pass the server's dry-run",
                  "; ".join(f"{q}: {e}" for q, e in bad.items()),
                  "kubectl clearml submit-pod QUEUE --dry-run=server shows the rejected pod", list(bad))


@check("templates.lint", "lint")
def _lint(s: Snapshot, findings: list[Any]) -> Result:
    errors = [f for f in findings if f.level == "error"]
    warnings = [f for f in findings if f.level != "error"]
    worst = errors or warnings
    if not worst:
        return Result(OK, "no lint findings")
    return Result(FAIL if errors else WARN, f"{len(errors)} error(s), {len(warnings)} warning(s): "
                  f"{worst[0].one_line()}", "kubectl clearml diff-template --all lists every finding",
                  tuple(f.where for f in worst))


@check("templates.references", "references")
def _references(s: Snapshot, references: dict[str, list[str]]) -> Result:
    missing = sorted({ref for refs in references.values() for ref in refs})
    queues = [q for q, refs in references.items() if refs]
    unchecked = f" ({', '.join(s.unchecked_kinds)} not checked: cannot list them)" if s.unchecked_kinds else ""
    return judged(not missing, f"image pull secrets, ConfigMaps, Secrets and PVCs the templates use exist{unchecked}",
                  f"missing in namespace {s.namespace}: {', '.join(missing)} (queues {', '.join(queues)}){unchecked}",
                  f"create them in {s.namespace} (kubectl -n {s.namespace} create secret docker-registry ...)",
                  missing)


@check("templates.namespace", "template_namespaces")
def _namespace(s: Snapshot, namespaces: dict[str, str]) -> Result:
    other = {q: ns for q, ns in namespaces.items() if ns and ns != s.namespace}
    return judged(not other, f"task pods go to the agent's namespace {s.namespace}",
                  "; ".join(f"{q} -> {ns}" for q, ns in other.items()),
                  "the glue's Secret and RBAC live in the agent's namespace: drop metadata.namespace", list(other))


# ---- capacity ------------------------------------------------------------------------------------------


@check("capacity.fit", "gpu_reports")
def _fit(s: Snapshot, reports: list[Any]) -> Result:
    from kubectl_clearml.core.gpu_queues import MISCONFIGURED, NO_ELIGIBLE_NODE, WAITING
    from kubectl_clearml.core.gpu_queues import OK as FITS

    rank = {MISCONFIGURED: FAIL, NO_ELIGIBLE_NODE: FAIL, WAITING: WARN, FITS: OK}
    bad = [r for r in reports if rank.get(r.verdict, WARN) != OK]
    status = max((rank.get(r.verdict, WARN) for r in reports), key=_severity, default=OK)
    detail = "; ".join(f"{r.name}: {r.verdict} ({r.why})" for r in bad) or \
        f"every queue's pod fits now ({len(reports)} queues)"
    return Result(status, detail, "" if status == OK else "kubectl clearml gpu-report --by queue",
                  tuple(r.name for r in bad))


@check("capacity.pending-pods", "task_pods")
def _pending_pods(s: Snapshot, pods: list[dict[str, Any]]) -> Result:
    stuck = [p for p in pods if (p.get("status") or {}).get("phase") == "Pending" and pod_reason(p) == "Unschedulable"]
    first = stuck[0] if stuck else {}
    return judged(not stuck, "no task pod is stuck unschedulable",
                  f"{len(stuck)} task pod(s) unschedulable; {first.get('metadata', {}).get('name')}: "
                  f"{pod_message(first)}",
                  "kubectl clearml why TASK_ID shows node fit; add a toleration or fix the nodeSelector",
                  [f"pod/{p['metadata']['name']}" for p in stuck])


@check("capacity.dashboard", "dashboard")
def _dashboard(s: Snapshot, line: str | None) -> Result:
    if line is None:
        return Result(OK, "no dashboard GPU maximum set")
    return judged(not s.dashboard_mismatch, line, line, "set orchestrationDashboard.gpu.reportMax to the cluster's GPUs",
                  bad_status=WARN)


def _severity(status: str) -> int:
    return {OK: 0, SKIPPED: 1, WARN: 2, FAIL: 3}[status]


# ---- shm -----------------------------------------------------------------------------------------------


@check("shm.multi-gpu", "shm")
def _multi_gpu(s: Snapshot, queues: list[Any]) -> Result:
    lacking = [q.queue for q in queues if q.lacking]
    return judged(not lacking, "every multi-GPU queue has a Memory /dev/shm",
                  f"multi-GPU queue(s) with the runtime's 64Mi /dev/shm: {', '.join(lacking)}",
                  f"kubectl clearml shm-fix {lacking[0] if lacking else 'QUEUE'} --live", lacking, WARN)


@check("shm.failures", "shm_findings")
def _shm_failures(s: Snapshot, findings: dict[str, list[dict[str, Any]]]) -> Result:
    failing = {q: f for q, f in findings.items() if f}
    first = next(iter(failing.values()), [{}])[0]
    return judged(not failing, "no /dev/shm failure in recent task pod logs",
                  f"/dev/shm failures in queue(s) {', '.join(failing)}: pod {first.get('pod')}: {first.get('line')}",
                  f"kubectl clearml shm-fix {next(iter(failing), 'QUEUE')} --live",
                  sorted({f"pod/{x['pod']}" for f in failing.values() for x in f}))
