"""``kubectl clearml glue install|status|uninstall``: our glue in the cluster in place of the agent's, and back."""

from __future__ import annotations

from typing import Any

import click

from kubectl_clearml import __version__
from kubectl_clearml.cli.options import get_globals, global_options
from kubectl_clearml.cli.param_types import Seconds, release_type
from kubectl_clearml.errors import NotFoundError, UsageError
from kubectl_clearml.output import Column, View, echo, note, render, to_json, to_yaml

CONTEXT = {"help_option_names": ["-h", "--help"]}
DEFAULT_IMAGE = f"kubectl-clearml:{__version__}"  # what deploy/Dockerfile builds; push it and pass --image

dry_run_option = click.option(
    "--dry-run",
    type=click.Choice(["none", "client", "server"]),
    default="none",
    show_default=True,
    help="client: print what would change; server: also let the API server check it. Nothing changes.",
)
release_option = click.option(
    "--release", metavar="NAME", type=release_type(), help="Helm release of the agent (default: the one in -n)."
)
timeout_option = click.option(
    "--timeout",
    type=Seconds(min=1),
    default=180.0,
    show_default=True,
    help="Seconds to wait for the other glue's pods to go and ours to become available.",
)


@click.group("glue", context_settings=CONTEXT)
def command() -> None:
    """Run kubectl-clearml's glue in the cluster as a drop-in replacement for the agent's, with a way back.

    \b
    Examples:
      kubectl clearml glue install -n clearml --image registry.example.com/kubectl-clearml:0.1.0 --dry-run=client -o yaml
      kubectl clearml glue install -n clearml --image registry.example.com/kubectl-clearml:0.1.0 --replicas 2
      kubectl clearml glue status -n clearml
      kubectl clearml glue uninstall -n clearml
    """


def _install_format() -> str:
    return get_globals().output_format(("table", "yaml", "json", "name"))


def _objects_out(objects: list[dict[str, Any]], fmt: str) -> None:
    """The manifests as one kubectl List; a plain-text key copied from the agent's env is masked, and said."""
    if fmt not in ("yaml", "json"):
        return
    from kubectl_clearml.core.secrets import redact_mapping
    from kubectl_clearml.logs import known_secrets

    document = {"apiVersion": "v1", "kind": "List", "items": objects}
    shown = redact_mapping(document, known_secrets())
    if shown != document:
        note("secret values are masked in this output (********): it cannot be applied as it is")
    echo(to_json(shown) if fmt == "json" else to_yaml(shown))


@command.command("install", context_settings=CONTEXT)
@release_option
@click.option("--image", default=DEFAULT_IMAGE, show_default=True, help="The glue image (deploy/Dockerfile).")
@click.option("--replicas", type=click.IntRange(1, 10), default=1, show_default=True, help="Glue replicas (one leads).")
@click.option("--max-pods", type=click.IntRange(min=1), help="At most this many task pods (default: the agent's).")
@click.option("--node-read", is_flag=True, help="Also let the glue read nodes and pods cluster-wide (a ClusterRole; run-glue's fit check needs it).")
@click.option("--image-pull-secret", "pull_secrets", multiple=True, metavar="NAME", help="For a private registry.")
@dry_run_option
@timeout_option
@global_options
def install(
    release: str | None,
    image: str,
    replicas: int,
    max_pods: int | None,
    node_read: bool,
    pull_secrets: tuple[str, ...],
    dry_run: str,
    timeout: float,
) -> None:
    """Install our glue for the agent in -n, scale the agent to 0 (recorded, nothing deleted), hand over.

    The agent's queues, worker id, ClearML Secret and template ConfigMap are reused as they are. The agent's
    pod is gone before ours may pull; if ours does not become available in --timeout, the agent is restored.
    """
    from kubectl_clearml.adapters import glue_deploy as gd
    from kubectl_clearml.cli.connect import kube_from
    from kubectl_clearml.core import glue_install as gi

    fmt = _install_format()
    kube = kube_from(get_globals())
    agent = gd.find_agent(kube, kube.namespace, release)
    facts = gi.agent_facts(agent)
    found = gi.problems(facts)
    if found:
        raise UsageError(f"cannot replace the agent: {found[0]}", f"deployment {facts.namespace}/{facts.name}")
    options = gi.InstallOptions(image, replicas, max_pods, node_read, pull_secrets)
    objects = gi.desired_objects(facts, options)
    steps = [gd.apply(kube, obj, dry_run) for obj in objects[:-1]]
    steps.append(gd.scale_down_agent(kube, agent, gi.glue_name(facts.name), dry_run, gd.utc_now()))
    if dry_run == "none":
        gd.wait_pods_gone(kube, facts.namespace, facts.selector, f"agent {facts.name}", timeout)
    steps.append(gd.apply(kube, objects[-1], dry_run))
    if dry_run == "none":
        gd.wait_available_or_restore(kube, facts, objects[-1], timeout)
    _report(steps, fmt, dry_run)
    _objects_out(objects, fmt)


def _report(steps: list[Any], fmt: str, dry_run: str) -> None:
    if fmt == "name":
        echo("".join(f"{s.kind.lower()}/{s.name}\n" for s in steps))
    elif fmt == "table":
        echo("".join(s.line(dry_run) + "\n" for s in steps))
    else:  # the manifests go to stdout; what happened to each goes to stderr
        for s in steps:
            note(s.line(dry_run))


@command.command("uninstall", context_settings=CONTEXT)
@release_option
@dry_run_option
@timeout_option
@global_options
def uninstall(release: str | None, dry_run: str, timeout: float) -> None:
    """Remove our glue and give the agent back its replicas: ours is gone before the agent may pull."""
    from kubectl_clearml.adapters import glue_deploy as gd
    from kubectl_clearml.cli.connect import kube_from
    from kubectl_clearml.core import glue_install as gi

    fmt = get_globals().output_format(("table", "name"))
    kube = kube_from(get_globals())
    agent = gd.find_agent(kube, kube.namespace, release)
    facts = gi.agent_facts(agent)
    every = gi.desired_objects(facts, gi.InstallOptions("", replicas=2, node_read=True))
    deployment, rest = every[-1], every[:-1]
    steps = [s for s in [gd.retire(kube, deployment, dry_run, timeout)] if s]
    steps.append(gd.restore_agent(kube, agent, dry_run))
    steps += [s for s in (gd.delete(kube, obj, dry_run) for obj in rest) if s]
    if len(steps) == 1 and steps[0].action == "unchanged":
        raise NotFoundError(
            "no glue installed by kubectl clearml", f"namespace {facts.namespace}", "nothing to uninstall"
        )
    _report(steps, fmt, dry_run)


STATUS_COLUMNS = [Column("FIELD", "field"), Column("VALUE", "value")]


@command.command("status", context_settings=CONTEXT)
@release_option
@global_options
def status(release: str | None) -> None:
    """Which glue serves the agent's queues (the agent's or ours), the leader, replicas and task pods."""
    from kubectl_clearml.adapters import glue_deploy as gd
    from kubectl_clearml.cli.connect import kube_from

    fmt = get_globals().output_format(("table", "json", "yaml"))
    kube = kube_from(get_globals())
    report = gd.glue_status(kube, kube.namespace, release)
    if fmt == "json":
        echo(to_json(report))
    elif fmt == "yaml":
        echo(to_yaml(report))
    else:
        rows = [{"field": k, "value": v} for k, v in _flatten(report)]
        echo(render(View("field", rows, STATUS_COLUMNS, name_key="field"), "table", no_headers=get_globals().no_headers))


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", "-" if value is None else value))
    return rows
