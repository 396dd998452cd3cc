"""``kubectl clearml diff-template``: the effective pod template per queue, shown and compared.

Fetch (values files and/or the live install) → pure model (core/agent_config, core/templates) → comparisons
(core/diff) → one renderer per ``-o`` format. Exit codes follow ``kubectl diff``: 0 no differences,
1 differences, >= 2 errors (2 bad input, 3 not found, 4 forbidden, 5 unreachable).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from kubectl_clearml.cli.agent_source import release_option, values_option
from kubectl_clearml.cli.completion_values import complete_served_queue
from kubectl_clearml.cli.options import Globals, get_globals, global_options
from kubectl_clearml.core.agent_config import AgentConfig, config_from_user_values
from kubectl_clearml.core.diff import (
    Comparison,
    colorize_diff,
    json_patch,
    normalise,
    structured_report,
    summary_rows,
    unified_text_diff,
)
from kubectl_clearml.core.diff import to_yaml as diff_yaml
from kubectl_clearml.core.lint import Finding, did_you_mean, lint_config, lint_pod_template
from kubectl_clearml.core.templates import MERGE_MODES
from kubectl_clearml.errors import ExitStatus, NotFoundError, UsageError
from kubectl_clearml.logs import known_secrets, redact
from kubectl_clearml.output import PREFIX, diagnostic, paint, render_table, to_json, to_yaml, use_color
from kubectl_clearml.output import note as _note

FORMATS = ("diff", "json-patch", "json", "yaml", "structured")
BASE = "base"

EPILOG = """\b
Examples:
  # What queue 'green' changes against the base template, from values files (no cluster needed)
  kubectl clearml diff-template green -f values.yaml
  # Two queues side by side; every queue with a summary table
  kubectl clearml diff-template 1xGPU 2xGPU -n clearml
  kubectl clearml diff-template --all -n clearml
  # The effective template of one queue, as the agent would use it
  kubectl clearml diff-template --show GPUshm -n clearml -o yaml
  # What 'helm upgrade -f new.yaml' would change, per queue
  kubectl clearml diff-template --live -f new.yaml -n clearml
  # Our computed templates vs the ones rendered in the live ConfigMap (merge rule or dropped keys)
  kubectl clearml diff-template --rendered -n clearml
  # Only the checks (unknown keys, GPU limits, default credentials, ...)
  kubectl clearml diff-template --lint -f values.yaml

