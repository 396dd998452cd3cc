"""`kubectl clearml gpu-report`: GPU capacity, use and fit per node, per GPU product and per queue."""

from __future__ import annotations

from typing import Any

import click

from kubectl_clearml.cli.connect import exit_degraded
from kubectl_clearml.cli.gpu_collect import GpuData, collect
from kubectl_clearml.cli.options import get_globals, global_options
from kubectl_clearml.cli.param_types import release_type
from kubectl_clearml.core.gpu import ClusterGpus, NodeGpus
from kubectl_clearml.core.gpu_queues import QueueReport, format_gpus, queue_reports
from kubectl_clearml.core.gpu_summary import dashboard_check, products, totals
from kubectl_clearml.errors import NotFoundError
from kubectl_clearml.output import (
    OUTPUT_FORMATS,
    PREFIX,
    TEMPLATE_FORMATS,
    Column,
    View,
    echo,
    note,
    render,
    sort_items,
    warn,
)

FORMATS = OUTPUT_FORMATS


def _status(row: dict[str, Any]) -> str:
    ready = row["ready"]
    head = "Ready" if ready else "NotReady" if ready is False else "Unknown"
    return ",".join([head] + [f for f in row["flags"] if f not in ("NotReady", "Unknown")])


NODE_COLUMNS = [
    Column("NODE", "name"),
    Column("PRODUCT", "product"),
    Column("CAPACITY", "capacity"),
    Column("ALLOCATABLE", "allocatable"),
    Column("REQUESTED", "requested"),
    Column("FREE", "free"),
    Column("CLEARML", "requestedByClearml"),
    Column("OTHER", "requestedByOthers"),
    Column("STATUS", _status),
    Column("RESOURCE", "resource", wide_only=True),
    Column("MODE", "mode", wide_only=True),
    Column("GPU-PODS", lambda r: f"{r['gpuPods']['clearml']}+{r['gpuPods']['other']}", wide_only=True),
    Column("TAINTS", "taints", wide_only=True),
]

PRODUCT_COLUMNS = [
    Column("PRODUCT", "product"),
    Column("NODES", "nodes"),
    Column("ALLOCATABLE", "allocatable"),
    Column("REQUESTED", "requested"),
    Column("FREE", "free"),
    Column("LARGEST-FREE", "largestFreeBlock"),
    Column("ON-NODE", "largestFreeBlockNode", wide_only=True),
    Column("RESOURCE", "resource", wide_only=True),
]

QUEUE_COLUMNS = [
    Column("QUEUE", "name"),
    Column("GPUS/POD", lambda r: format_gpus(r["gpusPerPod"])),
    Column("ELIGIBLE", lambda r: len(r["eligibleNodes"])),
    Column("FIT-NOW", "fitNow"),
    Column("PENDING", "pendingTasks"),
    Column("RUNNING", "runningPods"),
    Column("POD-PENDING", lambda r: len(r["pendingPods"])),
    Column("VERDICT", "verdict"),
    Column("WHY", "why"),
    Column("ELIGIBLE-NODES", "eligibleNodes", wide_only=True),
    Column("POD-REASONS", lambda r: "; ".join(_pod_reason(p) for p in r["pendingPods"]), wide_only=True),
]


def _pod_reason(pending: dict[str, Any]) -> str:
    # No scheduler message and none computed (it fits somewhere now, or the queue is misconfigured).
    return f"{pending['name']}: {pending['reason'] or 'not scheduled yet'}"


def node_rows(cluster: ClusterGpus, all_nodes: bool) -> list[dict[str, Any]]:
    """One row per GPU resource of each node (a MIG-mixed node has one per profile)."""
    rows: list[dict[str, Any]] = []
    for node in sorted(cluster.nodes.values(), key=lambda n: n.name):
        if not node.has_gpus and not all_nodes:
            continue
        base = _node_base(node)
        if not node.slots:
            rows.append(
                {
                    **base,
                    "resource": None,
                    "capacity": 0,
                    "allocatable": 0,
                    "requested": 0,
                    "free": 0,
                    "requestedByClearml": 0,
                    "requestedByOthers": 0,
                }
            )
        for slot in node.slots.values():
            rows.append({**base, **slot.to_dict()})
    return rows


def _node_base(node: NodeGpus) -> dict[str, Any]:
    doc = node.to_dict()
    doc.pop("resources")
    return doc


def queue_rows(reports: list[QueueReport]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in reports]


