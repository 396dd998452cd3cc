"""`doctor`'s model: a fetched :class:`Snapshot`, the :class:`Check` results and the check registry (pure).

A fetched part is either its value or :class:`Missing` (why it could not be read: ``forbidden: ...``,
``unavailable: ...``); a check whose input is Missing is ``skipped`` with that reason, never an error. The
checks themselves are in core/doctor_checks.py, each registered with ``@check(id, *parts)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

OK, WARN, FAIL, SKIPPED = "ok", "warn", "fail", "skipped"
STATUSES = (OK, WARN, FAIL, SKIPPED)
GROUPS = ("install", "credentials", "rbac", "queues", "templates", "capacity", "shm")
# What the agent's service account must be allowed: the glue creates, watches and deletes task pods. The chart
# grants get/list/watch/create/patch/delete on pods (clearml-agent 5.3.2, templates/agentk8sglue-rbac.yaml:18-25).
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
    service_account: str
    our_glue: dict[str, Any] | None = None  # `glue install`'s Deployment, when our run-glue took over
    notes: list[str] = field(default_factory=list)


@dataclass
class Snapshot:
    namespace: str
    install: Part[InstallFacts]
    glue_pods: Part[list[dict[str, Any]]] = Missing("no agent install")
    served: Part[list[str]] = Missing("no agent install")
    uses_default_credentials: Part[bool] = Missing("no agent configuration")
    create_queues: bool = False
    worker_prefix: str = ""
    login: Part[Login] = Missing("no agent install")
    agent_access: Part[dict[str, bool]] = Missing("no agent install")  # "verb resource" -> allowed
    own_access: Part[dict[str, bool]] = Missing("not asked")
    our_server: Part[str] = Missing("ClearML not asked")  # the server doctor's own ClearML reads went to
    queues: Part[list[dict[str, Any]]] = Missing("ClearML not asked")
    workers: Part[list[dict[str, Any]]] = Missing("ClearML not asked")
    task_pods: Part[list[dict[str, Any]]] = Missing("not asked")
    dry_runs: Part[dict[str, str | None]] = Missing("no templates")  # queue -> apiserver error or None
    lint: Part[list[Any]] = Missing("no agent configuration")  # core.lint.Finding
    references: Part[dict[str, list[str]]] = Missing("no templates")  # queue -> missing "secret/x", ...
    unchecked_kinds: list[str] = field(default_factory=list)  # kinds we could not list (references not judged)
    template_namespaces: Part[dict[str, str]] = Missing("no templates")  # queue -> metadata.namespace
    gpu_reports: Part[list[Any]] = Missing("no templates")  # core.gpu_queues.QueueReport
    dashboard: Part[str | None] = Missing("no GPU data")  # core.gpu_summary.dashboard_check line
    dashboard_mismatch: bool = False
    shm: Part[list[Any]] = Missing("no agent configuration")  # core.shm_values.QueueShm
    shm_findings: Part[dict[str, list[dict[str, Any]]]] = Missing("no task pods")  # queue -> findings


@dataclass(frozen=True)
class Result:
    """What one check found; run_checks gives it the check's id and group."""

    status: str
    detail: str
    hint: str = ""
    objects: tuple[str, ...] = ()


def judged(ok: bool, good: str, bad: str, hint: str = "", objects: Sequence[str] = (),
           bad_status: str = FAIL) -> Result:
    return Result(OK if ok else bad_status, good if ok else bad, "" if ok else hint, tuple(objects))


@dataclass(frozen=True)
class Spec:
    id: str
    parts: tuple[str, ...]  # Snapshot fields it reads: a Missing one makes the check `skipped (why)`
    judge: Callable[..., Result]  # (snapshot, *parts) -> Result

    @property
    def group(self) -> str:
        return self.id.split(".", 1)[0]


SPECS: list[Spec] = []


def check(check_id: str, *parts: str) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Register a check, in the order the report shows them."""

    def register(judge: Callable[..., Result]) -> Callable[..., Result]:
        SPECS.append(Spec(check_id, parts, judge))
        return judge

    return register


def run_checks(snapshot: Snapshot, groups: Sequence[str] = ()) -> list[Check]:
    from kubectl_clearml.core import doctor_checks  # noqa: F401 - registers the checks, in report order

    out = []
    for spec in SPECS:
        if groups and spec.group not in groups:
            continue
        values = [getattr(snapshot, part) for part in spec.parts]
        gone = next((v for v in values if isinstance(v, Missing)), None)
        if gone is not None:
            out.append(Check(spec.id, spec.group, SKIPPED, f"skipped ({gone.why})"))
            continue
        found = spec.judge(snapshot, *values)
        out.append(Check(spec.id, spec.group, found.status, found.detail, found.hint, found.objects))
    return out


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
