"""`kubectl clearml shm-fix`: a Memory-backed /dev/shm for a queue, in values files or the live install."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from kubectl_clearml.cli.agent_source import values_option
from kubectl_clearml.cli.completion_values import complete_served_queue
from kubectl_clearml.cli.options import Globals, dry_run_option, get_globals, global_options
from kubectl_clearml.cli.param_types import release_type
from kubectl_clearml.errors import ExitStatus, NotFoundError, UsageError
from kubectl_clearml.output import note, say

if TYPE_CHECKING:
    from kubectl_clearml.core.agent_config import AgentConfig
    from kubectl_clearml.core.shm_values import ValuesFix

CONTEXT = {"help_option_names": ["-h", "--help"]}
DATA_FORMATS = ("yaml", "json")  # what -o means for an overlay; any other -o value is a file to write


@click.command("shm-fix", context_settings=CONTEXT)
@click.argument("queues", nargs=-1, metavar="[QUEUE]...", shell_complete=complete_served_queue)
@click.option("--check", is_flag=True, help="Report /dev/shm per queue (and shm failures of recent task pods); exit 1 when a multi-GPU queue lacks it.")
@click.option("--size", metavar="SIZE", help="sizeLimit, e.g. 16Gi, 512Mi, 1G (default: half the queue's memory limit, at most 32Gi; 1Gi without a limit).")
@values_option("values_files")
@click.option("--output-file", "--overlay-file", "overlay_file", metavar="FILE", help="Write the overlay to FILE (-o picks its format: yaml or json).")
@click.option("--in-place", is_flag=True, help="Edit the (last) -f file itself, keeping comments and layout, and a .bak copy.")
@click.option("--base", "use_base", is_flag=True, help="Fix basePodTemplate (every queue) instead of one queue's overrides.")
@click.option("--live", is_flag=True, help="Compute against the installed release's effective values (namespace -n).")
@click.option("--apply", "apply_live", is_flag=True, help="With --live: patch the template ConfigMap and restart the agent.")
@click.option("--rollback", is_flag=True, help="Restore the template ConfigMap as it was before --live --apply, and restart the agent.")
@dry_run_option("Show the change (a diff), change nothing. 'server' asks the API server to validate it.")
@click.option("--force", is_flag=True, help="Replace whatever is mounted at /dev/shm now; roll back over later template changes.")
@click.option("--release", metavar="NAME", type=release_type(), help="Helm release of the agent (default: found in the namespace).")
@click.option("--chart-version", metavar="VERSION", help="Enterprise chart version for -f files (extraVolumes need 6.11.0+; default: assume current).")
@click.option("--flavour", type=click.Choice(["oss", "enterprise"]), help="Chart flavour of the -f files (default: detected).")
@click.option("--merge", "merge_mode", type=click.Choice(["strategic", "replace"]), default="strategic", show_default=True, help="How templateOverrides combine with basePodTemplate.")
@click.option("--max-pods", default=20, show_default=True, type=click.IntRange(min=0), help="--check: recent task pods scanned per queue.")
@click.option("--tail", "tail_lines", default=2000, show_default=True, type=click.IntRange(min=1), help="--check: log lines read per pod.")
@global_options
def command(queues: tuple[str, ...], check: bool, size: str | None, values_files: tuple[str, ...], overlay_file: str | None,
            in_place: bool, use_base: bool, live: bool, apply_live: bool, rollback: bool, dry_run: str, force: bool,
            release: str | None, chart_version: str | None, flavour: str | None, merge_mode: str, max_pods: int,
            tail_lines: int) -> None:
    """Give a queue a Memory-backed /dev/shm (emptyDir medium Memory, sizeLimit) mounted at /dev/shm.

    Containers get a 64Mi /dev/shm, too small for NCCL and DataLoader workers; a task's --shm-size or
    --ipc=host is dropped by the glue, so the fix lives in the pod template. Idempotent: a queue that
    already has it is reported and left alone (exit 0).

    \b
    Examples:
      kubectl clearml shm-fix --check -f values.yaml
      kubectl clearml shm-fix --check -n clearml             # also scans recent task pods' logs
      kubectl clearml shm-fix 2xGPU --size 16Gi -f values.yaml --output-file overlay.yaml
      helm upgrade <release> <chart> -f values.yaml -f overlay.yaml
      kubectl clearml shm-fix 2xGPU --size 16Gi -f values.yaml --in-place
      kubectl clearml shm-fix --base -f values.yaml
      kubectl clearml shm-fix 2xGPU --live -n clearml        # overlay + the helm upgrade command
      kubectl clearml shm-fix 2xGPU --live --apply -n clearml [--dry-run]
      kubectl clearml shm-fix --rollback -n clearml
    """
    from kubectl_clearml.core.shm import InvalidSize, size_bytes

    g = get_globals()
    if size is not None:
        try:
            size_bytes(size)
        except InvalidSize as exc:
            raise UsageError(str(exc), hint="e.g. --size 16Gi") from None
    patch_format = "diff"  # how a live dry run shows its change
    if (apply_live or rollback) and g.output in ("diff", "json-patch"):
        patch_format, g.output = g.output, None  # the format of the live change; the overlay stays YAML
    _check_combinations(queues, check, values_files, in_place, use_base, live, apply_live, rollback, overlay_file, g)
    if rollback:
        from kubectl_clearml.cli.shm_live import rollback_live

        rollback_live(g, release=release, dry_run=dry_run, force=force, patch_format=patch_format)
        return
    if check:
        code = _check(g, queues, values_files, release, chart_version, flavour, merge_mode, max_pods, tail_lines, live)
        if code:
            click.get_current_context().exit(code)
        return
    if live:
        from kubectl_clearml.cli.shm_live import fix_live

        fix_live(g, queues, size=size, use_base=use_base, apply=apply_live, dry_run=dry_run, force=force,
                 patch_format=patch_format,
                 release=release, merge=merge_mode, overlay_target=_overlay_target(g, overlay_file))
        return
    _fix_values(g, queues, size, values_files, overlay_file, in_place, use_base, dry_run, force, chart_version,
                flavour, merge_mode)


def _check_combinations(queues: tuple[str, ...], check: bool, values_files: tuple[str, ...], in_place: bool,
                        use_base: bool, live: bool, apply_live: bool, rollback: bool, overlay_file: str | None,
                        g: Globals) -> None:
    def bad(message: str) -> UsageError:
        return UsageError(message, hint="see 'kubectl clearml shm-fix --help'")

    if apply_live and not live:
        raise bad("--apply needs --live")
    if live and values_files:
        raise bad("--live reads the installed release: drop -f (or drop --live to fix the files)")
    if in_place and not values_files:
        raise bad("--in-place needs -f FILE")
    if in_place and values_files[-1] == "-":
        raise bad("--in-place cannot edit standard input: give the values file's path")
    if in_place and (overlay_file or (g.output and g.output not in DATA_FORMATS)):
        raise bad("--in-place edits the file: do not also ask for an overlay file")
    if rollback and (queues or check or values_files or live):
        raise bad("--rollback takes no queue and no other mode: it restores the template kept by --live --apply")
    if check and (in_place or use_base or apply_live):
        raise bad("--check only reports: drop --in-place/--base/--apply")
    if not check and not rollback:
        if use_base and queues:
            raise bad("give either QUEUE... or --base, not both")
        if not use_base and not queues:
            raise bad("which queue? give QUEUE (or --base for every queue, --check to report)")
        if not live and not values_files:
            raise bad("give the agent's values with -f values.yaml, or use --live for the installed release")


def _overlay_target(g: Globals, overlay_file: str | None) -> tuple[str, str | None]:
    """(format, file): -o is a format (yaml, json) as in every command; --output-file the file to write.
    `-o overlay.yaml` used to mean a file here and a format everywhere else."""
    if g.output not in (None, *DATA_FORMATS):
        hint = "use -o yaml or -o json" + ("" if g.output in ("table", "wide", "name") else f"; to write a file: --output-file {g.output}")
        raise UsageError(f"-o {g.output} does not apply to an overlay", hint=hint)
    if overlay_file:
        return "yaml", overlay_file
    return g.output or "yaml", None


# ---- values files ---------------------------------------------------------------------------------


def load_config(values_files: tuple[str, ...], chart_version: str | None, flavour: str | None,
                release: str | None, g: Globals, layers: list[dict[str, Any]] | None = None) -> AgentConfig:
    from kubectl_clearml.adapters.values_file import load_values
    from kubectl_clearml.core.agent_config import config_from_user_values

    layers = [load_values(path) for path in values_files] if layers is None else layers
    cfg = config_from_user_values(layers, flavour=flavour, release=release, namespace=g.namespace or "default")  # type: ignore[arg-type]
    cfg.chart_version = chart_version
    return cfg


def resolve_queue(cfg: AgentConfig, queue: str) -> None:
    if not cfg.has_queue(queue):
        known = ", ".join(cfg.all_queues()) or "none"
        raise NotFoundError(f"queue {queue!r} is not in the agent's configuration", hint=f"known queues: {known}")


def plan_fixes(cfg: AgentConfig, queues: tuple[str, ...], *, size: str | None, use_base: bool, force: bool,
               extra_supported: bool, merge: str) -> list[ValuesFix]:
    from kubectl_clearml.core.shm import ShmConflict
    from kubectl_clearml.core.shm_values import ShmFixFailed, plan_for_queue

    targets: list[str | None] = [None] if use_base else list(dict.fromkeys(queues))
    for queue in targets:
        if queue is not None:
            resolve_queue(cfg, queue)
    fixes = []
    for queue in targets:
        try:
            fixes.append(plan_for_queue(cfg, queue, size=size, force=force, extra_supported=extra_supported,
                                        merge=merge))  # type: ignore[arg-type]
        except ShmConflict as exc:
            raise UsageError(
                f"{exc}; refusing to replace it", hint="re-run with --force to replace the current /dev/shm mount"
            ) from None
        except ShmFixFailed as exc:
            raise UsageError(str(exc), hint="try --base, or --merge replace if your chart replaces lists") from None
    return fixes


def describe_fix(fix: ValuesFix) -> str:
    from kubectl_clearml.core.shm import wanted_description

    who = f"queue {fix.queue}" if fix.queue else "basePodTemplate (every queue)"
    if not fix.changed:
        return f"{who}: /dev/shm is already {fix.before.describe()}: no change"
    return (f"{who}: /dev/shm {fix.before.describe()} -> {wanted_description(fix.size)}, "
            f"in {fix.target.describe()}")


def report(fixes: list[ValuesFix]) -> None:
    for fix in fixes:
        click.echo(f"kubectl clearml: {describe_fix(fix)}", err=True)
        for text in fix.notes:
            note(text)


def emit_overlay(overlay: dict[str, Any], fmt: str, path: str | None, header: str) -> None:
    from kubectl_clearml.adapters.values_file import dump_plain, write_text
    from kubectl_clearml.output import to_json

    if path:
        try:
            write_text(path, header + dump_plain(overlay))
        except OSError as exc:
            raise UsageError(f"cannot write the overlay: {exc.strerror}", path) from None
        click.echo(f"kubectl clearml: wrote {path}", err=True)
    elif fmt == "json":
        click.echo(to_json(overlay), nl=False)
    else:
        click.echo(header + dump_plain(overlay), nl=False)


def _fix_values(g: Globals, queues: tuple[str, ...], size: str | None, values_files: tuple[str, ...],
                overlay_file: str | None, in_place: bool, use_base: bool, dry_run: str, force: bool,
                chart_version: str | None, flavour: str | None, merge: str) -> None:
    from kubectl_clearml.adapters.values_file import load_values
    from kubectl_clearml.core.shm_values import combine_overlays, extra_volumes_supported

    if in_place:
        from kubectl_clearml.adapters.safe_files import editable_target

        editable_target(values_files[-1], write=dry_run == "none")  # first: a pipe read twice would block
    layers = [load_values(path) for path in values_files]
    cfg = load_config(values_files, chart_version, flavour, None, g, layers)
    fixes = plan_fixes(cfg, queues, size=size, use_base=use_base, force=force,
                       extra_supported=extra_volumes_supported(chart_version), merge=merge)
    report(fixes)
    overlay = combine_overlays([f.overlay for f in fixes])
    if not overlay:
        return
    if in_place:
        from kubectl_clearml.adapters.values_file import edit_in_place

        edit = edit_in_place(values_files[-1], overlay, write=dry_run == "none", planned_on=layers[-1])
        if dry_run != "none":
            click.echo(edit.diff(), nl=False)
        elif edit.changed:
            click.echo(f"kubectl clearml: edited {edit.path} (original kept as {edit.backup})", err=True)
        return
    fmt, path = _overlay_target(g, overlay_file)
    if path and dry_run != "none":
        click.echo(f"kubectl clearml: dry run: not writing {path}; the overlay follows", err=True)
        path = None
    files = " ".join(f"-f {p}" for p in values_files)
    header = ("# /dev/shm overlay written by kubectl clearml shm-fix. Apply it after your values:\n"
              f"#   helm upgrade <release> <chart> {files} -f {path or '<this file>'}\n")
    emit_overlay(overlay, fmt, path, header)


# ---- --check --------------------------------------------------------------------------------------


def check_view(rows: list[dict[str, Any]]) -> Any:
    from kubectl_clearml.output import Column, View

    columns = [
        Column("QUEUE", "queue"),
        Column("GPUS", "gpus"),
        Column("SHM", "shm"),
        Column("SIZE", "size"),
        Column("STATUS", "status"),
        Column("FAILURES", "failures"),
        Column("VOLUME", "volume", wide_only=True),
        Column("DETAIL", "detail", wide_only=True),
    ]
    view = View(kind="queue", items=rows, columns=columns, empty_message="No queues found.")
    view.document = {"kind": "ShmCheck", "items": rows}
    return view


def check_rows(cfg: AgentConfig, queues: tuple[str, ...], merge: str) -> list[dict[str, Any]]:
    from kubectl_clearml.core.shm_values import check_queues

    for queue in queues:
        resolve_queue(cfg, queue)
    names = list(queues) or cfg.all_queues()
    return [
        {
            "queue": r.queue,
            "gpus": r.gpus,
            "shm": r.provision.kind,
            "size": r.provision.size,
            "status": r.status,
            "failures": None,
            "volume": r.provision.volume_name,
            "detail": r.provision.describe(),
            "findings": [],
        }
        for r in check_queues(cfg, names, merge)  # type: ignore[arg-type]
    ]


def _check(g: Globals, queues: tuple[str, ...], values_files: tuple[str, ...], release: str | None,
           chart_version: str | None, flavour: str | None, merge: str, max_pods: int, tail_lines: int,
           live: bool) -> int:
    from kubectl_clearml.output import render

    fmt = g.output_format(("table", "wide", "json", "yaml"))
    if values_files:
        cfg = load_config(values_files, chart_version, flavour, release, g)
        rows = check_rows(cfg, queues, merge)
    else:
        from kubectl_clearml.cli.shm_live import check_live

        rows = check_live(g, queues, release=release, merge=merge, max_pods=max_pods, tail_lines=tail_lines)
    click.echo(render(check_view(rows), fmt, no_headers=g.no_headers), nl=False)
    # The suggested command must work when pasted: the same values files, or the same release and namespace.
    source = " ".join(f"-f {p}" for p in values_files) or " ".join(
        ["--live", *(["--release", release] if release else []), *(["-n", g.namespace] if g.namespace else [])]
    )
    for row in rows:
        for finding in row["findings"]:
            # a task pod's log line: anything a task printed, secrets and terminal escapes included
            say(f"pod {finding['pod']} (queue {row['queue']}, {finding['source']}): {finding['line']}")
        if row["status"] == "missing":
            click.echo(
                f"kubectl clearml: queue {row['queue']} runs {row['gpus']}-GPU pods with the runtime's 64Mi /dev/shm: "
                f"fix it with 'kubectl clearml shm-fix {row['queue']} {source}'",
                err=True,
            )
    failing = any(r["status"] in ("missing", "failing") for r in rows)
    return int(ExitStatus.DIFFERENCES) if failing else 0
