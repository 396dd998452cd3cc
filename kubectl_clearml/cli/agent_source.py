"""Where a command reads the agent configuration from: ``-f`` values files, else the live install.

One place for every command (queues, diff-template, gpu-report, shm-fix, submit-pod, run-glue), so they
all agree on precedence and errors: values files given → merged over the embedded chart defaults, no
cluster needed; otherwise the agent installed in the namespace (Helm release Secret, else live objects).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from kubectl_clearml.cli.options import Globals

F = TypeVar("F", bound=Callable[..., Any])

if TYPE_CHECKING:  # imported lazily: the template renderer pulls in YAML, which --help must not pay for
    from kubectl_clearml.core.agent_config import AgentConfig
    from kubectl_clearml.core.queues import AgentTemplates


def load_agent(g: Globals, kube: Any, values: tuple[str, ...] = (), release: str | None = None) -> AgentConfig:
    """The agent configuration from values files (no cluster needed), else from the live install."""
    from kubectl_clearml.core.agent_config import config_from_user_values

    namespace = g.namespace or (kube.namespace if kube is not None else None) or "default"
    if values:
        from kubectl_clearml.adapters.values_file import load_values

        return config_from_user_values([load_values(path) for path in values], release=release, namespace=namespace)
    if kube is None:
        from kubectl_clearml.cli.connect import kube_from

        kube = kube_from(g)
    from kubectl_clearml.adapters.agent_install import find_install

    return find_install(kube, kube.namespace, release=release).config


def agent_templates(g: Globals, kube: Any, values: tuple[str, ...] = (), release: str | None = None) -> AgentTemplates:
    """What the queues view needs: served queues, the base template and each queue's effective template."""
    cfg = load_agent(g, kube, values, release)
    return templates_of(cfg)


def templates_of(cfg: AgentConfig) -> AgentTemplates:
    from kubectl_clearml.core.agent_glue import reference_failure_lines
    from kubectl_clearml.core.queues import AgentTemplates

    names = list(dict.fromkeys([*cfg.queues, *cfg.all_queues()]))
    return AgentTemplates(
        served=tuple(cfg.queues),
        base=cfg.base_template,
        effective={name: cfg.effective_template(name) for name in names},
        reference_failures=tuple(f"{where}: {why}" for where, why in reference_failure_lines(cfg)),
    )


def served_queue_names(g: Globals, values: tuple[str, ...] = ()) -> list[str]:
    """Queue names for completion: from values files only (no cluster round-trip on TAB)."""
    if not values:
        return []
    return list(load_agent(g, None, values).queues)


def values_option(param: str = "values", help_text: str | None = None) -> Callable[[F], F]:
    """The `-f/--values` option every command shares: the agent's Helm values files, '-' for stdin."""
    import click

    return click.option(
        "-f",
        "--values",
        param,
        multiple=True,
        metavar="FILE",
        type=click.Path(dir_okay=False, allow_dash=True),
        help=help_text
        or "The agent's Helm values file(s), repeatable and merged as helm does ('-' reads stdin), instead of "
        "the live install.",
    )


def release_option() -> Callable[[F], F]:
    import click

    from kubectl_clearml.cli.param_types import release_type

    return click.option(
        "--release", metavar="NAME", type=release_type(), help="Helm release of the agent (default: the one in -n)."
    )
