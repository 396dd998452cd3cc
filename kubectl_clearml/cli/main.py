"""The root command group, its single error boundary and the list of subcommands."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import click

from kubectl_clearml import __version__
from kubectl_clearml.cli.options import get_globals, global_options
from kubectl_clearml.errors import ExitStatus, KubectlClearmlError

PROG = "kubectl clearml"


@dataclass(frozen=True)
class Subcommand:
    """A subcommand, imported only when it runs: `--help` and TAB completion stay fast."""

    name: str
    module: str  # kubectl_clearml.cli.<module> exports `command`
    summary: str  # the line `kubectl clearml --help` shows

    def load(self) -> click.Command:
        command = importlib.import_module(f"kubectl_clearml.cli.{self.module}").command
        assert isinstance(command, click.Command) and command.name == self.name
        return command


# The one list of subcommands, in the order `--help` shows them.
COMMANDS: list[Subcommand] = [
    Subcommand("queues", "queues", "ClearML queues side by side with the agent's Kubernetes view."),
    Subcommand("submit-pod", "submit_pod", "Render (and optionally create) the pod a task gets on a queue."),
    Subcommand("diff-template", "diff_template", "The effective pod template per queue, diffed."),
    Subcommand("gpu-report", "gpu_report", "GPU capacity, use and fit per node, GPU product and queue."),
    Subcommand("shm-fix", "shm_fix", "Give a queue a Memory-backed /dev/shm (values file or live)."),
    Subcommand("doctor", "doctor", "Check an agent install: named checks, each with a verdict and a hint."),
    Subcommand("why", "why", "Why a task is not running (or failed): one verdict, then the evidence."),
    Subcommand("run-glue", "run_glue", "Run the glue loop in the foreground: queues to pods, restart-safe."),
    Subcommand("sandbox", "sandbox", "Local ClearML and Kubernetes emulators to try every command."),
    Subcommand("glue", "glue", "Run our glue in the cluster in place of the agent's (install, status, uninstall)."),
    Subcommand("config", "config", "Show the resolved cluster, namespace and ClearML server."),
]

COMPLETE_VAR = "_KUBECTL_CLEARML_COMPLETE"  # click's shell completion for running kubectl-clearml directly
INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug of ours, not something the user did

NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2; before, click printed help

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


class LazyGroup(click.Group):
    """Lists subcommands from COMMANDS and imports one only when it is invoked or completed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [c.name for c in COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = next((c for c in COMMANDS if c.name == cmd_name), None)
        return spec.load() if spec else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(c.name, c.summary) for c in COMMANDS])

    # `kubectl clearml queues | head` closed stdout early: done, exit 0 and say nothing. Caught here because
    # click's main() turns an EPIPE it sees into sys.exit(1), even in non-standalone mode. make_context
    # covers the root's --help, invoke every subcommand (its --help included).
    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except BrokenPipeError:
            _silence_stdout()
            raise click.exceptions.Exit(0) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _silence_stdout()
            raise click.exceptions.Exit(0) from None


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="kubectl-clearml", message="%(prog)s %(version)s")
@global_options
def cli() -> None:
    """Operate ClearML on Kubernetes: queues, pod templates, GPU capacity, /dev/shm and the glue loop.

    Put flags after `clearml` (kubectl rejects flags before a plugin name). Global flags work before or
    after the subcommand.

    \b
    Examples:
      kubectl clearml queues -n clearml
      kubectl clearml diff-template gpu-2x -f values.yaml
      kubectl clearml gpu-report --by queue
      kubectl clearml sandbox --demo
    """
    get_globals()


def _prog_name(argv0: str) -> str:
    # kubectl execs us as .../kubectl-clearml: show usage as `kubectl clearml ...` as krew asks.
    base = os.path.basename(argv0)
    return PROG if base.startswith(("kubectl-", "kubectl_")) else base


def _fail(message: str, status: int) -> int:
    from kubectl_clearml.core.terminal import escape_terminal

    # every error, click's usage errors included (they quote the values given), is redacted and terminal-safe
    sys.stderr.write(f"{PROG}: error: {escape_terminal(_redacted(message))}\n")
    return status


