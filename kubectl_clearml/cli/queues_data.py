"""Data for the queues commands: what to fetch from ClearML, Kubernetes and the agent configuration.

Everything reachable is fetched, what is not becomes a note; only when nothing at all can be read is it an
error. Shared by `queues` (list, show) and its admin subcommands (create, delete, sync).
"""

from __future__ import annotations

import difflib
from typing import Any

import click

from kubectl_clearml.cli.agent_source import release_option as shared_release_option
from kubectl_clearml.cli.agent_source import values_option as shared_values_option
from kubectl_clearml.cli.options import Globals
from kubectl_clearml.cli.options import dry_run_option as shared_dry_run_option
from kubectl_clearml.core.podbuilder import QUEUE_ID_LABEL
from kubectl_clearml.core.queues import (
    AgentTemplates,
    is_hidden,
    served_entry,
)
from kubectl_clearml.errors import (
    KubectlClearmlError,
    NotFoundError,
    UnreachableError,
)

values_option = shared_values_option()
release_option = shared_release_option()


no_kube_option = click.option("--no-kube", is_flag=True, help="Do not contact Kubernetes (ClearML columns only).")


dry_run_option = shared_dry_run_option("client/server: print what would change and change nothing.")


def source_options(ctx: click.Context, values: tuple[str, ...], release: str | None, no_kube: bool) -> tuple[Any, ...]:
    """Options given to the subcommand, else those given to `queues` before it."""
    parent = ctx.parent.meta if ctx.parent else {}
    return (
        values or parent.get("queues.values", ()),
        release or parent.get("queues.release"),
        no_kube or parent.get("queues.no_kube", False),
    )


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
        self.clearml_error: KubectlClearmlError | None = None  # why data.queues is None
        self.status = 0  # the exit status owed for a source that failed (connect.degraded_status)


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
    from kubectl_clearml.cli.connect import clearml_from, clearml_is_optional_after, degraded_status, kube_from

    data = Collected()
    errors: list[KubectlClearmlError] = []
    if not no_kube:
        try:
            data.kube = kube_from(g)
            data.namespace = data.kube.namespace
        except KubectlClearmlError as exc:
            if g.kubeconfig or g.context:
                raise  # a --kubeconfig/--context the user gave that cannot work is an error, not a note
            data.status = max(data.status, degraded_status(exc))
            if not values or data.status:
                errors.append(exc)
                data.notes.append(f"Kubernetes columns unavailable: {exc.one_line()}")
    if values or data.kube is not None:
        try:
            data.agent = agent_templates(g, data.kube, values, release)
            data.notes.extend(data.agent.reference_failures)
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
        if need_clearml or not clearml_is_optional_after(exc):
            raise
        errors.append(exc)
        data.clearml_error = exc
        data.status = max(data.status, degraded_status(exc))
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


def find_served_queue(data: Collected, name: str) -> dict[str, Any]:
    """ClearML unavailable: a queue the agent serves, known by name only (no id, no entries); else the
    ClearML error, since only the server can say whether the queue exists."""
    entry = served_entry(data.agent.served, name) if data.agent is not None else None
    if entry is not None:
        return {"name": entry}
    assert data.clearml_error is not None
    raise data.clearml_error


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
    # matched case-insensitively, as the lookup above is: '1xgp' is one letter from '1xGPU'. Hidden queues
    # (k8s_scheduler) are nobody's typo for a queue to look at: `--all` lists them.
    by_lower = {str(q.get("name")).lower(): str(q.get("name")) for q in queues if not is_hidden(q)}
    close = [by_lower[c] for c in difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.5)]
    raise NotFoundError(
        f"queue {name!r} not found",
        "ClearML",
        ("did you mean: " + ", ".join(close)) if close else "kubectl clearml queues --all lists them",
    )
