"""`kubectl clearml doctor`: named checks of an agent install, each ok / warn / fail / skipped, with a hint.

fetch (cli/doctor_collect.py, concurrent) -> pure checks (core/doctor.py) -> render (here). Exit 0 when no
check fails, 1 when one does; doctor's own errors keep their codes (2 usage, 3 not found, 4 auth, 5 server).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from kubectl_clearml.cli.agent_source import release_option, values_option
from kubectl_clearml.cli.options import get_globals, global_options
from kubectl_clearml.errors import ExitStatus

FORMATS = ("table", "json", "yaml")
SCHEMA = "kubectl-clearml.doctor/v1"
SYMBOLS = {"ok": "ok", "warn": "warn", "fail": "FAIL", "skipped": "skip"}
COLOURS = {"ok": "green", "warn": "yellow", "fail": "red", "skipped": "cyan"}


@click.command("doctor")
@values_option()
@release_option()
@click.option("--queue", "queues", multiple=True, metavar="QUEUE",
              help="Check only these queues' templates, capacity and /dev/shm (repeatable; default: every served "
              "queue).")
@click.option("--group", "groups", multiple=True, metavar="GROUP",
              type=click.Choice(["install", "credentials", "rbac", "queues", "templates", "capacity", "shm"]),
              help="Show only these check groups (repeatable).")
@global_options
def command(values: tuple[str, ...], release: str | None, queues: tuple[str, ...], groups: tuple[str, ...]) -> None:
    """Check an agent install end to end: install, credentials, RBAC, queues, templates, capacity, /dev/shm.

    Every check says ok, warn, fail or skipped (why: e.g. forbidden) with a one-line detail and, when it is
    not ok, a hint. Exit status 0 when no check fails, 1 when one does.

    \b
    Examples:
      kubectl clearml doctor -n clearml
      kubectl clearml doctor --queue 2xGPU --group capacity --group shm
      kubectl clearml doctor -o json | jq '.checks[] | select(.status=="fail")'
    """
    from kubectl_clearml.cli.connect import kube_from
    from kubectl_clearml.cli.doctor_collect import collect
    from kubectl_clearml.core.doctor import failed, run_checks, summary

    g = get_globals()
    fmt = g.output_format(FORMATS)
    started = time.monotonic()
    kube = kube_from(g)
    progress = _progress(g.no_color)
    progress("connecting")
    kube.version()  # no API server, or our credentials refused: doctor's own error (exit 5 / 4), not a check
    snapshot = collect(g, kube, values=values, release=release, queues=queues, progress=progress)
    progress("")
    checks = run_checks(snapshot, groups)
    counts = summary(checks)
    if fmt == "table":
        click.echo(render_table(checks, counts, colour=_colour(g.no_color), seconds=time.monotonic() - started))
    else:
        from kubectl_clearml.output import to_json, to_yaml

        document = {"kind": "DoctorReport", "apiVersion": SCHEMA, "namespace": snapshot.namespace,
                    "summary": counts, "checks": [c.to_dict() for c in checks]}
        click.echo(to_json(document) if fmt == "json" else to_yaml(document), nl=fmt == "json")
    if failed(checks):
        raise click.exceptions.Exit(ExitStatus.DIFFERENCES)


def render_table(checks: list[Any], counts: dict[str, int], *, colour: bool, seconds: float) -> str:
    from kubectl_clearml.core.terminal import escape_terminal
    from kubectl_clearml.logs import redact
    from kubectl_clearml.output import paint

    def safe(text: str) -> str:  # details quote server messages and names others chose
        return escape_terminal(redact(text))

    lines: list[str] = []
    group = None
    width = max((len(c.id) for c in checks), default=10)
    for check in checks:
        if check.group != group:
            group = check.group
            lines.append(paint(group, "bold", colour))
        mark = paint(f"{SYMBOLS[check.status]:<4}", COLOURS[check.status], colour)
        lines.append(f"  {mark}  {check.id:<{width}}  {safe(check.detail)}")
        if check.hint:
            lines.append(f"        {'':<{width}}  hint: {safe(check.hint)}")
    total = ", ".join(f"{counts[s]} {s}" for s in ("ok", "warn", "fail", "skipped"))
    lines.append(f"{len(checks)} checks: {total} ({seconds:.1f}s)")
    return "\n".join(lines)


def _colour(no_color: bool) -> bool:
    from kubectl_clearml.output import use_color

    return use_color(sys.stdout, no_color)


def _progress(no_color: bool) -> Any:
    """A one-line "doing X..." on stderr when it is a terminal; nothing otherwise."""
    tty = sys.stderr.isatty()

    def show(text: str) -> None:
        if tty:
            sys.stderr.write("\r\x1b[2K" + (f"doctor: {text}..." if text else ""))
            sys.stderr.flush()

    return show
