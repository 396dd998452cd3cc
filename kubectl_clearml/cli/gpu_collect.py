"""Data for gpu-report: nodes and pods from Kubernetes, the agent's queues, ClearML pending counts.

Everything reachable is read once: nodes and pods stream page by page (limit 500) into the pure model
(core/gpu.py) so a 100,000-pod cluster never sits in memory as a whole; terminal pods are filtered out by
the API server already. ClearML is optional (its absence becomes a note and PENDING shows '-'), and so is
the agent (no queue rows without it).
"""

from __future__ import annotations

import gc
import json
import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from kubectl_clearml.cli.agent_source import load_agent
from kubectl_clearml.cli.options import Globals
from kubectl_clearml.core.gpu import ClusterGpus, build_cluster
from kubectl_clearml.core.gpu_queues import QueueInput
from kubectl_clearml.errors import AuthError, KubectlClearmlError, ServerError

if TYPE_CHECKING:
    from kubectl_clearml.adapters.kube import Kube
    from kubectl_clearml.core.agent_config import AgentConfig

T = TypeVar("T")
NON_TERMINAL = "status.phase!=Succeeded,status.phase!=Failed"
PAGE_SIZE = 500


@dataclass
class GpuData:
    cluster: ClusterGpus  # every node: what queue verdicts and the dashboard check are about
    queues: list[QueueInput] | None = None  # None: no agent configuration found
    agent: AgentConfig | None = None
    clearml_ok: bool = False
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # a source that failed (worded as in every command)
    status: int = 0  # the exit status owed for it (connect.degraded_status)
    shown: ClusterGpus | None = None  # the nodes -l selects, for the node and product views (None: all)

    @property
    def view(self) -> ClusterGpus:
        return self.shown if self.shown is not None else self.cluster


def fetched_ahead(pages: Iterator[T], depth: int = 4) -> Iterator[T]:
    """Iterate ``pages`` while a background thread keeps fetching the next ones.

    A paginated list is a chain of request, wait for the server, decode: done in one thread, the server
    sits idle while we decode and build the model, and we sit idle while it encodes the next page. The
    thread only moves bytes (waiting on the socket without the GIL) and sends the next request as soon as
    the continue token is known; decoding stays with the consumer. Errors are re-raised here.
    """
    handoff: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False  # the consumer went away

    def produce() -> None:
        try:
            for page in pages:
                if not hand_over((False, page)):
                    return
            hand_over((True, None))
        except BaseException as exc:  # handed to the consumer, which re-raises it in its own thread
            hand_over((True, exc))

    threading.Thread(target=produce, name="list-fetch-ahead", daemon=True).start()
    try:
        while True:
            done, value = handoff.get()
            if done:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a long list streams in.

    Decoding 100,000 pods allocates millions of dicts and lists, each freed with its page by reference
    counting (JSON has no cycles); the collector would still scan the young ones every 700 allocations
    and now and then the whole heap (the imported libraries, the node model): a third of the CPU time of
    decoding and counting. Whatever cycles other code makes meanwhile are collected once it resumes.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def decoded_items(pages: Iterable[bytes], what: str) -> Iterator[dict[str, Any]]:
    for raw in pages:
        try:
            page = json.loads(raw)
        except ValueError:
            raise ServerError("the Kubernetes API server sent a response that is not JSON", what) from None
        yield from page.get("items") or []


def read_cluster(g: Globals, kube: Kube, node_selector: str | None) -> tuple[ClusterGpus, list[str]]:
    """Nodes, then every non-terminal pod of every namespace (GPU use is cluster-wide whatever -n says).

    -n/-A choose where the agent's task pods are attributed to queues from (default: the namespace). When
    listing pods cluster-wide is forbidden, only the namespace's pods are counted, with a note.
    """
    with collector_paused():
        return _read_cluster(g, kube, node_selector)


def _read_cluster(g: Globals, kube: Kube, node_selector: str | None) -> tuple[ClusterGpus, list[str]]:
    nodes = list(kube.list("nodes", label_selector=node_selector, page_size=PAGE_SIZE))
    queue_namespace = None if g.all_namespaces else kube.namespace
    notes: list[str] = []
    try:
        pages = kube.list_raw_pages("pods", all_namespaces=True, field_selector=NON_TERMINAL, page_size=PAGE_SIZE)
        pods = decoded_items(fetched_ahead(pages), "pods")
        cluster = build_cluster(nodes, pods, queue_namespace=queue_namespace)
    except AuthError as exc:
        notes.append(
            f"GPU use counts only the pods of namespace {kube.namespace}, so free GPUs may be overstated: "
            f"{exc.one_line()}"
        )
        pods = kube.list("pods", kube.namespace, field_selector=NON_TERMINAL, page_size=PAGE_SIZE)
        cluster = build_cluster(nodes, pods, queue_namespace=queue_namespace)
    return cluster, notes