def summary(cluster: ClusterGpus, data: GpuData) -> tuple[dict[str, Any], list[str]]:
    total = totals(cluster)
    doc: dict[str, Any] = {
        "gpuNodes": len(cluster.gpu_nodes()),
        "physicalGpus": total.physical_gpus,
        "allocatable": total.allocatable,
        "requested": total.requested,
        "free": total.free,
    }
    per_resource = ", ".join(
        f"{name} {total.requested[name]}/{total.allocatable[name]} requested, {total.free[name]} free"
        for name in sorted(total.allocatable)
    )
    lines = [
        f"{doc['gpuNodes']} GPU node(s), {total.physical_gpus} GPU(s)" + (f": {per_resource}" if per_resource else "")
    ]
    agent = data.agent
    if agent is not None:
        doc["dashboardReportMaxGpu"] = agent.report_max_gpu
        doc["dashboardReportMaxGpuKey"] = agent.report_max_gpu_key
        check = dashboard_check(total, agent.report_max_gpu, agent.report_max_gpu_key)
        doc["dashboardCheck"] = check
        if check:
            lines.append(check)
    return doc, lines


@click.command("gpu-report", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--by", type=click.Choice(["node", "product", "queue"]), default=None, help="One view (default: products + queues)."
)
@click.option("-l", "--selector", "selector", metavar="SELECTOR", help="Show only nodes matching this label selector (verdicts still use every node).")
@click.option("--all-nodes", is_flag=True, help="Also list nodes without GPUs (node view).")
@click.option(
    "-f",
    "--values",
    "values",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Agent Helm values file(s) instead of the live install (queue view).",
)
@click.option("--release", metavar="NAME", type=release_type(), help="Helm release of the agent (default: found in -n).")
@click.option("--no-clearml", is_flag=True, help="Do not ask ClearML for pending tasks (PENDING shows '-').")
@click.option("-L", "--label-columns", "label_columns", multiple=True, metavar="LABEL", help="--by node: a column with each node's value of LABEL (repeatable), as kubectl get -L.")
@click.option("--sort-by", metavar="FIELD", help="Sort rows by a field of -o json's items (free, .requested, pendingTasks), as kubectl's --sort-by.")
@click.option("--watch", "-w", is_flag=True, help="Refresh every --interval seconds until Ctrl-C.")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(min=0.5), help="Seconds between refreshes.")
@global_options
def command(
    by: str | None,
    selector: str | None,
    all_nodes: bool,
    values: tuple[str, ...],
    release: str | None,
    no_clearml: bool,
    watch: bool,
    interval: float,
    sort_by: str | None,
    label_columns: tuple[str, ...],
) -> None:
    """GPU capacity, use and fit per node, per GPU product and per queue.

    GPU use is the sum of the effective requests of the non-terminal pods bound to each node, in every
    namespace; -n/-A choose where the agent (and its task pods) are looked for. MIG (mixed and single) and time-sliced GPUs
    are shown as their own products. The queue view tells, per agent queue, how many more task pods fit
    right now and why tasks wait: OK, WAITING FOR GPUS, NO ELIGIBLE NODE or MISCONFIGURED.

    \b
    Examples:
      kubectl clearml gpu-report
      kubectl clearml gpu-report --by node -o wide
      kubectl clearml gpu-report --by queue -n clearml
      kubectl clearml gpu-report --by queue -f values.yaml --no-clearml
      kubectl clearml gpu-report --by product -l nvidia.com/gpu.family=ampere -o json
      kubectl clearml gpu-report --by queue --watch
    """
    if watch:
        import contextlib
        import io

        from kubectl_clearml.cli.watch import watch as watch_loop

        def refresh() -> tuple[str, list[str]]:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):  # one report, printed by the watch loop in one piece
                _report(by, selector, all_nodes, values, release, no_clearml, sort_by, label_columns)
            return out.getvalue().rstrip("\n"), []  # a failed source is warned about each round

        watch_loop(refresh, interval, "kubectl clearml gpu-report" + (f" --by {by}" if by else ""))
        return
    exit_degraded(_report(by, selector, all_nodes, values, release, no_clearml, sort_by, label_columns))


