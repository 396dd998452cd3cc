"""``kubectl clearml queues``: ClearML queues side by side with the agent's Kubernetes view."""

from __future__ import annotations

import time
from typing import Any

import click

from kubectl_clearml.cli import queues_admin
from kubectl_clearml.cli.completion_values import complete_queue
from kubectl_clearml.cli.connect import exit_degraded
from kubectl_clearml.cli.options import Globals, get_globals, global_options
from kubectl_clearml.cli.param_types import Seconds
from kubectl_clearml.cli.queues_data import (
    collect,
    find_queue,
    find_served_queue,
    no_kube_option,
    release_option,
    source_options,
    values_option,
)
from kubectl_clearml.core.gpu_queues import format_gpus
from kubectl_clearml.core.pod_labels import queue_label_values
from kubectl_clearml.core.podbuilder import QUEUE_ID_LABEL
from kubectl_clearml.core.queues import (
    build_rows,
    human_age,
    parse_time,
    pod_message,
    pod_pending_cell,
    pod_status_reason,
    served_entry,
    stranded_tasks,
    unserved_note,
    unserved_waiting,
)
from kubectl_clearml.core.secrets import redact_mapping
from kubectl_clearml.errors import KubectlClearmlError
from kubectl_clearml.output import TEMPLATE_FORMATS, Column, View, echo, format_cell, render, sort_items, warn
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
    Column("GPUS/POD", lambda r: format_gpus(r["gpusPerPod"]) if r["gpusPerPod"] is not None else None, wide_only=True),
    Column("NODE-SELECTOR", "nodeSelector", wide_only=True),
]


class QueuesGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group("queues", cls=QueuesGroup, invoke_without_command=True, context_settings=CONTEXT)
@click.option(
    "--all", "show_all", is_flag=True, help="Also list hidden queues (system tag k8s-glue, e.g. k8s_scheduler)."
)
@click.option("--watch", "-w", is_flag=True, help="Refresh in place every --interval seconds (on a terminal).")
@click.option("--sort-by", metavar="FIELD", help="Sort rows by a field of -o json's items (pending, .running, name), as kubectl's --sort-by.")
@click.option(
    "--interval", default=2.0, show_default=True, type=Seconds(min=0.2), help="Seconds between refreshes."
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
    sort_by: str | None,
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
        _watch(g, fmt, show_all, interval, no_kube, values, release, sort_by)
        return
    view, notes, status = _list_view(g, show_all, no_kube, values, release, sort_by)
    for note in notes:
        warn(note)
    show_view(view, fmt, no_headers=g.no_headers)
    exit_degraded(status)


def _list_view(
    g: Globals, show_all: bool, no_kube: bool, values: tuple[str, ...], release: str | None, sort_by: str | None = None
) -> tuple[View, list[str], int]:
    data = collect(g, no_kube=no_kube, values=values, release=release)
    rows = build_rows(time.time(), data.queues, data.pods, data.agent, data.workers, include_hidden=show_all)
    rows = sort_items(rows, sort_by)
    stranded = stranded_tasks(data.queues, data.pods) if data.queues is not None else []
    notes = list(data.notes)
    if stranded:
        where = ", ".join(sorted({str(s["queue"]) for s in stranded}))
        if data.pods is None:  # nothing was looked at in Kubernetes: say so rather than "with no pod"
            notes.append(
                f"{len(stranded)} task(s) waiting in hidden queue(s) {where} (task pods not checked): without a "
                "pod nothing pulls from there; `kubectl clearml run-glue` adopts them"
            )
        else:
            notes.append(
                f"{len(stranded)} task(s) stranded in hidden queue(s) {where} with no pod: "
                "nothing pulls from there; `kubectl clearml run-glue` adopts them"
            )
    if data.queues is not None and data.agent is not None:
        waiting = unserved_waiting(data.queues, data.agent.served)
        if waiting:
            notes.append(unserved_note(waiting))
    view = View(kind="queue", items=rows, columns=COLUMNS, empty_message="No queues found.")
    view.document = {"kind": "QueueList", "items": rows, "stranded": stranded, "notes": notes}
    return view, notes, data.status


def _watch(
    g: Globals, fmt: str, show_all: bool, interval: float, no_kube: bool, values: tuple[str, ...], release: str | None,
    sort_by: str | None = None,
) -> None:
    from kubectl_clearml.cli.watch import watch

    def refresh() -> tuple[str, list[str]]:
        view, notes, _status = _list_view(g, show_all, no_kube, values, release, sort_by)
        return render(view, fmt, no_headers=g.no_headers), notes

    watch(refresh, interval, "kubectl clearml queues")


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
    fmt = g.output_format(("table", "wide", "json", "yaml", "name"))
    values, release, no_kube = source_options(ctx, values, release, no_kube)
    data = collect(g, no_kube=no_kube, values=values, release=release)
    # ClearML down: the agent's template and the queue's task pods are still worth showing (matched by
    # the queue-name label), with the pending tasks unknown.
    queue = find_queue(data.queues, name) if data.queues is not None else find_served_queue(data, name)
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
    project_names = _project_names(data.clearml, tasks_by_id.values())
    pending = []
    for position, entry in enumerate(entries, 1):
        task = tasks_by_id.get(entry["task"], {})
        added = parse_time(entry.get("added"))
        pending.append(
            {
                "position": position,
                "id": entry["task"],
                "name": task.get("name"),
                "project": project_names.get(str(task.get("project")), _ref_name(task.get("project"))),
                "user": _ref_name(task.get("user")),
                "enqueued": human_age(now - added) if added else None,
                "image": (task.get("container") or {}).get("image"),
            }
        )
    pods = [
        p
        for p in data.pods or []
        if (p["metadata"].get("labels") or {}).get(QUEUE_ID_LABEL) == queue.get("id")
        or (p["metadata"].get("labels") or {}).get("clearml-agent-queue-name") in queue_label_values(queue["name"])
    ]
    known = data.queues is not None  # else the pending tasks are unknown, not none
    pod_rows = [
        {
            "name": p["metadata"]["name"],
            "phase": (p.get("status") or {}).get("phase"),
            "reason": pod_status_reason(p),
            "message": pod_message(p) or None,
            "node": (p.get("spec") or {}).get("nodeName"),
        }
        for p in pods
    ]
    rows = build_rows(now, [queue], data.pods, data.agent, data.workers, include_hidden=True)
    summary = rows[0]
    entry = served_entry(data.agent.served, queue["name"], queue.get("id")) if data.agent else None
    template = data.agent.effective.get(entry or queue["name"]) if data.agent else None
    template = redact_mapping(template) if template is not None else None  # env values such as HF_TOKEN
    document = {"queue": summary, "pendingTasks": pending if known else None, "pods": pod_rows, "template": template}
    for note in data.notes:
        warn(note)
    if fmt == "name":  # like `kubectl get pod NAME -o name`: the resolved name
        echo(f"queue/{format_cell(queue['name'])}\n")
        exit_degraded(data.status)
        return
    if fmt in ("json", "yaml") or fmt.startswith(TEMPLATE_FORMATS):
        echo(render(View("queue", [], [], document=document), fmt))
        exit_degraded(data.status)
        return
    echo(f"Queue:     {format_cell(queue['name'])} ({format_cell(queue.get('id') or 'id unknown')})\n")
    echo(
        f"Served:    {_yes_no(summary['served'])}   Template: {format_cell(summary['template'])}   "
        f"Workers: {summary['workers'] if summary['workers'] is not None else '-'}\n"
    )
    if not known:
        echo("\nPending tasks: unknown (ClearML unavailable)\n")
    else:
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
    if known:
        echo(render(View("task", pending, task_columns), "table", no_headers=g.no_headers) if pending else "  (none)\n")
    echo(f"\nTask pods ({len(pod_rows)}):\n")
    pod_columns = [
        Column("POD", "name"),
        Column("PHASE", "phase"),
        Column("REASON", "reason"),
        Column("NODE", "node"),
        Column("MESSAGE", "message", wide_only=True),
    ]
    echo(render(View("pod", pod_rows, pod_columns), fmt, no_headers=g.no_headers) if pod_rows else "  (none)\n")
    exit_degraded(data.status)


def _project_names(clearml: Any, tasks: Any) -> dict[str, str]:
    """Project id -> name, in one call: tasks.get_all returns a task's project as its id only (the server
    joins referenced names in get_all_ex, which is internal). Without an answer the ids are shown."""
    ids = sorted({str(t["project"]) for t in tasks if isinstance(t.get("project"), str) and t["project"]})
    if not ids:
        return {}
    try:
        projects = clearml.call("projects.get_all", {"id": ids, "only_fields": ["id", "name"], "search_hidden": True})
    except KubectlClearmlError:
        return {}
    return {str(p.get("id")): str(p["name"]) for p in projects.get("projects") or [] if p.get("name")}


def _ref_name(value: Any) -> Any:
    return value.get("name") or value.get("id") if isinstance(value, dict) else value


def _yes_no(value: Any) -> str:
    return "-" if value is None else ("yes" if value else "no")


for _admin in (queues_admin.create, queues_admin.delete, queues_admin.sync):
    command.add_command(_admin)
