"""Fetch what `doctor` checks into a core.doctor.Snapshot, concurrently: every independent read in its own
thread, each failure kept as a ``Missing`` part (``forbidden: ...``) instead of ending the run.

The reads are the other commands' own: the agent install (adapters/agent_install), the agent's credentials
(adapters/agent_credentials), ClearML queues and workers, the GPU view and its queue inputs (cli/gpu_collect),
the /dev/shm log scan (cli/shm_live), access reviews (adapters/access_review).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from kubectl_clearml.cli.options import Globals
from kubectl_clearml.core.doctor import AGENT_VERBS, InstallFacts, Login, Missing, Snapshot, access_key
from kubectl_clearml.errors import AuthError, KubectlClearmlError, NotConfiguredError, NotFoundError

T = TypeVar("T")
# What doctor itself reads, asked of the apiserver for our own identity (rbac.self).
OWN_READS = (("get", "secrets"), ("list", "deployments"), ("list", "pods"), ("list", "nodes"),
             ("create", "subjectaccessreviews"), ("get", "pods/log"))
SHM_SCAN_PODS = 5
SHM_TAIL_LINES = 200
WORKERS = 12


def missing(exc: KubectlClearmlError) -> Missing:
    if isinstance(exc, AuthError):
        return Missing(f"forbidden: {exc.one_line()}")
    if isinstance(exc, NotFoundError):
        return Missing(f"not found: {exc.one_line()}")
    if isinstance(exc, NotConfiguredError):
        return Missing(f"not configured: {exc.one_line()}")
    return Missing(f"unavailable: {exc.one_line()}")


def part(fn: Callable[[], T]) -> T | Missing:
    try:
        return fn()
    except KubectlClearmlError as exc:
        return missing(exc)


def collect(g: Globals, kube: Any, *, values: tuple[str, ...] = (), release: str | None = None,
            queues: tuple[str, ...] = (), progress: Callable[[str], None] = lambda _: None) -> Snapshot:
    from kubectl_clearml.adapters.agent_install import find_install
    from kubectl_clearml.core.podbuilder import QUEUE_ID_LABEL

    namespace = kube.namespace
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="doctor") as pool:
        def submit(fn: Callable[[], T]) -> Future[T | Missing]:
            return pool.submit(part, fn)

        install_f = submit(lambda: find_install(kube, namespace, release))
        clearml_f = submit(lambda: _clearml(g, kube))
        pods_f = submit(lambda: list(kube.list("pods", namespace, label_selector=QUEUE_ID_LABEL)))
        own_f = submit(lambda: _own_access(pool, kube, namespace))
        cluster_f = submit(lambda: _cluster(g, kube))
        names_f = {kind: submit(lambda k=kind: {o["metadata"]["name"] for o in kube.list(k, namespace)})  # type: ignore[misc]
                   for kind in ("secrets", "configmaps", "persistentvolumeclaims")}
        progress("reading the agent install")
        inst = install_f.result()
        snap = Snapshot(namespace, Missing(inst.why.removeprefix("not found: ")) if isinstance(inst, Missing) else
                        Missing("not read yet"))
        # Values files need no install; without them the configuration is the install's.
        cfg: Any = part(lambda: _config(g, kube, inst, values, release)) if values or not isinstance(
            inst, Missing) else inst
        agent = None if isinstance(inst, Missing) else _agent_reads(submit, pool, kube, namespace, inst)
        progress("asking ClearML and the cluster")
        clearml = clearml_f.result()
        snap.queues, snap.workers, snap.our_server = (clearml,) * 3 if isinstance(clearml, Missing) else clearml
        snap.task_pods = pods_f.result()
        snap.own_access = own_f.result()
        if isinstance(cfg, Missing):
            for name in ("served", "uses_default_credentials", "lint", "references", "template_namespaces",
                         "dry_runs", "gpu_reports", "dashboard", "shm", "shm_findings"):
                setattr(snap, name, Missing(f"no agent configuration: {cfg.why}"))
        else:
            served = _served(cfg, queues)
            _config_checks(snap, submit, pool, kube, cfg, inst, served, names_f)
            _capacity(snap, cluster_f.result(), cfg, clearml, served)
        if agent is not None and not isinstance(inst, Missing):
            glue_pods_f, login_f, access_f, sa, ours = agent
            snap.install = InstallFacts(
                source=inst.source, name=inst.name, chart=_chart(inst, cfg), flavour=_flavour(cfg),
                deployment=inst.deployment, service_account=sa, notes=list(inst.notes), our_glue=ours)
            snap.glue_pods = glue_pods_f.result()
            snap.login = login_f.result()
            snap.agent_access = access_f.result()
    return snap


def _agent_reads(submit: Any, pool: ThreadPoolExecutor, kube: Any, namespace: str, inst: Any) -> tuple[Any, ...]:
    """Start what depends on the install: its pods, its login, its service account's permissions (those of
    `glue install`'s Deployment when it serves the queues instead of the agent's glue)."""
    deployment = inst.deployment
    ours = part(lambda: _our_glue(kube, namespace, deployment))
    serving = ours if isinstance(ours, dict) and (ours.get("spec") or {}).get("replicas") else deployment
    spec = (((serving or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    sa = str(spec.get("serviceAccountName") or "default")
    return (submit(lambda: _glue_pods(kube, namespace, serving)), submit(lambda: _agent_login(kube, namespace)),
            submit(lambda: _agent_access(pool, kube, namespace, sa)), sa,
            ours if isinstance(ours, dict) else None)


def _our_glue(kube: Any, namespace: str, agent: dict[str, Any] | None) -> dict[str, Any] | None:
    """`glue install`'s Deployment for this agent (core/glue_install.glue_name), if there is one."""
    from kubectl_clearml.core.glue_install import glue_name

    if agent is None:
        return None
    try:
        return dict(kube.get("deployments", glue_name(agent["metadata"]["name"]), namespace))
    except NotFoundError:
        return None