def _report(by: str | None, selector: str | None, all_nodes: bool, values: tuple[str, ...], release: str | None,
            no_clearml: bool, sort_by: str | None = None, label_columns: tuple[str, ...] = ()) -> int:
    """One report on stdout; returns the exit status owed for a source that failed."""
    g = get_globals()
    fmt = g.output_format(FORMATS)
    want_queues = by in (None, "queue")
    data = collect(
        g,
        node_selector=selector,
        values=values,
        release=release,
        want_queues=want_queues,
        require_queues=by == "queue",
        use_clearml=not no_clearml,
    )
    for text in data.warnings:
        warn(text)
    for text in data.notes:
        note(text)
    if by == "queue" and data.queues is None:
        raise NotFoundError("no agent configuration for the queue view", hint="pass -f values.yaml or --release")
    cluster = data.cluster
    reports = queue_reports(data.queues or [], cluster)
    if by == "node":
        rows = sort_items(node_rows(data.view, all_nodes), sort_by)
        _label_values(rows, data.view, label_columns)
        _emit(
            View(
                "node",
                rows,
                [*NODE_COLUMNS, *_label_columns(label_columns)],
                document={"kind": "GpuNodeList", "items": rows},
                empty_message="No GPU nodes found (use --all-nodes to list the others).",
            ),
            fmt,
            g.no_headers,
        )
    elif by == "product":
        rows = sort_items([p.to_dict() for p in products(data.view)], sort_by)
        _emit(
            View(
                "product",
                rows,
                PRODUCT_COLUMNS,
                name_key="product",
                document={"kind": "GpuProductList", "items": rows},
                empty_message="No GPU products found.",
            ),
            fmt,
            g.no_headers,
        )
    elif by == "queue":
        rows = sort_items(queue_rows(reports), sort_by)
        _emit(
            View(
                "queue",
                rows,
                QUEUE_COLUMNS,
                document={"kind": "GpuQueueList", "items": rows},
                empty_message="No agent queues found.",
            ),
            fmt,
            g.no_headers,
        )
    else:
        _combined(data, reports, fmt, g.no_headers, all_nodes)
    return data.status


def _label_columns(labels: tuple[str, ...]) -> list[Column]:
    """-L/--label-columns: one column per node label, headed by its last name part, as kubectl -L does."""
    def cell(label: str) -> Any:
        return lambda row: (row.get("labels") or {}).get(label)

    return [Column(label.rsplit("/", 1)[-1].upper(), cell(label)) for label in labels]


def _label_values(rows: list[dict[str, Any]], cluster: ClusterGpus, labels: tuple[str, ...]) -> None:
    if not labels:
        return
    for row in rows:
        node_labels = (cluster.nodes[row["name"]].node.get("metadata") or {}).get("labels") or {}
        row["labels"] = {k: node_labels.get(k) for k in labels}


def _emit(view: View, fmt: str, no_headers: bool) -> None:
    if not view.items and fmt in ("table", "wide"):
        click.echo(f"{PREFIX}: {view.empty_message}", err=True)
        return
    if fmt == "name":
        echo(_names(view))
        return
    echo(render(view, fmt, no_headers=no_headers))


def _names(view: View) -> str:
    """`kind/name` once each: the node view has a row per GPU resource, so a MIG-mixed node appears twice."""
    names = dict.fromkeys(f"{view.kind}/{item.get(view.name_key)}" for item in view.items)
    return "".join(name + "\n" for name in names)


def _combined(data: GpuData, reports: list[QueueReport], fmt: str, no_headers: bool, all_nodes: bool) -> None:
    cluster = data.cluster
    product_rows = [p.to_dict() for p in products(data.view)]
    rows = queue_rows(reports)
    doc, lines = summary(cluster, data)
    if fmt in ("json", "yaml") or fmt.startswith(TEMPLATE_FORMATS):
        document = {
            "kind": "GpuReport",
            "cluster": doc,
            "nodes": node_rows(data.view, all_nodes),
            "products": product_rows,
            "queues": rows if data.queues is not None else None,
            "notes": data.warnings + data.notes,
        }
        echo(render(View("report", [], [], document=document), fmt))
        return
    if fmt == "name":  # like `kubectl get all -o name`: every kind shown, one per line
        product_names = _names(View("product", product_rows, PRODUCT_COLUMNS, name_key="product"))
        echo(product_names + _names(View("queue", rows, QUEUE_COLUMNS)))
        return
    # An empty table says so on stderr (as `kubectl get` does), never as a bare header on stdout.
    tables = [(View("product", product_rows, PRODUCT_COLUMNS), "No GPU nodes found.")]
    if data.queues is not None:
        tables.append((View("queue", rows, QUEUE_COLUMNS), "No agent queues found."))
    parts = []
    for view, empty_message in tables:
        if view.items:
            parts.append(render(view, fmt, no_headers=no_headers))
        else:
            click.echo(f"{PREFIX}: {empty_message}", err=True)
    parts.append("".join(line + "\n" for line in lines))
    echo("\n".join(parts))
