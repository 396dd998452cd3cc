"""`kubectl clearml submit-pod`: the pod a task gets on a queue, printed, checked by the server, or created.

Every read and every check happens before the one write (the pod), so a bad task id, queue, template or
image leaves nothing behind; ``--mark-started`` runs after the pod exists and deletes it again if ClearML
refuses, so the two never disagree.
"""

from __future__ import annotations

import re
import secrets
import sys
from dataclasses import dataclass, replace
from typing import Any

import click

from kubectl_clearml.cli.completion_values import complete_pending_task, complete_queue
from kubectl_clearml.cli.connect import clearml_from, kube_from
from kubectl_clearml.cli.options import Globals, dry_run_option, get_globals, global_options
from kubectl_clearml.cli.param_types import Seconds, release_type
from kubectl_clearml.cli.submit_pod_follow import follow_pod, stream_logs
from kubectl_clearml.cli.submit_pod_source import PodSource, resolve_source
from kubectl_clearml.core.podbuilder import BuiltPod, QueueRef, build_adhoc_pod, build_task_pod
from kubectl_clearml.core.secrets import redact_mapping
from kubectl_clearml.errors import ConflictError, KubectlClearmlError, NotFoundError, UsageError
from kubectl_clearml.logs import known_secrets
from kubectl_clearml.output import note, to_json, to_yaml, warn

OUTPUTS = ("yaml", "json", "name")
RUNNABLE_STATUSES = ("created", "queued", "stopped", "failed")
TASK_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Request:
    task_id: str | None
    queue: str
    image: str | None
    command: list[str]
    dry_run: str
    output: str | None
    wait: bool
    logs: bool
    timeout: float
    mark_started: bool