def _served(cfg: Any, queues: tuple[str, ...]) -> list[str]:
    """The queues the queue checks look at: --queue (each known to the agent: else exit 3), else all served."""
    from kubectl_clearml.cli.shm_fix import resolve_queue

    for queue in queues:
        resolve_queue(cfg, queue)
    return list(queues) or list(cfg.queues)


def _config_checks(snap: Snapshot, submit: Any, pool: ThreadPoolExecutor, kube: Any, cfg: Any, inst: Any,
                   served: list[str], names_f: dict[str, Future[Any]]) -> None:
    """What the agent's configuration decides: templates (dry-run, lint, references, namespace), /dev/shm."""
    namespace = snap.namespace
    snap.served, snap.create_queues = list(cfg.queues), bool(cfg.create_queues)
    snap.uses_default_credentials = bool(cfg.uses_default_credentials)
    snap.worker_prefix = _worker_prefix(inst)
    templates = _templates(cfg, served)
    pods_built = _built_pods(templates, _glue_settings(cfg, inst))
    dry_f = {q: submit(lambda p=p: _dry_run(kube, namespace, p)) for q, p in pods_built.items()}
    shm_f = submit(lambda: _shm_scan(pool, kube, namespace, cfg, served))
    snap.lint = part(lambda: _lint(cfg))
    snap.shm = part(lambda: _shm(cfg, served))
    listed = {kind: f.result() for kind, f in names_f.items()}
    existing = {kind.rstrip("s"): names for kind, names in listed.items() if isinstance(names, set)}
    snap.unchecked_kinds = [kind for kind, names in listed.items() if isinstance(names, Missing)]
    snap.references = {q: _missing_refs(p.manifest, existing) for q, p in pods_built.items()}
    snap.template_namespaces = {q: str((t.get("metadata") or {}).get("namespace") or "") for q, t in templates.items()}
    snap.dry_runs = _dry_runs({q: f.result() for q, f in dry_f.items()})
    snap.shm_findings = shm_f.result()


# ---- the reads ---------------------------------------------------------------------------------------


