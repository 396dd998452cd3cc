"""`kubectl clearml run-glue`: the glue loop in the foreground (queues → pods), restart-safe."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from kubectl_clearml import logs
from kubectl_clearml.cli.completion_values import complete_queue
from kubectl_clearml.cli.connect import clearml_from, kube_from
from kubectl_clearml.cli.options import dry_run_option, get_globals, global_options
from kubectl_clearml.cli.param_types import Seconds, release_type
from kubectl_clearml.errors import NotFoundError, UsageError
from kubectl_clearml.output import Column, View, echo, render, to_json, to_yaml

LOG = logging.getLogger("kubectl_clearml.glue")

COLUMNS = [
    Column("QUEUE", "queue"),
    Column("TASK", "task"),
    Column("NAME", "name"),
    Column("ACTION", "action"),
    Column("POD", "pod"),
    Column("IMAGE", "image", wide_only=True),
]


@click.command("run-glue", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--queue", "queues", multiple=True, metavar="NAME", help="Queue to serve (repeatable, highest priority first).",
    shell_complete=complete_queue,
)
@click.option(
    "-f",
    "--values",
    "values",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Helm values file(s) of the agent (default: the install in -n): served queues, per-queue templates, "
    "queueSettings.maxPods, GPU count.",
)
@click.option("--template", type=click.Path(dir_okay=False), help="Pod template YAML for every queue (without -f).")
@click.option("--release", metavar="NAME", type=release_type(), help="Helm release of the agent (default: the one in -n).")
@click.option("--max-pods", type=int, help="At most this many Pending+Running pods of this glue.")
@click.option("--worker-id", help="Stable worker id (env CLEARML_WORKER_ID; default from cluster, namespace, queues).")
@click.option(
    "--poll-interval",
    type=Seconds(min=0.05),
    default=5.0,
    show_default=True,
    help="Seconds between polls of empty queues.",
)
@dry_run_option(
    "client: pull nothing, print what would be launched for the current queue heads (a bare --dry-run too).",
    choices=("none", "client"),
)
@click.option("--once", is_flag=True, help="Drain the queues once (up to the pod limits), then exit without waiting.")
@click.option("--leader-elect", is_flag=True, help="Only the holder of a Lease in the namespace dispatches (replicas).")
@click.option(
    "--lease-duration",
    type=click.FloatRange(min=1.0),
    default=15.0,
    show_default=True,
    help="With --leader-elect: seconds a standby waits after the lease record last changed before taking over.",
)
@click.option(
    "--sweep-interval",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds between sweeps for orphaned tasks and for tasks stranded in --k8s-pending-queue.",
)
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--metrics-port", type=click.IntRange(1, 65535), help="Serve Prometheus metrics on this port (/metrics)."
)
@click.option("--credentials-secret", metavar="NAME", help="Secret with the agent's ClearML keys, for the pods' env.")
@click.option(
    "--request-timeout",
    type=Seconds(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds before a ClearML or Kubernetes request is given up.",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=100, show_default=True, help="Queue entries read per round."
)
@click.option(
    "--k8s-pending-queue",
    default="k8s_scheduler",
    show_default=True,
    metavar="NAME",
    help="The reference glue's hidden pending queue: tasks stranded there are adopted ('' turns this off).",
)
@click.option(
    "--delete-finished-after",
    "delete_finished_after",
    default="1h",
    show_default=True,
    metavar="DURATION",
    callback=lambda _ctx, _param, value: _duration(value),
    help="Delete a finished pod this long after it ended, once its task is settled in ClearML "
    "(e.g. 30m, 2h; 0 = at once; never). Kept meanwhile for its logs and exit reason.",
)
@click.option(
    "--fit-check/--no-fit-check",
    default=None,
    help="Launch a task only when its pod fits on a node now; otherwise it stays at the head of its queue "
    "and its status message says why (gpu-report's verdict). Default: on where the glue may read nodes and "
    "pods of every namespace, else off with a warning.",
)
@click.option("--backfill", is_flag=True, help="With --fit-check: later tasks that fit may pass a waiting head.")
@click.option(
    "--backfill-limit",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="With --backfill: at most this many tasks pass a waiting head, then the queue waits for it.",
)
@click.option(
    "--unschedulable-after",
    default="10m",
    show_default=True,
    metavar="DURATION",
    callback=lambda _ctx, _param, value: _duration(value),
    help="With --fit-check: fail a task that no node can ever take after this long (a new node restarts "
    "the count; never = keep it queued).",
)
@click.option(
    "--allow-autoscale",
    is_flag=True,
    help="With --fit-check: launch a task that does not fit anyway (a cluster autoscaler adds a node for it).",
)
@global_options
def command(
    queues: tuple[str, ...],
    values: tuple[str, ...],
    template: str | None,
    release: str | None,
    max_pods: int | None,
    worker_id: str | None,
    poll_interval: float,
    dry_run: str,
    once: bool,
    leader_elect: bool,
    lease_duration: float,
    sweep_interval: float,
    log_format: str,
    metrics_port: int | None,
    credentials_secret: str | None,
    request_timeout: float,
    batch_size: int,
    k8s_pending_queue: str,
    delete_finished_after: float | None,
    fit_check: bool | None,
    backfill: bool,
    backfill_limit: int,
    unschedulable_after: float | None,
    allow_autoscale: bool,
) -> None:
    """Run the glue loop in the foreground: pull tasks from queues, launch their pods, follow them.

    \b
    Examples:
      kubectl clearml run-glue --queue gpu-a100 --queue cpu -n clearml --max-pods 20
      kubectl clearml run-glue -f values.yaml --dry-run
      kubectl clearml run-glue --queue default --once
      kubectl clearml run-glue --queue default --delete-finished-after 30m
    """
    from kubectl_clearml.glue.engine import GlueEngine
    from kubectl_clearml.glue.fit_gate import FitOptions
    from kubectl_clearml.glue.setup import build_run_settings, retry_transient

    g = get_globals()
    preview_only = dry_run != "none"
    # Checked before anything starts: a glue must not run for hours to then refuse to print its summary.
    fmt = g.output_format(default="table") if preview_only else g.output_format(("table", "wide", "json", "yaml"))
    logs.configure(max(1, g.verbose), log_format)
    # A daemon outlives a server that is coming up or failing for a while (5xx, timeouts): every start-up read
    # is retried with the loop's backoff; someone at a terminal (--once, --dry-run) wants the error.
    start_attempts = 1 if preview_only or once else None
    kube = kube_from(g, request_timeout)
    kube.request_timeout = request_timeout
    clearml = retry_transient(lambda: clearml_from(g, kube), attempts=start_attempts, step="agent credentials")
    # A glue must not hang on one slow answer: both clients give up after --request-timeout.
    clearml.timeout = (min(5.0, request_timeout), request_timeout)
    names, templates, limits, gpu_count, secret, pod_options = retry_transient(
        lambda: _agent_view(kube, values, template, queues, release), attempts=start_attempts, step="agent install"
    )
    settings = build_run_settings(
        clearml,
        namespace=kube.namespace,
        cluster=kube.server,
        queue_names=names,
        templates=templates,
        queue_max_pods=limits,
        worker_id=worker_id,
        max_pods=max_pods,
        credentials_secret=credentials_secret or secret,
        api_host=clearml.server,
        verify_certificate=bool(clearml.credentials.verify),
        gpu_count=gpu_count,
        poll_interval=poll_interval,
        batch_size=batch_size,
        leader_elect=leader_elect,
        lease_duration=lease_duration,
        sweep_interval=sweep_interval,
        scheduler_queue=k8s_pending_queue,
        delete_finished_after=delete_finished_after,
        fit_check=fit_check,
        fit_options=FitOptions(backfill, backfill_limit, unschedulable_after, allow_autoscale),
        # A daemon waits out a server that is still coming up; someone at a terminal wants the error.
        start_attempts=start_attempts,
        pod_options=pod_options,
    )

    def reload_templates() -> dict[str, Any]:
        return _agent_view(kube, values, template, tuple(names), release)[1]  # templates

    engine = GlueEngine(clearml, kube, settings, reload_templates=reload_templates)
    if preview_only:
        rows = engine.preview()
        echo(render(View("task", rows, COLUMNS, name_key="task"), fmt, no_headers=g.no_headers))
        return
    if metrics_port is not None:
        from kubectl_clearml.glue.metrics import serve

        serve(engine.metrics, metrics_port)
    with _stop_on_signals(engine.request_stop):
        summary = engine.run(once=once)
    counts = {
        "launched": summary.launched,
        "failed": summary.failed,
        "finishedPodsDeleted": engine.cleaner.deleted,
        "transientErrors": summary.errors,
    }
    if fmt in ("json", "yaml"):
        echo(to_json(counts) if fmt == "json" else to_yaml(counts))
        return
    echo(
        f"run-glue: {summary.launched} launched, {summary.failed} failed, "
        f"{engine.cleaner.deleted} finished pods deleted, {summary.errors} transient errors\n"
    )


def _duration(value: str) -> float | None:
    from kubectl_clearml.core.glue_policy import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _agent_view(
    kube: Any, values: tuple[str, ...], template: str | None, queues: tuple[str, ...], release: str | None
) -> tuple[list[str], dict[str, Any], dict[str, int], int, str | None, dict[str, Any]]:
    """(queues, templates by queue, maxPods by queue, dashboard GPU count, credentials Secret, GlueSettings
    options from the install: clearml.conf Secret, default image, string templates).

    From -f values files, else a --template file for every queue, else the agent installed in the namespace.
    """
    from kubectl_clearml.adapters import agent_install
    from kubectl_clearml.core.agent_config import AgentConfig, config_from_user_values
    from kubectl_clearml.core.agent_glue import glue_modes, task_pod_config
    from kubectl_clearml.core.templates import credentials_secret_name

    if values and template:
        raise UsageError("-f/--values and --template are exclusive", hint="put the template in the values instead")
    if template:
        return list(queues), _templates_from_file(template), {}, 0, None, {}
    cfg: AgentConfig
    deployment = None
    if values:
        cfg = config_from_user_values(agent_install.load_values_files(values), namespace=kube.namespace)
    else:
        try:
            install = agent_install.find_install(kube, kube.namespace, release)
        except NotFoundError:
            if not queues:
                raise
            LOG.warning("no agent install in namespace %s: pods get a minimal template", kube.namespace)
            return list(queues), {"*": None}, {}, 0, None, {}
        cfg, deployment = install.config, install.deployment
    names = list(queues) or list(cfg.queues)
    templates: dict[str, Any] = {q: cfg.effective_template(q) for q in names}
    limits: dict[str, int] = {}
    for q in names:
        max_pods = cfg.queue_settings(q).get("maxPods")
        if max_pods is not None:
            limits[q] = int(max_pods)
    secret = credentials_secret_name(cfg.values, cfg.fullname)
    modes = glue_modes(cfg, names[0], deployment) if names else None
    if modes is not None and modes.ports_max_services:
        LOG.warning("ports mode (sessions.portModeEnabled) is not supported by run-glue: pods get no pod-N label")
    for note in modes.notes if modes is not None else ():
        LOG.warning("%s", note)
    pod_options: dict[str, Any] = {"pod_config": task_pod_config(cfg, deployment)}
    if modes is not None:
        pod_options["default_image"] = modes.default_image  # the glue's CLEARML_DOCKER_IMAGE
        pod_options["string_templates"] = modes.string_templates
        pod_options["custom_script"] = modes.custom_script
    return names, templates, limits, int(cfg.report_max_gpu or 0), secret, pod_options


def _templates_from_file(path: str) -> dict[str, Any]:
    """A pod template for every queue, or the chart ConfigMap's template.yaml as it is mounted in the agent:
    one pod, or queue name -> pod in the enterprise layout (``glue install`` runs us on that mount)."""
    data = _load_template(path)
    pod_keys = {"apiVersion", "kind", "metadata", "spec"}
    per_queue = (
        isinstance(data, dict)
        and bool(data)
        and not pod_keys & set(data)
        and all(isinstance(v, dict) and pod_keys & set(v) for v in data.values())
    )
    return {str(k): v for k, v in data.items()} if per_queue else {"*": data}


def _load_template(path: str) -> Any:
    """The pod template file as data; what it contains is checked by the glue's setup, not here."""
    import yaml

    from kubectl_clearml.core.yaml_input import MAX_INPUT_BYTES, load

    try:
        with open(path, "rb") as handle:
            return load(handle.read(MAX_INPUT_BYTES + 1), path)
    except FileNotFoundError:
        raise UsageError("template file not found", path) from None
    except OSError as exc:
        raise UsageError(f"cannot read the template file: {exc.strerror}", path) from None
    except yaml.YAMLError as exc:
        raise UsageError(f"malformed YAML: {str(exc).splitlines()[0]}", path) from None


@contextmanager
def _stop_on_signals(stop: Any) -> Iterator[None]:
    """SIGINT/SIGTERM ask the loop to stop (finish the current dispatch, unregister, leave pods running)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        # Through logging, so --log-format json keeps every stderr line JSON.
        LOG.warning("run-glue: %s: stopping after the current dispatch", signal.Signals(signum).name)
        stop()

    saved = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)