def _label_selector(text: str | None) -> Any:
    from kubectl_clearml.core.selectors import SelectorError, parse_label_selector
    from kubectl_clearml.errors import UsageError

    if not text:
        return None
    try:
        return parse_label_selector(text)
    except SelectorError as exc:
        raise UsageError(f"invalid label selector: {exc}", f"-l {text}") from None


def selected_nodes(cluster: ClusterGpus, selector: Any) -> ClusterGpus:
    from kubectl_clearml.core.selectors import labels_match

    nodes = {name: n for name, n in cluster.nodes.items() if labels_match(selector, (n.node.get("metadata") or {}).get("labels"))}
    return ClusterGpus(nodes=nodes, pending_task_pods=cluster.pending_task_pods,
                       running_task_pods=cluster.running_task_pods, pods_seen=cluster.pods_seen)


def clearml_queues(g: Globals, kube: Kube | None) -> dict[str, dict[str, Any]]:
    """name (lower case) -> queue, from one queues.get_all call that includes hidden queues."""
    from kubectl_clearml.cli.connect import clearml_from

    client = clearml_from(g, kube if g.from_agent else None)
    answer = client.call(
        "queues.get_all", {"search_hidden": True, "only_fields": ["id", "name", "entries", "system_tags"]}
    )
    return {str(q.get("name", "")).lower(): q for q in answer.get("queues") or []}


def queue_inputs(cfg: AgentConfig, server: dict[str, dict[str, Any]] | None) -> list[QueueInput]:
    inputs = []
    by_id = {str(q.get("id")): q for q in (server or {}).values() if q.get("id")}  # the agent takes ids too
    for name in cfg.all_queues():
        template: dict[str, Any] | None
        error = None
        try:
            template = cfg.effective_template(name)
        except KubectlClearmlError as exc:
            template, error = None, f"template: {exc.one_line()}"
        found = (server.get(name.lower()) or by_id.get(name)) if server is not None else None
        inputs.append(
            QueueInput(
                name=name,
                template=template,
                error=error,
                pending_tasks=len(found.get("entries") or []) if found else (0 if server is not None else None),
                queue_id=found.get("id") if found else None,
                exists_in_clearml=None if server is None else found is not None,
            )
        )
    return inputs


def collect(
    g: Globals,
    *,
    node_selector: str | None,
    values: tuple[str, ...],
    release: str | None,
    want_queues: bool,
    require_queues: bool = False,
    use_clearml: bool,
) -> GpuData:
    from kubectl_clearml.cli.connect import clearml_is_optional_after, degraded_status, kube_from

    kube = kube_from(g)
    # -l narrows what is shown, never what is judged: a queue's verdict ("no node advertises", "no
    # eligible node") and the dashboard check are about the whole cluster, so every node is read.
    selector = _label_selector(node_selector)
    cluster, notes = read_cluster(g, kube, None)
    data = GpuData(cluster=cluster, notes=notes)
    if selector is not None:
        data.shown = selected_nodes(cluster, selector)
        notes.append(f"-l {node_selector} narrows the node and product views to {len(data.shown.nodes)} of "
                     f"{len(cluster.nodes)} node(s); queue verdicts and the dashboard check use the whole cluster")
    if not want_queues:
        return data
    try:
        data.agent = load_agent(g, kube, values, release)
    except KubectlClearmlError as exc:
        if values or release or require_queues:
            raise  # a values file or release the user named, or the view they asked for: an error, not a note
        data.notes.append(f"no queue view: {exc.one_line()}")
        return data
    data.notes.extend(n for n in data.agent.notes if "dashboard" in n)
    server: dict[str, dict[str, Any]] | None = None
    if use_clearml:
        try:
            server = clearml_queues(g, kube)
            data.clearml_ok = True
        except KubectlClearmlError as exc:
            if not clearml_is_optional_after(exc):
                raise
            data.warnings.append(f"ClearML unavailable, PENDING shows '-': {exc.one_line()}")
            data.status = degraded_status(exc)
    else:
        data.notes.append("ClearML not asked (--no-clearml), PENDING shows '-'")
    data.queues = queue_inputs(data.agent, server)
    if server is not None:
        from kubectl_clearml.core.queues import unserved_note, unserved_waiting

        waiting = unserved_waiting(server.values(), data.agent.queues)
        if waiting:  # the queue view lists the agent's queues: say what waits outside them, and show them
            data.warnings.append(unserved_note(waiting))
            data.queues += [
                QueueInput(
                    name=name,
                    template=None,
                    error="the agent does not serve this queue: nothing here will run its tasks (add it to the "
                    "agent's queues, or check another agent serves it)",
                    pending_tasks=pending,
                    queue_id=(server.get(name.lower()) or {}).get("id"),
                    exists_in_clearml=True,
                )
                for name, pending in waiting
            ]
    return data
