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
    "shm-fix": ("yaml", "json"),  # or a FILE to write the overlay to
    "run-glue": ("table", "wide", "json", "yaml"),  # --dry-run: OUTPUT_FORMATS
}
OUTPUT_TAKES_A_FILE = ("shm-fix",)


def _subcommand_path(ctx: click.Context) -> str:
    names = []
    while ctx.parent is not None:  # the root's own name (kubectl clearml) is not part of the key
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(reversed(names))


def complete_output(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    path = _subcommand_path(ctx)
    formats = OUTPUT_FORMATS if path == "run-glue" and ctx.params.get("dry_run") not in (None, "none") else OUTPUT_BY_COMMAND.get(path)
    items = [CompletionItem(f) for f in formats or OUTPUT_FORMATS if f.startswith(incomplete)]
    if path in OUTPUT_TAKES_A_FILE:
        items.append(CompletionItem(incomplete, type="file"))  # the shell completes paths as well
    return items


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
        kube = connect(g.kubeconfig, g.context, None, retries=False)
        kube.request_timeout = COMPLETION_TIMEOUT
        names = [ns["metadata"]["name"] for ns in kube.list("namespaces")]
    except Exception:
        return []
    return [CompletionItem(n, help="namespace") for n in names if n.startswith(incomplete)]


def complete_queue(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Queue names from the agent configuration (-f values or the live install), else from ClearML."""
    names: dict[str, str] = {}
    try:
        from kubectl_clearml.cli.agent_source import served_queue_names

        g = _globals(ctx)
        # Commands name their -f parameter "values" or "values_files"; click has parsed what was typed so far.
        values = tuple(ctx.params.get("values") or ctx.params.get("values_files") or ())
        for name in served_queue_names(g, values):
            names[name] = "queue served by the agent"
    except Exception:
        pass
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
