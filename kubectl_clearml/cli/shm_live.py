"""shm-fix against the installed release: --check with pod scanning, --live [--apply], --rollback.

The live ``template.yaml`` is authoritative for what task pods get (agent-chart.md §5), so --check and
--apply read it; the overlay for a durable fix is computed from the release's effective values.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import click

from kubectl_clearml.cli.options import Globals
from kubectl_clearml.errors import AuthError, NotFoundError, UsageError
from kubectl_clearml.output import note, warn

OSS_CHART_REF = "clearml/clearml-agent"
ENTERPRISE_CHART_REF = "oci://docker.io/clearml/clearml-enterprise-agent"


@dataclass
class LiveInstall:
    """What shm-fix needs to know about the installed agent."""

    namespace: str
    release: str | None
    chart_name: str
    chart_version: str | None
    configmap: str
    deployment: str
    cfg: Any  # core.agent_config.AgentConfig


def find_install(kube: Any, release: str | None) -> LiveInstall:
    from kubectl_clearml.adapters.agent_install import find_install as find_agent_install

    install = find_agent_install(kube, release=release)
    if install.configmap_name is None or install.deployment is None:
        raise NotFoundError(
            "the agent's template ConfigMap or Deployment is not in the cluster",
            f"namespace {install.namespace}",
            hint="; ".join(install.notes) or None,
        )
    cfg = install.config
    return LiveInstall(
        namespace=install.namespace,
        release=install.release.name if install.release else None,
        chart_name=cfg.chart_name,
        chart_version=install.release.chart_version if install.release else None,
        configmap=install.configmap_name,
        deployment=str(install.deployment["metadata"]["name"]),
        cfg=cfg,
    )


def _live_templates(kube: Any, inst: LiveInstall) -> tuple[str, Any]:
    from kubectl_clearml.adapters.live_patch import template_text
    from kubectl_clearml.core.templates import parse_rendered_template

    cm = kube.get("configmaps", inst.configmap, inst.namespace)
    text = template_text(cm, inst.configmap)
    return text, parse_rendered_template(text, f"configmap/{inst.configmap}")


def helm_command(inst: LiveInstall, overlay_path: str) -> str:
    chart = ENTERPRISE_CHART_REF if inst.cfg.flavour == "enterprise" else OSS_CHART_REF
    version = f" --version {inst.chart_version}" if inst.chart_version else ""
    release = inst.release or "<release>"
    return f"helm upgrade {release} {chart}{version} -n {inst.namespace} --reuse-values -f {overlay_path}"


# ---- --check --------------------------------------------------------------------------------------


def check_live(g: Globals, queues: tuple[str, ...], *, release: str | None, merge: str, max_pods: int,
               tail_lines: int) -> list[dict[str, Any]]:
    from kubectl_clearml.cli.connect import kube_from
    from kubectl_clearml.cli.shm_fix import check_rows
    from kubectl_clearml.core.shm import current_provision, gpu_count

    kube = kube_from(g)
    inst = find_install(kube, release)
    rows = check_rows(inst.cfg, queues, merge)
    _, rendered = _live_templates(kube, inst)
    denied = False
    for row in rows:
        template = rendered.for_queue(row["queue"])
        if template is not None:  # the live template wins over re-rendered values
            provision = current_provision(template)
            row.update(gpus=gpu_count(template), shm=provision.kind, size=provision.size,
                       volume=provision.volume_name, detail=provision.describe())
            lacking = row["gpus"] >= 2 and provision.kind == "none"
            row["status"] = "missing" if lacking else {"memory": "ok", "other": "custom"}.get(provision.kind, "default")
        try:
            row["findings"] = scan_pods(kube, inst.namespace, row["queue"], max_pods=max_pods, tail_lines=tail_lines)
        except AuthError as exc:
            if not denied:
                warn(f"task pods not scanned: {exc.one_line()}")
            denied = True
            continue
        row["failures"] = len({f["pod"] for f in row["findings"]})
        if row["findings"] and row["status"] != "missing":
            row["status"] = "failing"
    return rows


def scan_pods(kube: Any, namespace: str, queue: str, *, max_pods: int, tail_lines: int) -> list[dict[str, Any]]:
    """Shared-memory failures in the termination messages and logs of the queue's most recent task pods."""
    from kubectl_clearml.core.pod_labels import queue_label_values
    from kubectl_clearml.core.shm import find_shm_failures, termination_messages
    from kubectl_clearml.errors import KubectlClearmlError

    if max_pods == 0:
        return []
    selector = f"clearml-agent-queue-name in ({','.join(queue_label_values(queue))})"
    pods = list(kube.list("pods", namespace, label_selector=selector))
    pods.sort(key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""), reverse=True)
    findings: list[dict[str, Any]] = []
    for pod in pods[:max_pods]:
        name = pod["metadata"]["name"]
        texts = [("termination message", m) for m in termination_messages(pod)]
        if (pod.get("status") or {}).get("phase") not in (None, "Pending"):
            try:
                texts.append(("log", kube.pod_log(name, namespace, tail_lines=tail_lines)))
            except KubectlClearmlError:
                pass  # logs gone (node lost, pod deleted meanwhile): the termination message may still tell
        seen: set[str] = set()
        for source, text in texts:
            for match in find_shm_failures(text):
                if match.pattern not in seen:
                    seen.add(match.pattern)
                    findings.append({"pod": name, "source": source, "pattern": match.pattern,
                                     "meaning": match.meaning, "line": match.line})
    return findings