def run(args: Sequence[str] | None = None, prog_name: str = PROG) -> int:
    """Run the CLI and return the exit status; every error is turned into one line on stderr here."""
    argv = list(sys.argv[1:] if args is None else args)
    verbose = any(a in ("-v", "--verbose") or (a.startswith("-v") and set(a[1:]) == {"v"}) for a in argv)
    from kubectl_clearml.logs import capture_library_logs

    capture_library_logs()  # before any library logs (-v raises the level when click parses it)
    try:
        rv = cli.main(argv, prog_name=prog_name, complete_var=COMPLETE_VAR, standalone_mode=False)
        return int(rv or 0)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        return _fail("interrupted", ExitStatus.INTERRUPTED)
    except NO_ARGS_IS_HELP as exc:
        # Bare `kubectl clearml` (or a bare group): the help, as kubectl itself does, not an error whose
        # "message" is the whole help text (click >= 8.2 raises this instead of printing the help).
        sys.stdout.write(exc.ctx.get_help() + "\n" if exc.ctx else "")
        return 0
    except click.UsageError as exc:
        cmd = exc.ctx.command_path if exc.ctx else _command_path(argv, prog_name)
        return _fail(f"{exc.format_message().rstrip('.')}: see '{cmd} --help'", ExitStatus.USAGE)
    except click.ClickException as exc:
        return _fail(exc.format_message(), ExitStatus.USAGE)
    except KubectlClearmlError as exc:
        if verbose:
            logging.getLogger("kubectl_clearml").exception("error")
        return _fail(_redacted(exc.one_line()), exc.exit_status)
    except KeyboardInterrupt:
        return _fail("interrupted", ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        # `kubectl clearml queues | head` closes stdout early: not an error worth a message.
        _silence_stdout()
        return 0
    except Exception as exc:
        if verbose:
            import traceback

            sys.stderr.write(_redacted(traceback.format_exc()))
        return _fail(
            _redacted(f"internal error: {type(exc).__name__}: {exc}: rerun with -v and report it"), INTERNAL_ERROR
        )


def _command_path(argv: Sequence[str], prog_name: str) -> str:
    """The subcommand an argv names, for errors click raises without a context (``Option '--size' requires
    an argument`` at the end of the line), so the hint points at that subcommand's --help, not the root's."""
    path = [prog_name]
    command: click.Command = cli
    ctx = click.Context(cli, info_name=prog_name)
    for arg in argv:
        if arg == "--":
            break
        if not isinstance(command, click.Group) or arg.startswith("-"):
            continue
        sub = command.get_command(ctx, arg)
        if sub is not None:
            path.append(arg)
            command = sub
    return " ".join(path)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the flush of what is still buffered at interpreter exit cannot fail
    again (Python would print 'Exception ignored ... BrokenPipeError' and exit 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (tests capture into StringIO): swap the object instead
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stays open until exit on purpose
        except OSError:
            pass


def _redacted(text: str) -> str:
    from kubectl_clearml.logs import redact

    return redact(text)


def main() -> None:
    if sys.argv[1:2] == ["__complete"]:
        # The krew archive ships one zipapp; its completion shim calls `kubectl-clearml __complete ...`.
        from kubectl_clearml.cli import complete

        sys.argv = [sys.argv[0], *sys.argv[2:]]
        complete.main()
        return
    _escape_unencodable_output()
    status = run(prog_name=_prog_name(sys.argv[0]))
    try:
        sys.stdout.flush()  # what is still buffered, now: a reader gone by then is not worth a traceback
    except BrokenPipeError:
        _silence_stdout()
    sys.exit(status)


def _escape_unencodable_output() -> None:
    """A values file may hold any Unicode, a terminal may not (LANG=en_US.ISO-8859-1, PYTHONIOENCODING=ascii):
    print what it cannot show as \\uXXXX escapes, as stderr already does, instead of failing mid-output."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None and (sys.stdout.encoding or "").lower().replace("-", "") != "utf8":
        try:
            reconfigure(errors="backslashreplace")
        except (ValueError, OSError):
            pass
