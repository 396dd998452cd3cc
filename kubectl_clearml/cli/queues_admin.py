"""``kubectl clearml queues create|delete|sync``: change ClearML queues, previewable with --dry-run."""

from __future__ import annotations

import re
from typing import Any

import click

from kubectl_clearml.cli.completion_values import complete_queue
from kubectl_clearml.cli.options import Globals, get_globals, global_options
from kubectl_clearml.cli.queues_data import (
    collect,
    dry_run_option,
    find_queue,
    no_kube_option,
    release_option,
    source_options,
    values_option,
)
from kubectl_clearml.core.queues import served_entry
from kubectl_clearml.errors import (
    InvalidRequestError,
    NotFoundError,
    UsageError,
)
from kubectl_clearml.output import echo, format_cell

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _change_format(g: Globals) -> str:
    """create/delete/sync print one line per queue: ``-o name`` gives just ``queue/NAME`` (as kubectl does).
    Checked before anything changes, so ``-o json`` fails up front instead of being ignored."""
    return g.output_format(("table", "name"))


def _changed(fmt: str, name: str, what: str) -> None:
    name = format_cell(name)
    echo(f"queue/{name}\n" if fmt == "name" else f"queue/{name} {what}\n")


@click.command("create", context_settings=CONTEXT)
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
    existing = client.call(
        "queues.get_all", {"name": f"^{re.escape(name)}$", "only_fields": ["id", "name"], "search_hidden": True}
    ).get("queues", [])
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


@click.command("delete", context_settings=CONTEXT)
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


@click.command("sync", context_settings=CONTEXT)
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
    values, release, no_kube = source_options(ctx, values, release, no_kube)
    data = collect(g, no_kube=no_kube, values=values, release=release, need_clearml=True)
    if data.agent is None:
        raise NotFoundError("no agent configuration found", hint="pass -f values.yaml or -n with the agent's namespace")
    existing = data.queues or []
    missing = [
        name
        for name in data.agent.served
        if not any(served_entry([name], str(q.get("name", "")), q.get("id")) for q in existing)
    ]
    too_short = [name for name in missing if len(name.strip()) < 3]
    if too_short:  # checked before creating any, so a sync never stops half done
        raise InvalidRequestError(
            f"cannot create queue(s) {', '.join(map(repr, too_short))}: ClearML needs at least 3 characters",
            "agent configuration",
            "rename the queue in the agent's values",
        )
    for name in missing:
        if dry_run == "none":
            data.clearml.call("queues.create", {"name": name})
            _changed(fmt, name, "created")
        else:
            _changed(fmt, name, "would be created (dry run)")
    if not missing and fmt != "name":
        echo("every served queue exists; nothing to do\n")
