"""Dynamic completion values: contexts, namespaces, output formats, queue names.

Completion runs on every TAB, so each source has a short timeout and fails silently (no candidates
rather than an error in the user's shell). Flags typed so far on the command line (``--kubeconfig``,
``--context``, ``-f``) are honoured through the shared Globals object.
"""

from __future__ import annotations

from typing import Any

import click
from click.shell_completion import CompletionItem

from kubectl_clearml.output import OUTPUT_FORMATS

COMPLETION_TIMEOUT = (1.0, 2.0)


def _globals(ctx: click.Context) -> Any:
    from kubectl_clearml.cli.options import get_globals

    return get_globals(ctx)


# What each subcommand's -o accepts where that is not the common OUTPUT_FORMATS (the commands check it at
# run time; tests/distribution compares this table with each command's own "use one of" answer).
OUTPUT_BY_COMMAND: dict[str, tuple[str, ...]] = {
    "config": ("table", "wide", "json", "yaml"),
    "diff-template": ("diff", "json-patch", "json", "yaml", "structured"),
    "doctor": ("table", "json", "yaml"),
    "why": ("table", "json", "yaml"),
    "queues create": ("table", "name"),
    "queues delete": ("table", "name"),
    "queues sync": ("table", "name"),
    "submit-pod": ("yaml", "json", "name"),
    "shm-fix": ("yaml", "json"),  # the overlay's format (--output-file names the file)
    "run-glue": ("table", "wide", "json", "yaml"),  # --dry-run: OUTPUT_FORMATS
}


def _subcommand_path(ctx: click.Context) -> str:
    names = []
    while ctx.parent is not None:  # the root's own name (kubectl clearml) is not part of the key
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(reversed(names))


def complete_output(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    path = _subcommand_path(ctx)
    formats = OUTPUT_FORMATS if path == "run-glue" and ctx.params.get("dry_run") not in (None, "none") else OUTPUT_BY_COMMAND.get(path)
    return [CompletionItem(f) for f in formats or OUTPUT_FORMATS if f.startswith(incomplete)]


def complete_context(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    import os

    try:
        from kubectl_clearml.adapters.kubeconfig import choose_kubeconfig

        g = _globals(ctx)
        choice = choose_kubeconfig(g.kubeconfig, None, None, os.environ)
        names = [c.get("name") for c in choice.merged.get("contexts") or []]
    except Exception:
        return []
    return [CompletionItem(n, help="context") for n in names if n and str(n).startswith(incomplete)]


def complete_namespace(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    try:
        from kubectl_clearml.adapters.kube_connect import connect

        g = _globals(ctx)
        # a TAB press must not wait a minute for an SSO plugin: the same bound as its requests
        kube = connect(g.kubeconfig, g.context, None, retries=False, exec_timeout=COMPLETION_TIMEOUT[1])
        kube.request_timeout = COMPLETION_TIMEOUT
        names = [ns["metadata"]["name"] for ns in kube.list("namespaces")]
    except Exception:
        return []
    return [CompletionItem(n, help="namespace") for n in names if n.startswith(incomplete)]


def _served(ctx: click.Context, live: bool = False) -> dict[str, str]:
    try:
        from kubectl_clearml.cli.agent_source import load_agent, served_queue_names

        g = _globals(ctx)
        # Commands name their -f parameter "values" or "values_files"; click has parsed what was typed so far.
        values = tuple(ctx.params.get("values") or ctx.params.get("values_files") or ())
        if values or not live:
            return dict.fromkeys(served_queue_names(g, values), "queue served by the agent")
        from kubectl_clearml.adapters.kube_connect import connect

        kube = connect(g.kubeconfig, g.context, g.namespace, retries=False)
        kube.request_timeout = COMPLETION_TIMEOUT
        return dict.fromkeys(load_agent(g, kube, (), ctx.params.get("release")).queues, "queue served by the agent")
    except Exception:
        return {}


def complete_served_queue(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Only the queues the agent serves (-f files, else the live install): what diff-template and shm-fix
    accept; ClearML's `default`, which no agent serves, would be refused."""
    return [CompletionItem(n, help=h) for n, h in _served(ctx, live=True).items() if n.startswith(incomplete)]


def complete_pending_task(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """submit-pod TASK_ID: the tasks waiting in the --queue typed so far, in queue order, named."""
    queue = ctx.params.get("queue")
    if not queue or ctx.params.get("args"):
        return []
    try:
        from kubectl_clearml.cli.connect import clearml_from

        client = clearml_from(_globals(ctx))
        client.timeout, client.retries = COMPLETION_TIMEOUT, 0
        queues = client.call("queues.get_all", {"only_fields": ["id", "name", "entries"], "search_hidden": True})
        found = [q for q in queues.get("queues") or [] if queue in (q.get("name"), q.get("id"))]
        ids = [str(e["task"]) for q in found[:1] for e in q.get("entries") or [] if str(e.get("task")).startswith(incomplete)]
        if not ids:
            return []
        tasks = client.call("tasks.get_all", {"id": ids, "only_fields": ["id", "name"]}).get("tasks") or []
        names = {str(t.get("id")): str(t.get("name") or "") for t in tasks}
    except Exception:
        return []
    return [CompletionItem(i, help=f"pending in {queue}: {names.get(i, '')}".rstrip(": ")) for i in ids]


def complete_queue(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Queue names from the agent configuration (-f values or the live install), else from ClearML."""
    names = _served(ctx)
    try:
        from kubectl_clearml.cli.connect import clearml_from

        client = clearml_from(_globals(ctx))
        client.timeout, client.retries = COMPLETION_TIMEOUT, 0
        queues = client.call("queues.get_all", {"only_fields": ["name", "entries"]}).get("queues", [])
        for q in queues:
            pending = len(q.get("entries") or [])
            names.setdefault(str(q["name"]), f"queue, {pending} pending")
    except Exception:
        pass
    return [CompletionItem(n, help=h) for n, h in names.items() if n.startswith(incomplete)]
