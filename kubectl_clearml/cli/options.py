"""Global options, accepted both before and after the subcommand name.

kubectl passes every argument through to a plugin unparsed, and users type flags wherever they like
(``kubectl clearml queues -n ml -o json``). Each global option is therefore declared on the root group
*and* on every subcommand; a callback stores the value in the shared :class:`Globals` object, the
subcommand's value winning because it is parsed last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from kubectl_clearml.cli.completion_values import complete_context, complete_namespace, complete_output
from kubectl_clearml.cli.param_types import namespace_type
from kubectl_clearml.errors import UsageError
from kubectl_clearml.output import OUTPUT_FORMATS

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Globals:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    all_namespaces: bool = False
    api_host: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    clearml_config: str | None = None
    from_agent: bool = False
    insecure_skip_tls_verify: bool = False
    output: str | None = None
    no_headers: bool = False
    no_color: bool = False
    verbose: int = 0
    explicit: set[str] = field(default_factory=set)

    def output_format(self, allowed: tuple[str, ...] = OUTPUT_FORMATS, default: str = "table") -> str:
        fmt = self.output or default
        if fmt.startswith(("custom-columns=", "jsonpath=")) and "json" in allowed and "table" in allowed:
            return fmt  # kubectl's template formats, rendered from the same document as -o json
        if fmt not in allowed:
            raise UsageError(
                f"unsupported output format {fmt!r}",
                hint="use one of: " + ", ".join(allowed),
            )
        return fmt


def get_globals(ctx: click.Context | None = None) -> Globals:
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, Globals):
        root.obj = Globals()
    return root.obj


def _store(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        source = ctx.get_parameter_source(param.name or name)
        if source in (None, click.core.ParameterSource.DEFAULT):
            return
        g = get_globals(ctx)
        if name == "verbose":
            g.verbose = max(g.verbose, int(value))
            from kubectl_clearml import logs

            logs.configure(g.verbose)  # every command, not only run-glue: -v info, -vv the adapters' HTTP calls
        else:
            setattr(g, name, value)
        g.explicit.add(name)

    return callback


def _opt(*decls: str, name: str, **kw: Any) -> Callable[[F], F]:
    return click.option(*decls, name, expose_value=False, callback=_store(name), **kw)


GLOBAL_OPTIONS: list[Callable[[F], F]] = [
    _opt(
        "--kubeconfig",
        name="kubeconfig",
        metavar="PATH",
        type=click.Path(dir_okay=False),
        help="Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config).",
    ),
    _opt(
        "--context",
        name="context",
        metavar="NAME",
        help="The kubeconfig context to use.",
        shell_complete=complete_context,
    ),
    _opt(
        "-n",
        "--namespace",
        name="namespace",
        metavar="NS",
        type=namespace_type(),
        help="Namespace (default: the context's, else 'default').",
        shell_complete=complete_namespace,
    ),
    _opt(
        "-A",
        "--all-namespaces",
        name="all_namespaces",
        is_flag=True,
        default=False,
        help="Across all namespaces (read commands).",
    ),
    _opt(
        "--api-host",
        name="api_host",
        metavar="URL",
        help="ClearML API server, e.g. https://api.clear.ml (env CLEARML_API_HOST).",
    ),
    _opt("--access-key", name="access_key", metavar="KEY", help="ClearML access key (env CLEARML_API_ACCESS_KEY)."),
    _opt("--secret-key", name="secret_key", metavar="SECRET", help="ClearML secret key (env CLEARML_API_SECRET_KEY)."),
    _opt(
        "--clearml-config",
        name="clearml_config",
        metavar="PATH",
        type=click.Path(dir_okay=False),
        help="clearml.conf to read (env CLEARML_CONFIG_FILE; default ~/clearml.conf).",
    ),
    _opt(
        "--from-agent",
        name="from_agent",
        is_flag=True,
        default=False,
        help="Use the ClearML server and credentials of the agent installed in the namespace.",
    ),
    _opt(
        "--insecure-skip-tls-verify",
        name="insecure_skip_tls_verify",
        is_flag=True,
        default=False,
        help="Do not verify the ClearML server's TLS certificate.",
    ),
    _opt(
        "-o",
        "--output",
        name="output",
        metavar="FORMAT",
        help="Output format: table|wide|json|yaml|name (commands may add more).",
        shell_complete=complete_output,
    ),
    _opt("--no-headers", name="no_headers", is_flag=True, default=False, help="Tables without the header row."),
    _opt("--no-color", name="no_color", is_flag=True, default=False, help="Never colour output (also: NO_COLOR)."),
    _opt(
        "-v",
        "--verbose",
        name="verbose",
        count=True,
        help="More logging on stderr (-vv: HTTP calls); tracebacks on errors.",
    ),
]


def global_options(func: F) -> F:
    for decorator in reversed(GLOBAL_OPTIONS):
        func = decorator(func)
    return func


DRY_RUN_CHOICES = ("none", "client", "server")


def dry_run_option(help: str, choices: tuple[str, ...] = DRY_RUN_CHOICES) -> Callable[[F], F]:
    """`--dry-run=none|client|server`, one spelling for every mutating command, as kubectl's: a bare
    `--dry-run` means client (kubectl's deprecated bare form), `none` really changes things."""
    return click.option(
        "--dry-run",
        "dry_run",
        type=click.Choice(choices),
        default="none",
        is_flag=False,
        flag_value="client",
        show_default=True,
        help=help,
    )