class SubmitPodCommand(click.Command):
    """Remembers whether words came after `--`: click hands them over mixed with TASK_ID, and `-- CMD`
    without --image must say so rather than look the command up as a task id."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["submit-pod.dashdash"] = "--" in args
        return super().parse_args(ctx, args)


@click.command("submit-pod", cls=SubmitPodCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("args", nargs=-1, metavar="TASK_ID | --image IMG -- CMD...", shell_complete=complete_pending_task)
@click.option(
    "--queue",
    "-q",
    "queue",
    required=True,
    metavar="Q",
    help="Queue whose pod template to use (name or id).",
    shell_complete=complete_queue,
)
@click.option("--image", metavar="IMG", help="Ad-hoc mode: run CMD (after --) in IMG on the queue's template, no task.")
@click.option(
    "-f", "--values", "values_files", multiple=True, metavar="PATH",
    help="Helm values file(s) of the agent (default: the live install in the namespace).",
)  # fmt: skip
@click.option("--template", "template_file", metavar="PATH", help="A pod template YAML to use instead (template.yaml).")
@click.option("--release", metavar="NAME", type=release_type(), help="Helm release of the agent (default: found, else clearml-agent).")
@click.option("--worker-id", metavar="ID", help="Worker id the CLEARML label is derived from (default: the agent's).")
@dry_run_option("client: print the pod; server: have the API server validate it; none: create it.")
@click.option("--wait", is_flag=True, help="Follow the pod to Running, showing scheduling and image-pull events.")
@click.option("--logs", is_flag=True, help="Stream the pod's log once it runs (implies --wait).")
@click.option("--timeout", default=300.0, show_default=True, type=Seconds(), metavar="SECONDS", help="Bound of --wait.")
@click.option("--mark-started", is_flag=True, help="Move the task to in_progress in ClearML once the pod exists.")
@click.option("--env", "env_pairs", multiple=True, metavar="NAME=VALUE", help="Ad-hoc mode: set an env variable in the container (repeatable).")
@click.option("--rm", "remove", is_flag=True, help="Ad-hoc mode: follow the pod to its end, then delete it (as kubectl run --rm).")
@click.option("--show-secrets", is_flag=True, help="Print secret values (HF_TOKEN=...) instead of '********', so the manifest can be applied.")
@global_options
def command(
    args: tuple[str, ...],
    queue: str,
    image: str | None,
    values_files: tuple[str, ...],
    template_file: str | None,
    release: str | None,
    worker_id: str | None,
    dry_run: str,
    wait: bool,
    logs: bool,
    timeout: float,
    mark_started: bool,
    env_pairs: tuple[str, ...],
    remove: bool,
    show_secrets: bool,
) -> None:
    """Build the pod a ClearML task would get on a queue; print it, validate it, or create it.

    \b
    Examples:
      kubectl clearml submit-pod 4a1b…e9 --queue 1xGPU --dry-run=client
      kubectl clearml submit-pod 4a1b…e9 --queue 1xGPU --wait --logs
      kubectl clearml submit-pod --queue 1xGPU --image nvidia/cuda:12.2.0-base-ubuntu22.04 -- nvidia-smi
    """
    g = get_globals()
    if (env_pairs or remove) and image is None:
        raise UsageError("--env and --rm are for ad-hoc pods", hint="submit-pod --queue Q --image IMG --env K=V --rm -- CMD")
    if remove and dry_run != "none":
        raise UsageError("--rm needs a created pod (--dry-run=none)")
    request = _request(args, queue, image, dry_run, g.output, wait or remove, logs, timeout, mark_started)
    kube = None if (dry_run == "client" and (values_files or template_file)) else kube_from(g)
    client = clearml_from(g, kube) if request.task_id or request.mark_started else None
    source = resolve_source(
        g, kube, client, request.queue, values_files=values_files, template_file=template_file,
        release=release, worker_id=worker_id, for_task=request.task_id is not None,
    )  # fmt: skip
    built = _build(request, source, client)
    _adjust(built.manifest, env_pairs)
    for text in [*source.notes, *built.notes]:
        note(text)
    for text in source.warnings:
        warn(text)
    if built.dropped:
        warn(built.status_message())
    namespace = _namespace(g, built, kube)
    built.manifest["metadata"]["namespace"] = namespace
    if dry_run == "client":
        _print(built.manifest, request.output or "yaml", show_secrets)
        return
    created = _create(kube, built, namespace, dry_run)
    if dry_run == "server":
        _print(created, request.output or "yaml", show_secrets)
        return
    if request.mark_started and request.task_id:
        _mark_started(client, kube, request.task_id, built, namespace)
    elif request.task_id and "--require-queue" in " ".join(built.manifest["spec"]["containers"][0].get("command") or []):
        # One rule with run-glue: the task stays queued (the pod's agent runs it only while it is, so no
        # second runner can take it); run-glue finds this pod and only removes the entry, and says so.
        note(f"task {request.task_id} stays queued in {source.queue_name} until its pod's agent starts it; "
             f"run-glue will see pod {built.name} and not launch another (--mark-started dequeues it now)")
    if request.output:
        _print(created, request.output, show_secrets)
    else:
        click.echo(f"pod/{built.name} created")
    if request.wait:
        follow_pod(kube, built.name, namespace, timeout=request.timeout, say=_say)
    if remove:
        _run_to_end_then_delete(kube, built.name, namespace, request)
        return
    if request.logs:
        stream_logs(kube, built.name, namespace, click.echo)
        # The log ends with the container: say how the task ended (the pod's exit code is the task's).
        final = follow_pod(
            kube, built.name, namespace, timeout=request.timeout, say=lambda _: None, until=("Succeeded", "Failed")
        )
        code = f", exit code {final.exit_code}" if final.exit_code is not None else ""
        _say(f"pod/{built.name}: {final.phase}{code}")


def _adjust(manifest: dict[str, Any], env_pairs: tuple[str, ...]) -> None:
    """--env into the first container (replacing a variable of the same name), and no empty label values
    (an ad-hoc pod without a ClearML queue id got `clearml-agent-queue: ''`)."""
    labels = manifest.get("metadata", {}).get("labels") or {}
    for key in [k for k, v in labels.items() if v == ""]:
        del labels[key]
    if not env_pairs:
        return
    container = manifest["spec"]["containers"][0]
    env = container.setdefault("env", [])
    for pair in env_pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--env {pair.split('=')[0]!r} is not NAME=VALUE", hint="e.g. --env HF_HOME=/data/hf")
        env[:] = [e for e in env if e.get("name") != name] + [{"name": name, "value": value}]


def _run_to_end_then_delete(kube: Any, name: str, namespace: str, request: Request) -> None:
    """--rm: stream the log when asked, wait for the end, delete the pod (also when interrupted)."""
    try:
        if request.logs:
            stream_logs(kube, name, namespace, click.echo)
        final = follow_pod(kube, name, namespace, timeout=request.timeout, say=lambda _: None,
                           until=("Succeeded", "Failed"))
        code = f", exit code {final.exit_code}" if final.exit_code is not None else ""
        _say(f"pod/{name}: {final.phase}{code}")
    finally:
        kube.delete("pods", name, namespace, ignore_missing=True)
        _say(f"pod/{name} deleted (--rm)")


def _request(
    args: tuple[str, ...],
    queue: str,
    image: str | None,
    dry_run: str,
    output: str | None,
    wait: bool,
    logs: bool,
    timeout: float,
    mark_started: bool,
) -> Request:
    if output is not None and output not in OUTPUTS:
        raise UsageError(f"unsupported output format {output!r}", hint="use one of: " + ", ".join(OUTPUTS))
    if timeout <= 0:
        raise UsageError("--timeout must be positive")
    if image is not None:
        if not args:
            raise UsageError("--image needs a command", hint="submit-pod --queue Q --image IMG -- CMD [ARGS...]")
        if mark_started:
            raise UsageError("--mark-started needs a task; an ad-hoc pod has none")
        if TASK_ID.match(args[0]):
            # `submit-pod TASK --image IMG -- CMD` would run the task id as a command in an ad-hoc pod.
            raise UsageError(
                f"{args[0]} looks like a task id, and --image runs an ad-hoc pod without a task",
                hint="submit-pod TASK_ID --queue Q runs the task (its image is set on the task); "
                "submit-pod --queue Q --image IMG -- CMD runs CMD",
            )
        task_id, command = None, list(args)
    else:
        if click.get_current_context().meta.get("submit-pod.dashdash"):
            raise UsageError(
                "`-- CMD` needs --image",
                hint="submit-pod --queue Q --image IMG -- CMD runs CMD in an ad-hoc pod; "
                "submit-pod TASK_ID --queue Q runs a task",
            )
        if len(args) != 1:
            raise UsageError(
                "give exactly one TASK_ID" if args else "missing TASK_ID",
                hint="submit-pod TASK_ID --queue Q, or --image IMG -- CMD for an ad-hoc pod",
            )
        task_id, command = args[0], []
        if not task_id.strip():
            raise UsageError("the TASK_ID is empty", hint="give the task's id (kubectl clearml queues show QUEUE lists them)")
    if not queue.strip():
        raise UsageError("--queue is empty", hint="give the queue's name or id (kubectl clearml queues lists them)")
    if dry_run != "none" and (wait or logs or mark_started):
        raise UsageError("--wait, --logs and --mark-started need a created pod (--dry-run=none)")
    return Request(task_id, queue, image, command, dry_run, output, wait or logs, logs, timeout, mark_started)


def _build(request: Request, source: PodSource, client: Any) -> BuiltPod:
    queue = QueueRef(source.queue_id, source.queue_name)
    if request.task_id is None:
        assert request.image is not None
        run_id = secrets.token_hex(4)
        return build_adhoc_pod(request.image, request.command, queue, source.template, source.settings, run_id=run_id)
    task = _fetch_task(client, request.task_id)
    status = str(task.get("status") or "")
    if status not in RUNNABLE_STATUSES:
        raise UsageError(
            f"task {request.task_id} is {status or 'in an unknown status'}",
            hint="only created, queued, stopped or failed tasks can be run: reset or clone it in ClearML first",
        )
    settings = source.settings
    if status != "queued" or request.mark_started:
        # --require-queue makes the in-pod agent refuse a task that is not queued: keep it only when the
        # queue is what guards against a second runner (the task is queued and we leave it so).
        settings = replace(settings, execute_args=tuple(a for a in settings.execute_args if a != "--require-queue"))
    return build_task_pod(task, queue, source.template, settings, project_name=_project_name(client, task))


def _fetch_task(client: Any, task_id: str) -> dict[str, Any]:
    data = client.call("tasks.get_by_id", {"task": task_id})
    task = data.get("task") if isinstance(data, dict) else None
    if not isinstance(task, dict):
        raise NotFoundError(f"task {task_id!r} not found", "ClearML", "check the id (copy it from the task page)")
    return task


def _project_name(client: Any, task: dict[str, Any]) -> str | None:
    project = task.get("project")
    if not isinstance(project, str) or not project:
        return None
    try:
        found = client.call("projects.get_all", {"id": [project], "only_fields": ["id", "name"]}).get("projects") or []
    except KubectlClearmlError:
        return None  # an annotation is not worth failing the command for
    return str(found[0].get("name")) if found else None


def _namespace(g: Globals, built: BuiltPod, kube: Any) -> str:
    if g.namespace:
        return g.namespace
    if built.namespace:
        return built.namespace
    return str(kube.namespace) if kube is not None else "default"


def _create(kube: Any, built: BuiltPod, namespace: str, dry_run: str) -> dict[str, Any]:
    try:
        result = kube.create("pods", built.manifest, namespace, dry_run="server" if dry_run == "server" else None)
    except ConflictError:
        # The name is the task's: a pod exists already (a glue launched it, or an earlier submit-pod).
        raise UsageError(
            f"pod {built.name} already exists in namespace {namespace}",
            hint=f"the task already has a pod; kubectl delete pod {built.name} -n {namespace} to run it again",
        ) from None
    return result if isinstance(result, dict) else built.manifest


def _mark_started(client: Any, kube: Any, task_id: str, built: BuiltPod, namespace: str) -> None:
    reason = f"pod {namespace}/{built.name} created by kubectl clearml submit-pod"
    try:
        task = _fetch_task(client, task_id)
        if task.get("status") == "queued":
            client.call("tasks.dequeue", {"task": task_id, "status_reason": reason})  # no glue may pull it now
        payload = {"task": task_id, "force": True, "status_reason": reason}
        if built.status_message():
            payload["status_message"] = built.status_message()
        client.call("tasks.started", payload)
    except KubectlClearmlError:
        kube.delete("pods", built.name, namespace, ignore_missing=True)
        _say(f"pod/{built.name} deleted again: the task's status could not be changed")
        raise


def _print(obj: dict[str, Any], output: str, show_secrets: bool = False) -> None:
    plain = _without_server_noise(obj)
    masked = plain if show_secrets else redact_mapping(plain, known_secrets())
    if masked != plain and output != "name":
        # `> pod.yaml && kubectl apply -f pod.yaml` would create a pod with HF_TOKEN=********: say so.
        note("secret values are masked as '********': this manifest cannot be applied as printed "
             "(--show-secrets prints them; submit-pod --template refuses a masked file)")
    if output == "name":
        click.echo(f"pod/{(obj.get('metadata') or {}).get('name')}")
    elif output == "json":
        click.echo(to_json(masked), nl=False)
    else:
        click.echo(to_yaml(masked), nl=False)


def _without_server_noise(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = dict(obj.get("metadata") or {})
    metadata.pop("managedFields", None)
    return {**obj, "metadata": metadata}


def _say(text: str) -> None:
    # event messages quote what the task chose (its image name): redacted, control characters escaped
    from kubectl_clearml.core.terminal import escape_terminal
    from kubectl_clearml.logs import redact

    sys.stderr.write(escape_terminal(redact(text)) + "\n")
