"""Patching the live task-pod template ConfigMap, with a way back, step by step.

The change is one JSON patch on the ConfigMap that
- pins ``metadata.resourceVersion`` to the version we read, so a concurrent writer makes the API server
  answer 409 instead of us overwriting it; we then read it again, plan again on what is there now and
  retry, with backoff, until a deadline (``CONFLICT_DEADLINE``): never clobbering, and not giving up
  beside a writer that touches the object a few times a second (a GitOps controller, a `kubectl patch` loop);
- replaces ``data["template.yaml"]``;
- pushes onto the annotation ``HISTORY_ANNOTATION`` (JSON list, oldest first) the text it replaced and
  the sha256 of what it wrote. ``--rollback`` pops one step: it restores the text that step replaced when
  the template is still what that step wrote (else, refused without --force: someone rewrote it since,
  and rolling back would undo that too). Rolled back step by step, the template ends as it was before
  our first fix, whatever fixes and edits came in between.

Older versions kept one step in ``PREVIOUS_ANNOTATION``/``APPLIED_ANNOTATION``; that is read as a one-step
history, and replaced by ``HISTORY_ANNOTATION`` on the next write.

The glue reads its template once at start-up, so the agent Deployment is restarted the way
``kubectl rollout restart`` does it: a ``kubectl.kubernetes.io/restartedAt`` pod-template annotation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.errors import ConflictError, NotFoundError, UsageError

LOG = logging.getLogger("kubectl_clearml.live_patch")

TEMPLATE_KEY = "template.yaml"
HISTORY_ANNOTATION = "kubectl-clearml.io/shm-fix-history"
PREVIOUS_ANNOTATION = "kubectl-clearml.io/shm-fix-previous-template"  # one-step history of older versions
APPLIED_ANNOTATION = "kubectl-clearml.io/shm-fix-applied-sha256"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
CONFLICT_DEADLINE = 30.0  # seconds of 409s before we say someone else keeps writing the object
MAX_HISTORY = 20  # steps kept; beyond, the oldest step after the first goes (the first is the way home)
ANNOTATIONS_MAX = 200_000  # bytes: Kubernetes caps all annotations of an object at 256 KiB


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass
class PatchOutcome:
    configmap: str
    namespace: str
    ops: list[dict[str, Any]] = field(default_factory=list)
    changed: bool = False
    applied: bool = False  # False for dry runs and no-ops
    attempts: int = 0
    before: str = ""
    after: str = ""
    result: Any = None  # whatever the transform reported about the change (e.g. per-queue fixes)
    steps_left: int = 0  # rollback steps still kept after this change


def template_text(cm: dict[str, Any], name: str) -> str:
    text = (cm.get("data") or {}).get(TEMPLATE_KEY)
    if not isinstance(text, str):
        raise NotFoundError(f"the ConfigMap has no {TEMPLATE_KEY}", f"configmap/{name}")
    return text


def history(cm: dict[str, Any]) -> list[dict[str, str]]:
    """The steps kept on the ConfigMap, oldest first: ``{"previous": text replaced, "applied": sha256}``."""
    annotations = (cm.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(HISTORY_ANNOTATION)
    if isinstance(raw, str):
        try:
            steps = json.loads(raw)
        except ValueError:
            steps = None
        if isinstance(steps, list) and all(
            isinstance(x, dict) and isinstance(x.get("previous"), str) and isinstance(x.get("applied"), str)
            for x in steps
        ):
            return steps
        raise UsageError(f"the annotation {HISTORY_ANNOTATION} is not shm-fix's history",
                         hint="someone edited it: remove it to start over (rollback is then unavailable)")
    previous = annotations.get(PREVIOUS_ANNOTATION)
    if isinstance(previous, str):
        return [{"previous": previous, "applied": str(annotations.get(APPLIED_ANNOTATION) or "")}]
    return []


def _history_ops(cm: dict[str, Any], steps: list[dict[str, str]]) -> list[dict[str, Any]]:
    annotations = (cm.get("metadata") or {}).get("annotations")
    ops: list[dict[str, Any]] = []
    if annotations is None:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
        annotations = {}
    for legacy in (PREVIOUS_ANNOTATION, APPLIED_ANNOTATION):
        if legacy in annotations:
            ops.append({"op": "remove", "path": _pointer("metadata", "annotations", legacy)})
    path = _pointer("metadata", "annotations", HISTORY_ANNOTATION)
    if steps:
        ops.append({"op": "add", "path": path, "value": json.dumps(steps, separators=(",", ":"))})
    elif HISTORY_ANNOTATION in annotations:
        ops.append({"op": "remove", "path": path})
    return ops


def fix_ops(cm: dict[str, Any], new_text: str) -> list[dict[str, Any]]:
    meta = cm.get("metadata") or {}
    old_text = (cm.get("data") or {}).get(TEMPLATE_KEY, "")
    steps = [*history(cm), {"previous": old_text, "applied": sha256(new_text)}]
    while len(steps) > MAX_HISTORY or (len(steps) > 2 and len(json.dumps(steps)) > ANNOTATIONS_MAX):
        del steps[1]  # the first step is how to get back to before our first fix: keep it
    return [
        {"op": "replace", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")},
        *_history_ops(cm, steps),
        {"op": "replace", "path": _pointer("data", TEMPLATE_KEY), "value": new_text},
    ]


def rollback_ops(cm: dict[str, Any], name: str, *, force: bool = False) -> tuple[list[dict[str, Any]], str, int]:
    """The patch undoing the last step, the text it restores, and the steps left after it."""
    meta = cm.get("metadata") or {}
    steps = history(cm)
    if not steps:
        raise NotFoundError(
            "nothing to roll back: shm-fix has not patched this template",
            f"configmap/{name}",
            hint="a fix made through a values overlay is undone with helm",
        )
    current = template_text(cm, name)
    last = steps[-1]
    if last["applied"] != sha256(current) and not force:
        raise UsageError(
            "the template changed after shm-fix patched it (a helm upgrade?), rolling back would undo that too",
            f"configmap/{name}",
            hint="check it with 'kubectl clearml diff-template', then re-run with --force",
        )
    ops = [
        {"op": "replace", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")},
        *_history_ops(cm, steps[:-1]),
        {"op": "replace", "path": _pointer("data", TEMPLATE_KEY), "value": last["previous"]},
    ]
    return ops, last["previous"], len(steps) - 1


# A transform gets the current template text and returns (new text, report); new text None means no change.
Transform = Callable[[str], "tuple[str | None, Any]"]
OpsBuilder = Callable[[dict[str, Any], str], "list[dict[str, Any]]"]


def patch_template(
    kube: Any,
    name: str,
    namespace: str,
    transform: Transform,
    *,
    dry_run: str | None = None,
    rollback: bool = False,
    force: bool = False,
    preflight: Callable[[], Any] | None = None,
    deadline: float = CONFLICT_DEADLINE,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> PatchOutcome:
    """Read, transform and JSON-patch ``template.yaml``; a 409 is re-read, re-planned and retried with
    backoff for up to ``deadline`` seconds.

    ``dry_run``: ``client`` computes the patch and sends nothing; ``server`` sends it with dryRun=All.
    With ``rollback`` the transform is not used: the last step of the history is undone.
    ``preflight`` runs once before the first real write (not for dry runs or no-ops): a check that must pass
    for the whole change to go through (e.g. a server dry run of the agent restart), so a refusal leaves
    the ConfigMap untouched instead of half-done.
    """
    outcome = PatchOutcome(name, namespace)
    give_up = clock() + deadline
    pause = 0.05
    checked = False
    # The plan is a function of the template text only: when a 409 came from a change elsewhere (labels, other
    # annotations), the re-read text is the same and so is its plan, and the next try only costs GET + PATCH,
    # a window short enough to land beside a writer that touches the object several times a second.
    plans: dict[str, tuple[str | None, Any]] = {}
    while True:
        outcome.attempts += 1
        cm = kube.get("configmaps", name, namespace)
        outcome.before = template_text(cm, name)
        if rollback:
            outcome.ops, outcome.after, outcome.steps_left = rollback_ops(cm, name, force=force)
        else:
            if outcome.before not in plans:
                plans[outcome.before] = transform(outcome.before)
            new_text, outcome.result = plans[outcome.before]
            if new_text is None or new_text == outcome.before:
                outcome.after, outcome.ops, outcome.changed = outcome.before, [], False
                return outcome
            outcome.after = new_text
            outcome.ops = fix_ops(cm, new_text)
            outcome.steps_left = len(history(cm)) + 1
        outcome.changed = True
        if dry_run == "client":
            return outcome
        if preflight is not None and dry_run is None and not checked:
            preflight()
            checked = True
        try:
            kube.patch("configmaps", name, outcome.ops, namespace, patch_type="json", dry_run=dry_run)
        except ConflictError as exc:
            if clock() + pause > give_up:
                raise ConflictError(
                    f"the template ConfigMap kept changing while shm-fix patched it "
                    f"({outcome.attempts} tries, 409 Conflict each time, over {deadline:g}s)",
                    f"configmap/{name}",
                    hint="someone else (helm upgrade, Argo CD?) is writing it; re-run when they are done",
                ) from None
            LOG.info("configmap/%s changed while we patched it (%s); reading it again", name, exc.what)
            sleep(pause * (0.5 + random.random()))  # jitter: two of us must not retry in lockstep
            pause = min(pause * 2, 1.0)
            continue
        outcome.applied = dry_run is None
        return outcome


def restart_deployment(
    kube: Any, name: str, namespace: str, now_iso: str, *, dry_run: str | None = None
) -> dict[str, Any]:
    """``kubectl rollout restart``: a new pod-template annotation rolls the glue pod."""
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now_iso}}}}}
    if dry_run != "client":
        kube.patch("deployments", name, patch, namespace, patch_type="strategic", dry_run=dry_run)
    return patch