# ---- --live [--apply] -----------------------------------------------------------------------------


def fix_live(g: Globals, queues: tuple[str, ...], *, size: str | None, use_base: bool, apply: bool, dry_run: str,
             force: bool, release: str | None, merge: str, overlay_target: tuple[str, str | None],
             patch_format: str = "diff") -> None:
    from kubectl_clearml.cli.connect import kube_from
    from kubectl_clearml.cli.shm_fix import emit_overlay, plan_fixes, report, resolve_queue
    from kubectl_clearml.core.shm_values import combine_overlays, extra_volumes_supported

    kube = kube_from(g)
    inst = find_install(kube, release)
    if inst.release is None:
        # Argo CD / helm template: no release values to compute an overlay from; only the live patch.
        for queue in queues:
            resolve_queue(inst.cfg, queue)
        if not apply:
            raise NotFoundError(
                "no Helm release in this namespace, so no values to compute an overlay from",
                f"namespace {inst.namespace}",
                hint="fix the values in your GitOps repository with 'shm-fix QUEUE -f values.yaml', "
                "or patch the live template with --live --apply",
            )
        _apply(kube, inst, queues, size=size, use_base=use_base, dry_run=dry_run, force=force,
               patch_format=patch_format)
        return
    extra = inst.cfg.flavour == "enterprise" and extra_volumes_supported(inst.chart_version)
    fixes = plan_fixes(inst.cfg, queues, size=size, use_base=use_base, force=force, extra_supported=extra,
                       merge=merge)
    overlay = combine_overlays([f.overlay for f in fixes])
    fmt, path = overlay_target
    command = helm_command(inst, path or "overlay.yaml")
    # Printed on stdout, the overlay is in no file yet: say how to get one, not a `-f overlay.yaml` that
    # does not exist.
    durable = f"for a durable fix run: {command}" if path else (
        f"for a durable fix save the overlay (--output-file overlay.yaml, or > overlay.yaml), then run: {command}")
    if not apply:
        report(fixes)
        if overlay:
            emit_overlay(overlay, fmt, path, f"# /dev/shm overlay by kubectl clearml shm-fix. Apply with:\n#   {command}\n")
            click.echo(f"kubectl clearml: {durable}", err=True)
        return
    for text in dict.fromkeys(n for f in fixes for n in f.notes):
        note(text)
    _apply(kube, inst, queues, size=size, use_base=use_base, dry_run=dry_run, force=force,
               patch_format=patch_format)
    if overlay and dry_run == "none":
        emit_overlay(overlay, fmt, path, f"# the same fix for Helm (durable):\n#   {command}\n")
        click.echo(
            "kubectl clearml: warning: the live template now differs from the Helm release: the next helm upgrade "
            f"reverts it unless the overlay is applied; {durable}",
            err=True,
        )


def _apply(kube: Any, inst: LiveInstall, queues: tuple[str, ...], *, size: str | None, use_base: bool,
           dry_run: str, force: bool, patch_format: str = "diff") -> None:
    from kubectl_clearml.adapters.live_patch import patch_template, restart_deployment
    from kubectl_clearml.adapters.values_file import apply_overlay_text, parse_values
    from kubectl_clearml.core.shm import ShmConflict, fix_rendered_template, wanted_description
    from kubectl_clearml.core.templates import parse_rendered_template

    def transform(text: str) -> tuple[str | None, Any]:
        rendered = parse_rendered_template(text, f"configmap/{inst.configmap}")
        if rendered.single is not None:
            targets: dict[str | None, Any] = {None: rendered.single}
        else:
            wanted = list(rendered.per_queue) if use_base else list(dict.fromkeys(queues))
            missing = [q for q in wanted if q not in rendered.per_queue]
            if missing:
                raise NotFoundError(f"queue {missing[0]!r} has no entry in the live template",
                                    f"configmap/{inst.configmap}", hint="known: " + ", ".join(rendered.per_queue))
            targets = {q: rendered.per_queue[q] for q in wanted}
        try:
            fixed, results = fix_rendered_template(targets, size, force=force)
        except ShmConflict as exc:
            raise UsageError(f"{exc}; refusing to replace it", hint="re-run with --force to replace it") from None
        if not any(r.changed for r in results):
            return None, results
        if rendered.single is not None:
            overlay: dict[str, Any] = fixed[None]
            expected: dict[str, Any] = fixed[None]
        else:
            overlay = {str(q): t for q, t in fixed.items()}
            expected = {**rendered.per_queue, **overlay}
        new_text = apply_overlay_text(text, overlay, f"configmap/{inst.configmap}")
        if parse_values(new_text) != expected:  # the formatting-preserving edit must mean exactly the fix
            raise UsageError("internal check failed: the edited template.yaml differs from the computed fix")
        return new_text, results

    outcome = patch_template(kube, inst.configmap, inst.namespace, transform,
                             dry_run=None if dry_run == "none" else dry_run,
                             preflight=lambda: _check_restart(kube, inst, restart_deployment))
    for result in outcome.result or []:
        who = f"queue {result.queue}" if result.queue else "template (every queue)"
        change = f"{result.before.describe()} -> {wanted_description(result.size)}" if result.changed else (
            f"already {result.before.describe()}: no change")
        click.echo(f"kubectl clearml: live {who}: /dev/shm {change}", err=True)
    _finish(kube, inst, outcome, dry_run, restart_deployment, verb="patched", patch_format=patch_format)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_restart(kube: Any, inst: LiveInstall, restart: Any) -> None:
    # The template change only takes effect with the agent restart: ask the API server (dry run) whether we
    # may restart before patching, so a refused restart (403) leaves the ConfigMap as it was.
    restart(kube, inst.deployment, inst.namespace, _now(), dry_run="server")


