"""`kubectl clearml why TASK_ID`: why a task is not running (or why it failed), from ClearML to the node.

fetch (here: ClearML task and queues, the agent install, the task's pod, nodes, the pod's log) -> pure
verdict and evidence (core/why.py) -> one verdict line, the evidence, the fix. ``--watch`` repeats until the
task runs or ends, printing the verdict each time it changes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click

from kubectl_clearml.cli.agent_source import release_option, values_option
from kubectl_clearml.cli.options import Globals, get_globals, global_options
from kubectl_clearml.cli.param_types import Seconds
from kubectl_clearml.errors import KubectlClearmlError, NotFoundError, UsageError

FORMATS = ("table", "json", "yaml")
TASK_FIELDS = ["id", "name", "status", "status_message", "status_reason", "execution.queue", "last_worker",
               "status_changed", "container", "type"]
LOG_TAIL = 200
SUGGESTIONS = 5


@click.command("why")
@click.argument("task_id")
@values_option()
@release_option()
@click.option("--watch", "-w", is_flag=True, help="Follow the task until it runs or ends (Ctrl-C stops).")
@click.option("--interval", type=Seconds(0.1, 60), default=2.0, show_default=True,
              help="Seconds between looks with --watch.")
@global_options
def command(task_id: str, values: tuple[str, ...], release: str | None, watch: bool, interval: float) -> None:
    """Why a task is not running, or why it failed: one verdict line, then the evidence and the fix.

    TASK_ID may be a unique prefix of the id, as in the ClearML UI. The evidence follows the task from
    ClearML (status, queue position) through the agent (is the queue served, which template) to Kubernetes
    (the pod, its scheduling, node fit, image pull, container state, the log around a known failure).

    \b
    Examples:
      kubectl clearml why 3f2a9c
      kubectl clearml why 3f2a9c -o json
      kubectl clearml why 3f2a9c --watch
    """
    from kubectl_clearml.cli.connect import clearml_from, kube_from
    from kubectl_clearml.core.why import verdict

    g = get_globals()
    fmt = g.output_format(FORMATS)
    kube = kube_from(g)
    client = clearml_from(g, kube)
    task = resolve_task(client, task_id)
    last = None
    while True:
        facts = gather(g, kube, client, task, values, release)
        found = verdict(facts)
        if found.line != last:
            emit(facts, found, fmt, watching=watch)
            last = found.line
        if not watch or found.settled:
            return
        time.sleep(interval)
        task = _task(client, str(task["id"]))


def resolve_task(client: Any, prefix: str) -> dict[str, Any]:
    """The task an id or a unique id prefix names; else a "did you mean" error."""
    from kubectl_clearml.core.why import resolve_prefix

    if not re.fullmatch(r"[0-9A-Za-z_-]+", prefix):
        raise UsageError(f"{prefix!r} is not a task id", hint="pass the task id (or a unique prefix) from the UI")
    exact = client.call("tasks.get_all", {"id": [prefix], "only_fields": TASK_FIELDS}).get("tasks") or []
    if exact:
        return dict(exact[0])
    candidates = client.call("tasks.get_all", {"_any_": {"pattern": f"^{prefix}", "fields": ["id"]},
                                               "only_fields": ["id", "name", "status"],
                                               "page_size": SUGGESTIONS + 1}).get("tasks") or []
    task, matching = resolve_prefix(prefix, candidates)
    if task is not None:
        return _task(client, str(task["id"]))
    if matching:
        names = ", ".join(f"{c['id']} ({c.get('name')})" for c in matching[:SUGGESTIONS])
        raise UsageError(f"task id prefix {prefix!r} is ambiguous", hint=f"did you mean: {names}")
    by_name = client.call("tasks.get_all", {"name": f"^{re.escape(prefix)}$", "only_fields": ["id", "name"],
                                            "page_size": SUGGESTIONS}).get("tasks") or []
    hint = ("did you mean: " + ", ".join(f"{t['id']} ({t.get('name')})" for t in by_name)) if by_name else \
        "copy the id from the ClearML UI (task info) or from kubectl clearml queues show QUEUE"
    raise NotFoundError(f"task {prefix!r} not found", "ClearML", hint)


def _task(client: Any, task_id: str) -> dict[str, Any]:
    tasks = client.call("tasks.get_all", {"id": [task_id], "only_fields": TASK_FIELDS}).get("tasks") or []
    if not tasks:
        raise NotFoundError(f"task {task_id!r} not found", "ClearML", "it was deleted meanwhile")
    return dict(tasks[0])


def gather(g: Globals, kube: Any, client: Any, task: dict[str, Any], values: tuple[str, ...],
           release: str | None) -> Any:
    """The facts core/why.py judges, read concurrently where they do not depend on each other."""
    from kubectl_clearml.cli.agent_source import load_agent
    from kubectl_clearml.core.why import TaskFacts

    task_id = str(task["id"])
    facts = TaskFacts(task=task)
    with ThreadPoolExecutor(4, thread_name_prefix="why") as pool:
        queues_f = pool.submit(client.call, "queues.get_all", {"search_hidden": True,
                                                               "only_fields": ["id", "name", "system_tags", "entries"]})
        cfg_f = pool.submit(_optional, lambda: load_agent(g, kube, values, release))
        pods_f = pool.submit(_optional, lambda: list(kube.list("pods", kube.namespace, all_namespaces=g.all_namespaces,
                                                             label_selector=f"clearml-task-id={task_id}")))
        nodes_f = pool.submit(_optional, lambda: (list(kube.list("nodes")), list(kube.list(
            "pods", all_namespaces=True, field_selector="status.phase!=Succeeded,status.phase!=Failed"))))
        workers_f = pool.submit(_optional, lambda: client.call("workers.get_all", {"last_seen": 600}))
        queues = list(queues_f.result().get("queues") or [])
        cfg, pods, cluster = cfg_f.result(), pods_f.result(), nodes_f.result()
    _place(facts, task, queues)
    workers = workers_f.result()
    if facts.position is not None and not isinstance(workers, KubectlClearmlError):
        facts.polled = any(facts.position.queue_id in {str(q.get("id") if isinstance(q, dict) else q)
                                                       for q in w.get("queues") or ()}
                           for w in workers.get("workers") or ())
    if not isinstance(cfg, KubectlClearmlError):
        _served(facts, cfg, queues)
    if isinstance(pods, KubectlClearmlError):
        facts.pod_unknown = pods.one_line()
    elif pods:
        pods.sort(key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""))
        facts.pod = pods[-1]
    if not isinstance(cluster, KubectlClearmlError):
        _fit(facts, cfg, queues, *cluster)
    if facts.pod is not None and (facts.pod.get("status") or {}).get("phase") in ("Running", "Failed", "Succeeded"):
        _logs(facts, kube)
    return facts


def _optional(fn: Any) -> Any:
    try:
        return fn()
    except KubectlClearmlError as exc:
        return exc


def _place(facts: Any, task: dict[str, Any], queues: list[dict[str, Any]]) -> None:
    from kubectl_clearml.core.queues import is_hidden, parse_time
    from kubectl_clearml.core.why import Position

    task_id = str(task["id"])
    queue_id = str((task.get("execution") or {}).get("queue") or "")
    by_id = {str(q.get("id")): q for q in queues}
    if queue_id in by_id:
        facts.queue_name = str(by_id[queue_id].get("name"))
    holding = [q for q in queues if any(str(e.get("task")) == task_id for e in q.get("entries") or ())]
    holding.sort(key=lambda q: (str(q.get("id")) != queue_id, is_hidden(q)))
    if not holding:
        return
    queue = holding[0]
    entries = list(queue.get("entries") or ())
    index = next(i for i, e in enumerate(entries) if str(e.get("task")) == task_id)
    added = parse_time(entries[index].get("added"))
    facts.position = Position(str(queue.get("id")), str(queue.get("name")), index + 1, len(entries),
                              time.time() - added if added is not None else None, is_hidden(queue))
    facts.queue_name = facts.queue_name or facts.position.queue_name


def _served(facts: Any, cfg: Any, queues: list[dict[str, Any]]) -> None:
    from kubectl_clearml.core.queues import served_entry, template_summary

    facts.agent_known = True
    name = facts.position.queue_name if facts.position is not None and not facts.position.hidden else facts.queue_name
    if not name:
        return
    queue_id = next((q.get("id") for q in queues if q.get("name") == name), None)
    facts.served_entry = served_entry(cfg.queues, name, queue_id)
    if facts.served_entry is not None:
        try:
            facts.template = template_summary(cfg.effective_template(facts.served_entry), cfg.base_template)
        except KubectlClearmlError:
            facts.template = None


def _fit(facts: Any, cfg: Any, queues: list[dict[str, Any]], nodes: list[dict[str, Any]],
         pods: list[dict[str, Any]]) -> None:
    """Node fit for the task's pod (pending), else the queue's GPU verdict and where a pod of its template
    would fit (queued, served, no pod yet)."""
    from kubectl_clearml.core.scheduling import filter_reasons, requested_by_node
    from kubectl_clearml.core.why import NodeFit

    pod = facts.pod
    used = requested_by_node(pods)

    def fit_of(candidate: Mapping[str, Any]) -> list[Any]:
        return [NodeFit(n["metadata"]["name"], filter_reasons(candidate, n, used.get(n["metadata"]["name"])))
                for n in nodes]

    if pod is not None and (pod.get("status") or {}).get("phase") == "Pending" and not (pod.get("spec") or {}).get(
            "nodeName"):
        facts.node_fit = fit_of(pod)
        return
    if pod is not None or facts.served_entry is None or isinstance(cfg, KubectlClearmlError):
        return
    if facts.position is None or facts.position.hidden:
        return
    from kubectl_clearml.cli.gpu_collect import queue_inputs
    from kubectl_clearml.core.gpu import build_cluster
    from kubectl_clearml.core.gpu_queues import largest_free, queue_report

    server = {str(q.get("name", "")).lower(): q for q in queues}
    wanted = [i for i in queue_inputs(cfg, server) if i.name == facts.served_entry]
    if not wanted:
        return
    cluster = build_cluster(nodes, pods)
    report = queue_report(wanted[0], cluster)
    if wanted[0].template is not None:  # where a pod of the queue's template would fit now
        facts.node_fit = fit_of(wanted[0].template)
    facts.gpu_verdict, facts.gpu_why = report.verdict, report.why
    gpus = report.gpus_per_pod
    if gpus:
        resource, amount = max(gpus.items(), key=lambda item: item[1])
        eligible = [cluster.nodes[n] for n in report.eligible_nodes if n in cluster.nodes]
        facts.gpus_needed, facts.largest_free = amount, largest_free(resource, eligible)[0]


def _logs(facts: Any, kube: Any) -> None:
    from kubectl_clearml.core.shm import find_shm_failures, termination_messages

    meta = facts.pod["metadata"]
    try:
        text = kube.pod_log(meta["name"], meta.get("namespace"), tail_lines=LOG_TAIL)
    except KubectlClearmlError:
        text = ""
    text = "\n".join([*termination_messages(facts.pod), text])
    facts.log_lines = [line for line in text.splitlines() if line.strip()]
    facts.shm_failures = find_shm_failures(text)


def emit(facts: Any, found: Any, fmt: str, *, watching: bool) -> None:
    from kubectl_clearml.core.why import evidence

    lines = evidence(facts)
    if fmt != "table":
        from kubectl_clearml.output import to_json, to_yaml

        document = {"kind": "TaskDiagnosis", "apiVersion": "kubectl-clearml.why/v1", "task": facts.task.get("id"),
                    "verdict": found.line, "fix": found.fix, "settled": found.settled,
                    "evidence": [{"label": label.strip(), "value": value} for label, value in lines]}
        click.echo(to_json(document) if fmt == "json" else to_yaml(document), nl=fmt == "json")
        return
    from kubectl_clearml.core.terminal import escape_terminal
    from kubectl_clearml.logs import redact

    def safe(text: Any) -> str:  # task names and log lines: any ClearML user chose them
        return escape_terminal(redact(str(text)))

    stamp = time.strftime("%H:%M:%S ") if watching else ""
    click.echo(f"{stamp}{safe(found.line)}")
    width = max((len(label) for label, _ in lines), default=0)
    for label, value in lines:
        click.echo(f"  {label:<{width}}  {safe(value)}")
    if found.fix:
        click.echo(f"  {'fix':<{width}}  {safe(found.fix)}")
