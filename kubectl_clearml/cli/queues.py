"""``kubectl clearml queues``: ClearML queues side by side with the agent's Kubernetes view."""

from __future__ import annotations

import difflib
import re
import time
from typing import Any

import click

from kubectl_clearml.cli.completion_values import complete_queue
from kubectl_clearml.cli.options import Globals, get_globals, global_options
from kubectl_clearml.core.podbuilder import QUEUE_ID_LABEL, safe_label_value
from kubectl_clearml.core.queues import (
    AgentTemplates,
    build_rows,
    human_age,
    parse_time,
    pod_message,
    pod_pending_cell,
    pod_reason,
    stranded_tasks,
)
from kubectl_clearml.errors import (
    InvalidRequestError,
    KubectlClearmlError,
    NotConfiguredError,
    NotFoundError,
    UnreachableError,
    UsageError,
)
from kubectl_clearml.output import Column, View, echo, render
from kubectl_clearml.output import show as show_view

CONTEXT = {"help_option_names": ["-h", "--help"]}

COLUMNS = [
    Column("NAME", "name"),
    Column("PENDING", "pending"),
    Column("OLDEST", "oldest"),
    Column("RUNNING", "running"),
    Column("POD-PENDING", pod_pending_cell),
    Column("SERVED", "served"),
    Column("TEMPLATE", "template"),
    Column("WORKERS", "workers"),
    Column("ID", "id", wide_only=True),
    Column("TAGS", lambda r: r["tags"] + r["systemTags"], wide_only=True),
    Column("GPUS/POD", "gpusPerPod", wide_only=True),
    Column("NODE-SELECTOR", "nodeSelector", wide_only=True),
]

values_option = click.option(
    "-f",
    "--values",
    "values",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Helm values file(s) of the agent (repeatable, merged as helm does) instead of the live install.",
)
release_option = click.option("--release", metavar="NAME", help="Helm release of the agent (default: found in -n).")
no_kube_option = click.option("--no-kube", is_flag=True, help="Do not contact Kubernetes (ClearML columns only).")


def _source(ctx: click.Context, values: tuple[str, ...], release: str | None, no_kube: bool) -> tuple[Any, ...]:
    """Options given to the subcommand, else those given to `queues` before it."""
    parent = ctx.parent.meta if ctx.parent else {}
    return (
        values or parent.get("queues.values", ()),
        release or parent.get("queues.release"),
        no_kube or parent.get("queues.no_kube", False),
    )


class QueuesGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group("queues", cls=QueuesGroup, invoke_without_command=True, context_settings=CONTEXT)
@click.option(
    "--all", "show_all", is_flag=True, help="Also list hidden queues (system tag k8s-glue, e.g. k8s_scheduler)."
)
@click.option("--watch", "-w", is_flag=True, help="Refresh in place every --interval seconds (on a terminal).")
@click.option(
    "--interval", default=2.0, show_default=True, type=click.FloatRange(min=0.2), help="Seconds between refreshes."
)
@no_kube_option
@values_option
@release_option
@global_options
@click.pass_context
def command(
    ctx: click.Context,
    show_all: bool,
    watch: bool,
    interval: float,
    no_kube: bool,
    values: tuple[str, ...],
    release: str | None,
) -> None:
    """ClearML queues with pending tasks, task pods, agent coverage and templates.

    Works with only ClearML reachable (Kubernetes columns '-'), or with only the agent configuration
    (-f values.yaml, no ClearML). One ClearML call for all queues and one label-selected pod list.

    \b
    Examples:
      kubectl clearml queues -n clearml
      kubectl clearml queues -o wide --all
      kubectl clearml queues -f values.yaml          # offline: what the agent serves
      kubectl clearml queues show 2xGPU
      kubectl clearml queues sync --dry-run=client
    """
    if ctx.invoked_subcommand is not None:
        ctx.meta.update({"queues.values": values, "queues.release": release, "queues.no_kube": no_kube})
        return
    g = get_globals()
    fmt = g.output_format()
    if watch:
        _watch(g, fmt, show_all, interval, no_kube, values, release)
        return
    view, notes = _list_view(g, show_all, no_kube, values, release)
    for note in notes:
        click.echo(f"kubectl clearml: warning: {note}", err=True)
    show_view(view, fmt, no_headers=g.no_headers)