def _clearml(g: Globals, kube: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """Queues (hidden ones too), the workers seen in the last 10 minutes, and which server said so."""
    from kubectl_clearml.cli.connect import clearml_from

    client = clearml_from(g, kube if g.from_agent else None)
    queues = client.call("queues.get_all", {"search_hidden": True,
                                            "only_fields": ["id", "name", "tags", "system_tags", "entries"]})
    workers = client.call("workers.get_all", {"last_seen": 600})
    return list(queues.get("queues") or []), list(workers.get("workers") or []), client.server


def _config(g: Globals, kube: Any, inst: Any, values: tuple[str, ...], release: str | None) -> Any:
    if values:
        from kubectl_clearml.cli.agent_source import load_agent

        return load_agent(g, kube, values, release)
    return inst.config


def _templates(cfg: Any, served: Iterable[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for queue in served:
        try:
            out[queue] = cfg.effective_template(queue)
        except KubectlClearmlError:
            continue  # lint reports a template that does not render
    return out


def _glue_pods(kube: Any, namespace: str, deployment: dict[str, Any] | None) -> list[dict[str, Any]]:
    labels = ((deployment or {}).get("spec") or {}).get("selector", {}).get("matchLabels") or {}
    if not labels:
        return []
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return list(kube.list("pods", namespace, label_selector=selector))


def _agent_login(kube: Any, namespace: str) -> Login:
    from kubectl_clearml.adapters.agent_credentials import agent_credentials
    from kubectl_clearml.adapters.clearml import ClearmlClient
    from kubectl_clearml.adapters.credentials import Credentials
    from kubectl_clearml.errors import UnreachableError

    found = agent_credentials(kube, namespace)
    host = str(found.api_host or "")
    if not found.complete:
        return Login(host, "incomplete", "no CLEARML_API_HOST or key pair in the glue container's env")
    client = ClearmlClient(Credentials(host, str(found.access_key), str(found.secret_key),
                                       verify=found.verify if found.verify is not None else True),
                           timeout=(2.0, 5.0), retries=0)
    try:
        client.login()
    except AuthError as exc:
        return Login(host, "refused", exc.what)
    except UnreachableError as exc:
        return Login(host, "unreachable", exc.what)
    finally:
        client.close()
    return Login(host, "ok")


def _own_access(pool: ThreadPoolExecutor, kube: Any, namespace: str) -> dict[str, bool]:
    from kubectl_clearml.adapters.access_review import may_i

    asks = [(verb, resource, None if resource in ("nodes", "subjectaccessreviews") else namespace)
            for verb, resource in OWN_READS]
    futures = [pool.submit(may_i, kube, *ask) for ask in asks]
    return {access_key(verb, resource): f.result() for (verb, resource, _), f in zip(asks, futures, strict=True)}


def _agent_access(pool: ThreadPoolExecutor, kube: Any, namespace: str, sa: str) -> dict[str, bool]:
    from kubectl_clearml.adapters.access_review import may_they, service_account_identity

    user, groups = service_account_identity(namespace, sa)
    futures = [pool.submit(may_they, kube, user, groups, verb, resource, namespace) for verb, resource in AGENT_VERBS]
    return {access_key(verb, resource): f.result() for (verb, resource), f in zip(AGENT_VERBS, futures, strict=True)}


def _glue_settings(cfg: Any, inst: Any) -> Any:
    """What the glue would build task pods with (as submit-pod does)."""
    from kubectl_clearml.cli.submit_pod_source import _deployment_worker_id
    from kubectl_clearml.core.podbuilder import GlueSettings
    from kubectl_clearml.core.templates import credentials_secret_name
    from kubectl_clearml.core.values import get_path

    deployment = None if isinstance(inst, Missing) else inst.deployment
    return GlueSettings(
        worker_id=_deployment_worker_id(deployment) or cfg.fullname,
        credentials_secret=credentials_secret_name(cfg.values, cfg.fullname),
        default_image=str(get_path(cfg.values, "agentk8sglue.defaultContainerImage") or GlueSettings.default_image),
        namespace=cfg.namespace,
    )


def _built_pods(templates: dict[str, dict[str, Any]], settings: Any) -> dict[str, Any]:
    """The pod the glue would build for a task of each queue (what the dry-run and the reference check see)."""
    from kubectl_clearml.core.podbuilder import QueueRef, build_task_pod

    out = {}
    for queue, template in templates.items():
        try:
            out[queue] = build_task_pod({"id": "doctor0dry0run", "name": "doctor dry run"}, QueueRef("doctor", queue),
                                        template, settings)
        except KubectlClearmlError:
            continue  # a template the pod builder refuses: lint reports it
    return out


def _dry_run(kube: Any, namespace: str, built: Any) -> str | None:
    """None when the apiserver accepts the pod (dryRun=All), else its error."""
    from kubectl_clearml.errors import InvalidRequestError, ServerError

    try:
        kube.create("pods", built.manifest, built.namespace or namespace, dry_run="server")
    except (InvalidRequestError, ServerError) as exc:
        return exc.one_line()
    return None


def _dry_runs(results: dict[str, Any]) -> dict[str, str | None] | Missing:
    """queue -> the apiserver's error (None: accepted); a dry-run we may not make is no verdict at all."""
    denied = next((r for r in results.values() if isinstance(r, Missing) and r.why.startswith("forbidden")), None)
    if denied is not None:
        return denied
    return {q: r.why if isinstance(r, Missing) else r for q, r in results.items()}


def _missing_refs(template: dict[str, Any], existing: dict[str, set[str]]) -> list[str]:
    from kubectl_clearml.core.doctor import missing_references

    return missing_references(template, existing)


def _lint(cfg: Any) -> list[Any]:
    from kubectl_clearml.core.lint import lint_config

    return lint_config(cfg)


def _shm(cfg: Any, served: list[str]) -> list[Any]:
    from kubectl_clearml.core.shm_values import check_queues

    return check_queues(cfg, served)


def _shm_scan(pool: ThreadPoolExecutor, kube: Any, namespace: str, cfg: Any,
              served: list[str]) -> dict[str, list[dict[str, Any]]]:
    from kubectl_clearml.cli.shm_live import scan_pods

    queues = [q.queue for q in _shm(cfg, served) if q.multi_gpu]
    futures = {q: pool.submit(scan_pods, kube, namespace, q, max_pods=SHM_SCAN_PODS, tail_lines=SHM_TAIL_LINES)
               for q in queues}
    return {q: f.result() for q, f in futures.items()}


def _cluster(g: Globals, kube: Any) -> Any:
    from kubectl_clearml.cli.gpu_collect import read_cluster

    return read_cluster(g, kube, None)[0]


def _capacity(snap: Snapshot, cluster: Any, cfg: Any, clearml: Any, served: list[str]) -> None:
    if isinstance(cluster, Missing):
        snap.gpu_reports = snap.dashboard = cluster
        return
    from kubectl_clearml.cli.gpu_collect import queue_inputs
    from kubectl_clearml.core.gpu_queues import queue_reports
    from kubectl_clearml.core.gpu_summary import dashboard_check, totals

    server = None if isinstance(clearml, Missing) else {str(q.get("name", "")).lower(): q for q in clearml[0]}
    snap.gpu_reports = queue_reports([i for i in queue_inputs(cfg, server) if i.name in served], cluster)
    total = totals(cluster)
    snap.dashboard = dashboard_check(total, cfg.report_max_gpu, cfg.report_max_gpu_key)
    snap.dashboard_mismatch = cfg.report_max_gpu is not None and cfg.report_max_gpu != total.physical_gpus


def _worker_prefix(inst: Any) -> str:
    """Workers the glue registers are named after its worker id (CLEARML_WORKER_ID, else the Deployment)."""
    from kubectl_clearml.cli.submit_pod_source import _deployment_worker_id

    if isinstance(inst, Missing):
        return ""
    return _deployment_worker_id(inst.deployment) or str(inst.name)


def _chart(inst: Any, cfg: Any) -> str:
    if inst.release is not None:
        return f"{inst.release.chart_name} {inst.release.chart_version or ''}".strip()
    return str(getattr(cfg, "chart_name", "") or "unknown chart")


def _flavour(cfg: Any) -> str:
    return str(getattr(cfg, "flavour", "unknown"))