\b
Exit status: 0 no differences, 1 differences (or --lint findings), 2 bad input, 3 not found
(queue, release, install), 4 forbidden, 5 cluster unreachable.
"""


@click.command(
    "diff-template",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog=EPILOG,
)
@click.argument("queues", nargs=-1, metavar="[QUEUE [QUEUE2]]", shell_complete=complete_served_queue)
@click.option("--all", "all_queues", is_flag=True, help="Every queue against the base, with a summary table.")
@click.option("--show", metavar="QUEUE", help="Print one queue's effective template (default -o yaml).")
@values_option("values_files")
@release_option()
@click.option("--live", is_flag=True, help="Compare the -f values against the live install (what an upgrade changes).")
@click.option(
    "--reuse-values", is_flag=True, help="With --live: layer -f over the release's values (helm --reuse-values)."
)
@click.option("--rendered", is_flag=True, help="Compare computed templates with the live ConfigMap's template.yaml.")
@click.option(
    "--merge",
    type=click.Choice(MERGE_MODES),
    default=None,
    help="How templateOverrides combine with basePodTemplate (default: the chart's rule: replace for 4.x, deep for "
    "enterprise 6.x): deep (maps merge, lists replace), replace (each key replaced) or strategic (Kubernetes).",
)
@click.option(
    "--flavour",
    type=click.Choice(("oss", "enterprise")),
    help="Chart flavour of -f values (default: the live chart, else guessed from the keys; a mix of `queue` and `queues` reads as open-source, with a warning).",
)
@click.option(
    "-C",
    "--diff-context",
    "context_lines",
    type=int,
    default=3,
    show_default=True,
    help="Diff context lines (-1: all).",
)
@click.option("--lint", "lint_only", is_flag=True, help="Only run the checks; exit 1 when they find something.")
@global_options
def command(
    queues: tuple[str, ...],
    all_queues: bool,
    show: str | None,
    values_files: tuple[str, ...],
    release: str | None,
    live: bool,
    reuse_values: bool,
    rendered: bool,
    merge: str | None,
    flavour: str | None,
    context_lines: int,
    lint_only: bool,
) -> int:
    """Show and diff the effective pod template per queue (base + templateOverrides).

    Output: -o diff (default; coloured unified YAML diff), json-patch (RFC 6902), structured
    (helm-diff's JSON), json|yaml (the templates themselves). Secrets are masked in every output.
    """
    g = get_globals()
    fmt = g.output_format(FORMATS, default="yaml" if show else "diff")
    _check_flags(queues, all_queues, show, values_files, live, reuse_values, rendered, lint_only)
    if show and fmt not in ("json", "yaml"):
        raise UsageError(f"-o {fmt} compares templates: --show prints one", hint="use -o yaml or -o json with --show")
    from kubectl_clearml.adapters.agent_install import load_values_files

    layers = load_values_files(values_files)
    cfg, install = _load(g, layers, release, flavour, needs_cluster=live or rendered or not layers)
    for note in cfg.notes:
        _note(note)
    if cfg.flavour == "enterprise" and any(cfg.has_overrides(q) for q in cfg.all_queues()):
        _note(merge_note(cfg, merge))
    findings = _lint(cfg, install, merge)
    target = None
    if (live or rendered) and layers:
        # The -f files are what the user is about to `helm upgrade` with: check them, not only the install.
        target = _values_target(cfg, install, layers, reuse_values, flavour)
        findings += [f for f in lint_config(target, merge) if f not in findings]  # type: ignore[arg-type]
    if lint_only:
        return _print_findings(findings)
    for finding in findings:
        # Beside a diff, a finding is a diagnostic: the same 'kubectl clearml: warning:' shape as every other,
        # the word once ('warning: lint: ...', 'warning: lint error: ...', never 'warning: lint warning:').
        rest = finding.one_line().split(": ", 1)[1]
        diagnostic("warning", f"lint: {rest}" if finding.level == "warning" else f"lint {finding.level}: {rest}")
    if show:
        _require(cfg, [show])
        _emit(fmt, _clean(cfg.effective_template(show, merge)))  # type: ignore[arg-type]
        return int(ExitStatus.OK)
    if live:
        assert target is not None
        comparisons = _live(cfg, target, queues, merge)
    elif rendered:
        comparisons = _rendered(cfg, install, target, queues, merge)
    else:
        comparisons = _queues(cfg, queues, all_queues or not queues, merge)
    _render(g, fmt, comparisons, context_lines, summary=all_queues or not (queues or live or rendered))
    return int(ExitStatus.DIFFERENCES if any(c.differs for c in comparisons) else ExitStatus.OK)


def _check_flags(
    queues: tuple[str, ...],
    all_queues: bool,
    show: str | None,
    values_files: tuple[str, ...],
    live: bool,
    reuse_values: bool,
    rendered: bool,
    lint_only: bool,
) -> None:
    if live and rendered:
        raise UsageError("--live and --rendered are exclusive")
    if live and not values_files:
        raise UsageError("--live compares values files with the live install", hint="pass -f values.yaml")
    if reuse_values and not live:
        raise UsageError("--reuse-values only applies with --live")
    if show and (queues or all_queues or live or rendered):
        raise UsageError("--show takes one queue and no other comparison")
    if all_queues and queues:
        raise UsageError("--all compares every queue: name no queue with it")
    if len(queues) > 2:
        raise UsageError("name at most two queues", hint="use --all for every queue")


def _load(
    g: Globals, layers: list[dict[str, Any]], release: str | None, flavour: str | None, *, needs_cluster: bool
) -> tuple[AgentConfig, Any]:
    if not needs_cluster:
        cfg = config_from_user_values(
            layers,
            flavour=flavour,  # type: ignore[arg-type]
            release=release,
            namespace=g.namespace or "default",
        )
        return cfg, None
    from kubectl_clearml.adapters.agent_install import find_install
    from kubectl_clearml.cli.connect import kube_from

    kube = kube_from(g)
    install = find_install(kube, kube.namespace, release)
    cfg = install.config
    rel = install.release
    origin = (
        f"release {rel.name} ({rel.chart_name} {rel.chart_version}, revision {rel.version})"
        if rel is not None
        else "its live Deployment and ConfigMap"
    )
    _note(f"agent install {install.name} in namespace {install.namespace} from {origin}")
    return cfg, install


def _values_target(
    cfg: AgentConfig, install: Any, layers: list[dict[str, Any]], reuse: bool, flavour: str | None
) -> AgentConfig:
    """The configuration the -f files give, over the live chart's defaults (and its values with --reuse-values)."""
    rel = install.release if install is not None else None
    target = config_from_user_values(
        ([rel.config] if rel is not None and reuse else []) + layers,
        flavour=flavour or cfg.flavour,  # type: ignore[arg-type]
        release=cfg.release,
        namespace=cfg.namespace,
        chart_defaults=rel.chart_values if rel is not None else None,
        chart_name=rel.chart_name if rel is not None else None,
    )
    if rel is None:
        _note("no live release values: the -f files are merged over the embedded chart defaults")
    return target


def _live(cfg: AgentConfig, target: AgentConfig, queues: tuple[str, ...], merge: Any) -> list[Comparison]:
    known = _union(cfg.all_queues(), target.all_queues())
    names = list(queues) or known
    _require_any(names, known)
    out = []
    for q in names:
        left = _clean(cfg.effective_template(q, merge)) if cfg.has_queue(q) else None
        right = _clean(target.effective_template(q, merge)) if target.has_queue(q) else None
        out.append(Comparison(q, f"live/{q}", f"values/{q}", left, right))
    return out


def _rendered(
    cfg: AgentConfig, install: Any, target: AgentConfig | None, queues: tuple[str, ...], merge: Any
) -> list[Comparison]:
    live = install.rendered
    if live is None:
        raise NotFoundError("the live template ConfigMap was not found", f"agent {install.name}")
    computed = target if target is not None else cfg
    if not computed.values_known:
        raise UsageError("no release values to compute templates from", hint="pass the install's values with -f")
    src = "values" if target is not None else "computed"
    if live.single is not None and not queues:
        return [
            Comparison(
                "template", f"{src}/base", "live/template.yaml", _clean(computed.base_template), _clean(live.single)
            )
        ]
    known = _union(computed.all_queues(), list(live.per_queue))
    names = list(queues) or known
    _require_any(names, known + computed.queues)
    out = []
    for q in names:
        left = _clean(computed.effective_template(q, merge)) if computed.has_queue(q) else None
        found = live.for_queue(q)
        out.append(Comparison(q, f"{src}/{q}", f"live/{q}", left, _clean(found) if found is not None else None))
    return out


def _queues(cfg: AgentConfig, queues: tuple[str, ...], every: bool, merge: Any) -> list[Comparison]:
    if len(queues) == 2:
        _require(cfg, queues)
        a, b = queues
        return [
            Comparison(
                f"{a}..{b}", a, b, _clean(cfg.effective_template(a, merge)), _clean(cfg.effective_template(b, merge))
            )
        ]
    if not cfg.values_known and cfg.rendered is not None and cfg.rendered.single is None:
        raise UsageError(
            "this install has per-queue templates and no readable base (no Helm release)",
            hint="compare two queues: diff-template Q1 Q2",
        )
    names = cfg.all_queues() if every else list(queues)
    _require(cfg, names)
    if cfg.flavour == "oss":
        _note("open-source chart: one pod template for every queue of the release")
    base = _clean(cfg.base_template)
    return [Comparison(q, BASE, q, base, _clean(cfg.effective_template(q, merge))) for q in names]


def merge_note(cfg: AgentConfig, merge: str | None) -> str:
    """Which rule combined templateOverrides with basePodTemplate, and why."""
    rule, why = cfg.merge_rule
    if merge and merge != rule:
        return f"merge rule: {merge} (--merge); the chart's own rule is {why}"
    return f"merge rule: {why} (--merge {' or '.join(m for m in MERGE_MODES if m != rule)} for another)"


def _require(cfg: AgentConfig, names: Any) -> None:
    _require_any(list(names), cfg.all_queues())


def _require_any(names: list[str], known: list[str]) -> None:
    for name in names:
        if name not in known:
            hint = did_you_mean(name, known) or ""
            hint = (hint + " " if hint else "") + "queues: " + (", ".join(known) or "none")
            raise NotFoundError(f"unknown queue {name!r}", hint=hint)


def _union(a: list[str], b: list[str]) -> list[str]:
    return a + [x for x in b if x not in a]


def _clean(obj: Any) -> Any:
    return normalise(obj, known_secrets())


def _lint(cfg: AgentConfig, install: Any, merge: Any) -> list[Finding]:
    findings = lint_config(cfg, merge) if cfg.values_known else []
    rendered = getattr(install, "rendered", None)
    if rendered is not None:
        templates = {"template": rendered.single} if rendered.single is not None else rendered.per_queue
        for name, template in templates.items():
            findings += lint_pod_template(template, f"live {name}")
    return findings


def _print_findings(findings: list[Finding]) -> int:
    for finding in findings:
        click.echo(redact(finding.one_line()))
    if not findings:
        _stderr("no problems found")
    return int(ExitStatus.DIFFERENCES if findings else ExitStatus.OK)


def _emit(fmt: str, data: Any) -> None:
    text = to_json(data) if fmt == "json" else to_yaml(data)
    sys.stdout.write(redact(text))


def _render(g: Globals, fmt: str, comparisons: list[Comparison], context: int, *, summary: bool) -> None:
    if fmt == "json-patch":
        patches = {c.name: json_patch(c.left, c.right) for c in comparisons}
        _emit("json", patches[comparisons[0].name] if len(comparisons) == 1 else patches)
    elif fmt == "structured":
        _emit("json", structured_report(comparisons))
    elif fmt in ("json", "yaml"):
        docs: dict[str, Any] = {}
        for c in comparisons:
            docs.setdefault(c.left_label, c.left)
            docs.setdefault(c.right_label, c.right)
        _emit(fmt, docs)
    else:
        color = use_color(sys.stdout, g.no_color)
        dumped: dict[int, str] = {}  # by id: with --all every comparison's left is the same base object

        def dump(obj: Any) -> str:
            if id(obj) not in dumped:
                dumped[id(obj)] = diff_yaml(obj)
            return dumped[id(obj)]

        for c in comparisons:
            text = unified_text_diff(dump(c.left), dump(c.right), c.left_label, c.right_label, context)
            sys.stdout.write(redact(colorize_diff(text, lambda s, k: paint(s, k, color))))
        if summary:
            sys.stdout.write(
                "\n" + render_table(summary_rows(comparisons), ["QUEUE", "CHANGES", "DIFFERS FROM BASE IN"])
            )
        if not any(c.differs for c in comparisons):
            _stderr("no differences")


def _stderr(text: str) -> None:
    sys.stderr.write(f"{PREFIX}: {redact(text)}\n")