def _finish(kube: Any, inst: LiveInstall, outcome: Any, dry_run: str, restart: Any, *, verb: str,
            patch_format: str = "diff") -> None:
    from kubectl_clearml.output import to_json

    if not outcome.changed:
        click.echo(f"kubectl clearml: configmap/{inst.configmap}: no change", err=True)
        return
    now = _now()
    if dry_run != "none":
        restart_patch = restart(kube, inst.deployment, inst.namespace, now,
                                dry_run=dry_run if dry_run == "server" else "client")
        if patch_format != "json-patch":
            # A reviewer reads the template's change, not ~20 KB of JSON with the template twice as escaped
            # strings: a unified diff, the exact patches behind -o json-patch.
            click.echo(_template_diff(inst, outcome), nl=False)
            click.echo(f"kubectl clearml: dry run ({dry_run}): nothing changed; would {'roll back' if verb == 'rolled back' else 'patch'} "
                       f"configmap/{inst.configmap} and restart deployment/{inst.deployment} "
                       "(the exact JSON patches: -o json-patch)", err=True)
            return
        click.echo(to_json({
            "configmap": {"name": inst.configmap, "namespace": inst.namespace, "patchType": "json",
                          "patch": _masked_ops(outcome)},
            "deployment": {"name": inst.deployment, "namespace": inst.namespace, "patchType": "strategic",
                           "patch": restart_patch},
        }), nl=False)
        click.echo(f"kubectl clearml: dry run ({dry_run}): nothing changed", err=True)
        return
    conflicts = outcome.attempts - 1
    retried = f" (after {conflicts} 409 conflict{'s' if conflicts > 1 else ''}, re-read and retried)" if conflicts else ""
    click.echo(f"kubectl clearml: {verb} configmap/{inst.configmap} in {inst.namespace}{retried}", err=True)
    if verb == "rolled back" and outcome.steps_left:
        note(f"{outcome.steps_left} earlier shm-fix step(s) kept: --rollback again undoes the next one")
    restart(kube, inst.deployment, inst.namespace, now)
    click.echo(f"kubectl clearml: restarted deployment/{inst.deployment} (the agent reads its template at start)",
               err=True)


def _template_diff(inst: LiveInstall, outcome: Any) -> str:
    """The template text's change as a unified diff, secrets masked as in the JSON patch."""
    import difflib

    from kubectl_clearml.adapters.values_file import text_secrets
    from kubectl_clearml.core.secrets import redact_text
    from kubectl_clearml.logs import redact

    name = f"configmap/{inst.configmap}:template.yaml"
    text = "".join(difflib.unified_diff(str(outcome.before or "").splitlines(keepends=True),
                                        str(outcome.after or "").splitlines(keepends=True),
                                        fromfile=f"a/{name}", tofile=f"b/{name}"))
    return redact(redact_text(text, text_secrets(outcome.before or "", outcome.after or "")))


def _masked_ops(outcome: Any) -> list[dict[str, Any]]:
    """The patch as printed: template texts carry env values such as HF_TOKEN, masked like diff-template's."""
    from kubectl_clearml.adapters.values_file import text_secrets
    from kubectl_clearml.core.secrets import redact_text
    from kubectl_clearml.logs import redact

    secrets = text_secrets(outcome.before, outcome.after)
    return [
        {**op, "value": redact(redact_text(op["value"], secrets))} if isinstance(op.get("value"), str) else op
        for op in outcome.ops
    ]


def rollback_live(g: Globals, *, release: str | None, dry_run: str, force: bool, patch_format: str = "diff") -> None:
    from kubectl_clearml.adapters.live_patch import patch_template, restart_deployment
    from kubectl_clearml.cli.connect import kube_from

    kube = kube_from(g)
    inst = find_install(kube, release)
    outcome = patch_template(kube, inst.configmap, inst.namespace, lambda text: (None, None), rollback=True,
                             force=force, dry_run=None if dry_run == "none" else dry_run,
                             preflight=lambda: _check_restart(kube, inst, restart_deployment))
    _finish(kube, inst, outcome, dry_run, restart_deployment, verb="rolled back", patch_format=patch_format)