def _list_view(
    g: Globals, show_all: bool, no_kube: bool, values: tuple[str, ...], release: str | None
) -> tuple[View, list[str]]:
    data = collect(g, no_kube=no_kube, values=values, release=release)
    rows = build_rows(time.time(), data.queues, data.pods, data.agent, data.workers, include_hidden=show_all)
    stranded = stranded_tasks(data.queues, data.pods) if data.queues is not None else []
    notes = list(data.notes)
    if stranded:
        where = sorted({str(s["queue"]) for s in stranded})
        notes.append(
            f"{len(stranded)} task(s) stranded in hidden queue(s) {', '.join(where)} with no pod: "
            "nothing pulls from there; `kubectl clearml run-glue` adopts them"
        )
    view = View(kind="queue", items=rows, columns=COLUMNS, empty_message="No queues found.")
    view.document = {"kind": "QueueList", "items": rows, "stranded": stranded, "notes": notes}
    return view, notes


def _watch(
    g: Globals, fmt: str, show_all: bool, interval: float, no_kube: bool, values: tuple[str, ...], release: str | None
) -> None:
    import sys

    tty = sys.stdout.isatty()
    while True:
        view, notes = _list_view(g, show_all, no_kube, values, release)
        text = render(view, fmt, no_headers=g.no_headers)
        if tty:
            sys.stdout.write("\x1b[H\x1b[2J")  # home + clear: refresh in place like `watch`
        sys.stdout.write(text + ("\n" if not tty else ""))
        for note in notes:
            click.echo(f"kubectl clearml: warning: {note}", err=True)
        sys.stdout.flush()
        time.sleep(interval)


# ---- data collection (adapters) ------------------------------------------------------------------
class Collected:
    def __init__(self) -> None:
        self.queues: list[dict[str, Any]] | None = None
        self.pods: list[dict[str, Any]] | None = None
        self.workers: list[dict[str, Any]] | None = None
        self.agent: AgentTemplates | None = None
        self.notes: list[str] = []
        self.namespace: str | None = None
        self.kube: Any = None
        self.clearml: Any = None


def collect(
    g: Globals,
    *,
    no_kube: bool = False,
    values: tuple[str, ...] = (),
    release: str | None = None,
    need_clearml: bool = False,
) -> Collected:
    """Fetch what is reachable; what is not becomes a note. Fail only if nothing at all could be read."""
    from kubectl_clearml.cli.agent_source import agent_templates
    from kubectl_clearml.cli.connect import clearml_from, kube_from

    data = Collected()
    errors: list[KubectlClearmlError] = []
    if not no_kube:
        try:
            data.kube = kube_from(g)
            data.namespace = data.kube.namespace
        except KubectlClearmlError as exc:
            if not values:
                errors.append(exc)
                data.notes.append(f"Kubernetes columns unavailable: {exc.one_line()}")
    if values or data.kube is not None:
        try:
            data.agent = agent_templates(g, data.kube, values, release)
        except NotFoundError as exc:
            if release:
                raise  # the release the user named is not there: an error, as in every other command
            data.notes.append(f"no agent configuration: {exc.one_line()}")
        except KubectlClearmlError as exc:
            if values:
                raise  # a broken values file the user named is an error, not a note
            data.notes.append(f"agent configuration unavailable: {exc.one_line()}")
    try:
        data.clearml = clearml_from(g, data.kube if g.from_agent else None)
        data.queues = data.clearml.call(
            "queues.get_all", {"search_hidden": True, "only_fields": ["id", "name", "tags", "system_tags", "entries"]}
        ).get("queues", [])
        try:
            data.workers = data.clearml.call("workers.get_all", {"last_seen": 600}).get("workers", [])
        except KubectlClearmlError as exc:
            data.notes.append(f"workers unavailable: {exc.one_line()}")
    except KubectlClearmlError as exc:
        # Unreachable, refused or not configured at all: show the rest. A setting the user gave that is
        # wrong (an ftp:// host, a malformed or missing --clearml-config) is bad input: fail on it.
        if need_clearml or (isinstance(exc, UsageError) and not isinstance(exc, NotConfiguredError)):
            raise
        errors.append(exc)
        data.notes.append(f"ClearML unavailable, its columns show '-': {exc.one_line()}")
    if data.kube is not None:
        try:
            data.pods = list(
                data.kube.list("pods", data.namespace, all_namespaces=g.all_namespaces, label_selector=QUEUE_ID_LABEL)
            )
        except KubectlClearmlError as exc:
            errors.append(exc)
            data.notes.append(f"task pods unavailable: {exc.one_line()}")
    if data.queues is None and data.agent is None:
        raise errors[0] if errors else UnreachableError("nothing to show: neither ClearML nor an agent configuration")
    return data


