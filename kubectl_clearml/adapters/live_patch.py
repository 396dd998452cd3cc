"""Patching the live task-pod template ConfigMap, with a way back.

The change is one JSON patch on the ConfigMap that
- pins ``metadata.resourceVersion`` to the version we read, so a concurrent writer makes the API server
  answer 409 instead of us overwriting it (we re-read, recompute and retry once, then report);
- replaces ``data["template.yaml"]``;
- keeps the text we replaced in the annotation ``PREVIOUS_ANNOTATION`` (only the first time: a second
  fix with another size still rolls back to the original) and the sha256 of what we wrote in
  ``APPLIED_ANNOTATION``, so ``--rollback`` can tell whether someone (``helm upgrade``) rewrote it since.

The glue reads its template once at start-up, so the agent Deployment is restarted the way
``kubectl rollout restart`` does it: a ``kubectl.kubernetes.io/restartedAt`` pod-template annotation.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.errors import ConflictError, NotFoundError, UsageError

LOG = logging.getLogger("kubectl_clearml.live_patch")

TEMPLATE_KEY = "template.yaml"
PREVIOUS_ANNOTATION = "kubectl-clearml.io/shm-fix-previous-template"
APPLIED_ANNOTATION = "kubectl-clearml.io/shm-fix-applied-sha256"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


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


def template_text(cm: dict[str, Any], name: str) -> str:
    text = (cm.get("data") or {}).get(TEMPLATE_KEY)
    if not isinstance(text, str):
        raise NotFoundError(f"the ConfigMap has no {TEMPLATE_KEY}", f"configmap/{name}")
    return text


def fix_ops(cm: dict[str, Any], new_text: str) -> list[dict[str, Any]]:
    meta = cm.get("metadata") or {}
    annotations = meta.get("annotations")
    old_text = (cm.get("data") or {}).get(TEMPLATE_KEY, "")
    ops: list[dict[str, Any]] = [
        {"op": "replace", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")}
    ]
    if annotations is None:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
        annotations = {}
    ours = annotations.get(APPLIED_ANNOTATION) == sha256(old_text) and PREVIOUS_ANNOTATION in annotations
    if not ours:
        # First fix (or the template was rewritten since ours): what we replace is what rollback restores.
        ops.append({"op": "add", "path": _pointer("metadata", "annotations", PREVIOUS_ANNOTATION), "value": old_text})
    ops.append({"op": "add", "path": _pointer("metadata", "annotations", APPLIED_ANNOTATION), "value": sha256(new_text)})
    ops.append({"op": "replace", "path": _pointer("data", TEMPLATE_KEY), "value": new_text})
    return ops


def rollback_ops(cm: dict[str, Any], name: str, *, force: bool = False) -> list[dict[str, Any]]:
    meta = cm.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    previous = annotations.get(PREVIOUS_ANNOTATION)
    if not isinstance(previous, str):
        raise NotFoundError(
            "nothing to roll back: shm-fix has not patched this template",
            f"configmap/{name}",
            hint="a fix made through a values overlay is undone with helm",
        )
    current = template_text(cm, name)
    if annotations.get(APPLIED_ANNOTATION) != sha256(current) and not force:
        raise UsageError(
            "the template changed after shm-fix patched it (a helm upgrade?), rolling back would undo that too",
            f"configmap/{name}",
            hint="check it with 'kubectl clearml diff-template', then re-run with --force",
        )
    return [
        {"op": "replace", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")},
        {"op": "replace", "path": _pointer("data", TEMPLATE_KEY), "value": previous},
        {"op": "remove", "path": _pointer("metadata", "annotations", PREVIOUS_ANNOTATION)},
        {"op": "remove", "path": _pointer("metadata", "annotations", APPLIED_ANNOTATION)},
    ]


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
) -> PatchOutcome:
    """Read, transform and JSON-patch ``template.yaml``; a 409 is retried once with a fresh read.

    ``dry_run``: ``client`` computes the patch and sends nothing; ``server`` sends it with dryRun=All.
    With ``rollback`` the transform is not used: the text kept at fix time is restored.
    ``preflight`` runs once before the first real write (not for dry runs or no-ops): a check that must pass
    for the whole change to go through (e.g. a server dry run of the agent restart), so a refusal leaves
    the ConfigMap untouched instead of half-done.
    """
    outcome = PatchOutcome(name, namespace)
    for attempt in (1, 2):
        outcome.attempts = attempt
        cm = kube.get("configmaps", name, namespace)
        outcome.before = template_text(cm, name)
        if rollback:
            outcome.ops = rollback_ops(cm, name, force=force)
            outcome.after = outcome.ops[1]["value"]
        else:
            new_text, outcome.result = transform(outcome.before)
            if new_text is None or new_text == outcome.before:
                outcome.after, outcome.ops, outcome.changed = outcome.before, [], False
                return outcome
            outcome.after = new_text
            outcome.ops = fix_ops(cm, new_text)
        outcome.changed = True
        if dry_run == "client":
            return outcome
        if preflight is not None and dry_run is None and attempt == 1:
            preflight()
        try:
            kube.patch("configmaps", name, outcome.ops, namespace, patch_type="json", dry_run=dry_run)
        except ConflictError as exc:
            if attempt == 1:
                LOG.info("configmap/%s changed while we patched it (%s); reading it again", name, exc.what)
                continue
            raise ConflictError(
                "the template ConfigMap kept changing while shm-fix patched it (409 Conflict twice)",
                f"configmap/{name}",
                hint="someone else (helm upgrade, Argo CD?) is writing it; re-run when they are done",
            ) from None
        outcome.applied = dry_run is None
        return outcome
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def restart_deployment(
    kube: Any, name: str, namespace: str, now_iso: str, *, dry_run: str | None = None
) -> dict[str, Any]:
    """``kubectl rollout restart``: a new pod-template annotation rolls the glue pod."""
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now_iso}}}}}
    if dry_run != "client":
        kube.patch("deployments", name, patch, namespace, patch_type="strategic", dry_run=dry_run)
    return patch