def find_queue(queues: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """Exact name, then case-insensitive name, then id — like the agent resolves queue names."""
    for match in (
        lambda q: q.get("name") == name,
        lambda q: str(q.get("name", "")).lower() == name.lower(),
        lambda q: q.get("id") == name,
    ):
        found = [q for q in queues if match(q)]
        if found:
            return found[0]
    names = [str(q.get("name")) for q in queues]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    raise NotFoundError(
        f"queue {name!r} not found",
        "ClearML",
        ("did you mean: " + ", ".join(close)) if close else "kubectl clearml queues --all lists them",
    )


# ---- subcommands ---------------------------------------------------------------------------------
@command.command("show", context_settings=CONTEXT)
@click.argument("name", shell_complete=complete_queue)
@no_kube_option
@values_option
@release_option
@global_options
@click.pass_context
def show(ctx: click.Context, name: str, no_kube: bool, values: tuple[str, ...], release: str | None) -> None:
    """Pending tasks in order, the effective template summary, and the queue's task pods.

    \b
    Examples:
      kubectl clearml queues show 2xGPU
      kubectl clearml queues show 2xGPU -o yaml
    """
    g = get_globals()
    fmt = g.output_format(("table", "wide", "json", "yaml"))
    values, release, no_kube = _source(ctx, values, release, no_kube)
    data = collect(g, no_kube=no_kube, values=values, release=release, need_clearml=True)
    queue = find_queue(data.queues or [], name)
    now = time.time()
    entries = queue.get("entries") or []
    tasks_by_id: dict[str, dict[str, Any]] = {}
    if entries:
        tasks = data.clearml.call(
            "tasks.get_all",
            {
                "id": [e["task"] for e in entries],
                "only_fields": ["id", "name", "project", "user", "container", "status"],
                "search_hidden": True,
            },
        ).get("tasks", [])
        tasks_by_id = {t["id"]: t for t in tasks}
    pending = []
    for position, entry in enumerate(entries, 1):
        task = tasks_by_id.get(entry["task"], {})
        added = parse_time(entry.get("added"))
        pending.append(
            {
                "position": position,
                "id": entry["task"],
                "name": task.get("name"),
                "project": _ref_name(task.get("project")),
                "user": _ref_name(task.get("user")),
                "enqueued": human_age(now - added) if added else None,
                "image": (task.get("container") or {}).get("image"),
            }
        )
    pods = [
        p
        for p in data.pods or []
        if (p["metadata"].get("labels") or {}).get(QUEUE_ID_LABEL) == queue.get("id")
        or (p["metadata"].get("labels") or {}).get("clearml-agent-queue-name") == safe_label_value(queue["name"])
    ]
    pod_rows = [
        {
            "name": p["metadata"]["name"],
            "phase": (p.get("status") or {}).get("phase"),
            "reason": pod_reason(p) if (p.get("status") or {}).get("phase") == "Pending" else None,
            "message": pod_message(p) or None,
            "node": (p.get("spec") or {}).get("nodeName"),
        }
        for p in pods
    ]
    rows = build_rows(now, [queue], data.pods, data.agent, data.workers, include_hidden=True)
    summary = rows[0]
    template = data.agent.effective.get(queue["name"]) if data.agent else None
    document = {"queue": summary, "pendingTasks": pending, "pods": pod_rows, "template": template}
    for note in data.notes:
        click.echo(f"kubectl clearml: warning: {note}", err=True)
    if fmt in ("json", "yaml"):
        echo(render(View("queue", [], [], document=document), fmt))
        return
    echo(f"Queue:     {queue['name']} ({queue.get('id')})\n")
    echo(
        f"Served:    {_yes_no(summary['served'])}   Template: {summary['template'] or '-'}   "
        f"Workers: {summary['workers'] if summary['workers'] is not None else '-'}\n"
    )
    echo(f"\nPending tasks ({len(pending)}):\n")
    task_columns = [
        Column("#", "position"),
        Column("TASK", "id"),
        Column("NAME", "name"),
        Column("PROJECT", "project"),
        Column("USER", "user"),
        Column("ENQUEUED", "enqueued"),
        Column("IMAGE", "image"),
    ]
    echo(render(View("task", pending, task_columns), "table") if pending else "  (none)\n")
    echo(f"\nTask pods ({len(pod_rows)}):\n")
    pod_columns = [
        Column("POD", "name"),
        Column("PHASE", "phase"),
        Column("REASON", "reason"),
        Column("NODE", "node"),
        Column("MESSAGE", "message", wide_only=True),
    ]
    echo(render(View("pod", pod_rows, pod_columns), fmt) if pod_rows else "  (none)\n")


def _ref_name(value: Any) -> Any:
    return value.get("name") or value.get("id") if isinstance(value, dict) else value


def _yes_no(value: Any) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _change_format(g: Globals) -> str:
    """create/delete/sync print one line per queue: ``-o name`` gives just ``queue/NAME`` (as kubectl does).
    Checked before anything changes, so ``-o json`` fails up front instead of being ignored."""
    return g.output_format(("table", "name"))


def _changed(fmt: str, name: str, what: str) -> None:
    echo(f"queue/{name}\n" if fmt == "name" else f"queue/{name} {what}\n")


dry_run_option = click.option(
    "--dry-run",
    type=click.Choice(["none", "client", "server"]),
    default="none",
    show_default=True,
    help="client/server: print what would change and change nothing.",
)


@command.command("create", context_settings=CONTEXT)
@click.argument("name", shell_complete=complete_queue)
@click.option("--tag", "tags", multiple=True, help="Tag for the new queue (repeatable).")
@dry_run_option
@global_options
def create(name: str, tags: tuple[str, ...], dry_run: str) -> None:
    """Create a ClearML queue.

    \b
    Examples:
      kubectl clearml queues create 4xGPU --tag gpu
    """
    from kubectl_clearml.cli.connect import clearml_from

    g = get_globals()
    fmt = _change_format(g)
    if len(name.strip()) < 3:
        raise UsageError(f"queue name {name!r} is too short", hint="ClearML needs at least 3 characters")
    client = clearml_from(g)
    # Look first, so a dry run predicts the refusal too, and the error names the queue instead of quoting
    # the server's "Value combination already exists" with its company id.
    existing = client.call("queues.get_all", {"name": f"^{re.escape(name)}$", "only_fields": ["id", "name"],
                                               "search_hidden": True}).get("queues", [])
    taken = next((q for q in existing if q.get("name") == name), None)
    if taken is not None:
        raise UsageError(
            f"queue {name!r} already exists", f"ClearML, id {taken.get('id')}", "pick another name, or use that queue"
        )
    if dry_run != "none":
        _changed(fmt, name, "would be created (dry run)")
        return
    payload: dict[str, Any] = {"name": name}
    if tags:
        payload["tags"] = list(tags)
    created = client.call("queues.create", payload)
    _changed(fmt, name, f"created ({created.get('id')})")


@command.command("delete", context_settings=CONTEXT)
@click.argument("name", shell_complete=complete_queue)
@click.option("--force", is_flag=True, help="Delete even if tasks are queued (they go back to their previous status).")
@dry_run_option
@global_options
def delete(name: str, force: bool, dry_run: str) -> None:
    """Delete a ClearML queue; a non-empty queue is refused without --force.

    \b
    Examples:
      kubectl clearml queues delete old-queue
      kubectl clearml queues delete busy-queue --force
    """
    from kubectl_clearml.cli.connect import clearml_from

    g = get_globals()
    fmt = _change_format(g)
    client = clearml_from(g)
    queues = client.call("queues.get_all", {"search_hidden": True, "only_fields": ["id", "name", "entries"]})["queues"]
    queue = find_queue(queues, name)
    if dry_run != "none":
        pending = len(queue.get("entries") or [])
        if pending and not force:
            # Fail as the real delete would (exit 2), so `delete --dry-run=server && delete` is a safe script.
            raise InvalidRequestError(
                f"queue {queue['name']!r} is not empty: {pending} queued task(s), the delete would be refused",
                "dry run",
                "dequeue its tasks first, or pass --force",
            )
        _changed(fmt, queue["name"], "would be deleted (dry run)")
        return
    client.call("queues.delete", {"queue": queue["id"], "force": force})
    _changed(fmt, queue["name"], "deleted")


@command.command("sync", context_settings=CONTEXT)
@dry_run_option
@no_kube_option
@values_option
@release_option
@global_options
@click.pass_context
def sync(ctx: click.Context, dry_run: str, no_kube: bool, values: tuple[str, ...], release: str | None) -> None:
    """Create in ClearML every queue the agent serves that does not exist yet (the chart's createQueues).

    \b
    Examples:
      kubectl clearml queues sync --dry-run=client
      kubectl clearml queues sync -f values.yaml
    """
    g = get_globals()
    fmt = _change_format(g)
    values, release, no_kube = _source(ctx, values, release, no_kube)
    data = collect(g, no_kube=no_kube, values=values, release=release, need_clearml=True)
    if data.agent is None:
        raise NotFoundError("no agent configuration found", hint="pass -f values.yaml or -n with the agent's namespace")
    existing = {str(q.get("name", "")).lower() for q in data.queues or []}
    missing = [name for name in data.agent.served if name.lower() not in existing]
    for name in missing:
        if dry_run == "none":
            data.clearml.call("queues.create", {"name": name})
            _changed(fmt, name, "created")
        else:
            _changed(fmt, name, "would be created (dry run)")
    if not missing and fmt != "name":
        echo("every served queue exists; nothing to do\n")
