"""`kubectl clearml sandbox`: local ClearML and Kubernetes API emulators with a simulated GPU cluster.

Three ways to use it:
  * no arguments: start everything, print ``export`` lines for another shell, run until Ctrl-C / SIGTERM
    (exit 0 after a clean stop: that is how a sandbox is meant to end);
  * ``-- CMD ARGS``: run one command in the sandbox's environment, then stop; exit with the command's code
    (130 if interrupted, 127 if the command does not exist);
  * ``--demo``: tell the story on the seeded world with the plugin's own commands, then stop.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from kubectl_clearml.cli.options import global_options
from kubectl_clearml.cli.param_types import Seconds
from kubectl_clearml.errors import ExitStatus, KubectlClearmlError, NotBuiltError, UsageError

if TYPE_CHECKING:  # the sandbox is imported only when the command runs (CLI start-up stays fast)
    from kubectl_clearml.sandbox.runner import Sandbox

# The demo's story: (title, arguments of `kubectl clearml`), `{values}` being the agent's values file.
# A command that is not built yet is skipped with a note and the story goes on.
DEMO_BEFORE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ClearML queues next to the agent's view", ("queues",)),
    ("GPU capacity, use and fit per queue", ("gpu-report",)),
    ("What each queue's pod template overrides", ("diff-template", "--all")),
)
DEMO_GLUE: tuple[str, tuple[str, ...]] = (
    "The glue drains the queues into pods",
    ("run-glue", "-n", "clearml", "--once"),  # the live install gives queues, templates and the Secret
)
DEMO_AFTER: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Queues after the pods ran", ("queues",)),
    ("Which queues lack a Memory /dev/shm, and which pods died of it", ("shm-fix", "--check")),
    ("The fix for 2xGPU, as a values overlay for helm upgrade", ("shm-fix", "2xGPU", "--live")),
)
# Steps that only make sense with per-queue templates (the open-source chart serves no GPU queue here).
ENTERPRISE_ONLY = frozenset({("shm-fix", "2xGPU", "--live")})
DEMO_SETTLE_SIMULATED_SECONDS = 60.0
DEMO_TIME_SCALE = 30.0
STOP_GRACE_SECONDS = 5.0  # how long a command may take to end after Ctrl-C or SIGTERM before it is killed


@click.command(
    "sandbox",
    context_settings={"help_option_names": ["-h", "--help"], "allow_interspersed_args": False},
)
@click.option(
    "--demo",
    is_flag=True,
    help="Tell the story: queues, GPU fit, templates, the glue launching pods, what failed and the fix.",
)
@click.option("--oss", is_flag=True, help="Seed the open-source chart's agent instead of the enterprise one.")
@click.option("--troubles", is_flag=True,
              help="Break the world in every way `doctor` and `why` name (wrong agent key, RBAC gap, unserved queue, "
              "...).")
@click.option(
    "--time-scale",
    type=Seconds(min=0.001),
    default=None,
    metavar="X",
    help=f"Simulated seconds per real second (default 1; {DEMO_TIME_SCALE:g} with --demo).",
)
@click.option("--port-kube", type=click.IntRange(0, 65535), default=0, metavar="PORT", help="Kubernetes API port.")
@click.option("--port-clearml", type=click.IntRange(0, 65535), default=0, metavar="PORT", help="ClearML API port.")
@click.argument("command_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- CMD [ARGS]...]")
@global_options
def command(
    demo: bool,
    oss: bool,
    troubles: bool,
    time_scale: float | None,
    port_kube: int,
    port_clearml: int,
    command_args: tuple[str, ...],
) -> int:
    """Run local ClearML and Kubernetes API emulators with a simulated GPU cluster, to try every command.

    The demo world: 7 nodes (2 x 8 A100, 1 A100 in MIG mixed mode, 2 x 4 T4, 2 CPU, one tainted), a ClearML
    agent installed by Helm in namespace `clearml` serving the queues red/blue/green/1xGPU/2xGPU/GPUshm, and
    queued tasks. Pods run on a simulated clock; multi-GPU pods without a Memory /dev/shm fail in NCCL.

    \b
    Examples:
      kubectl clearml sandbox                        # prints export lines, Ctrl-C stops
      kubectl clearml sandbox -- kubectl get nodes
      kubectl clearml sandbox -- kubectl clearml queues
      kubectl clearml sandbox --demo
    """
    from kubectl_clearml.sandbox.runner import Sandbox, SandboxOptions

    if demo and command_args:
        raise UsageError("--demo runs its own commands", hint="use either --demo or -- CMD, not both")
    if port_kube and port_kube == port_clearml:
        raise UsageError(f"--port-kube and --port-clearml are both {port_kube}", hint="give each server its own port")
    options = SandboxOptions(
        flavour="oss" if oss else "enterprise",
        time_scale=time_scale or (DEMO_TIME_SCALE if demo else 1.0),
        port_kube=port_kube,
        port_clearml=port_clearml,
        troubles=troubles,
    )
    # From here on SIGTERM is a KeyboardInterrupt (the `-- CMD` mode passes it on instead): whenever it comes,
    # the servers stop and the temporary directory goes, as after Ctrl-C.
    with _stop_on_sigterm():
        try:
            sandbox = Sandbox(options).start()
        except OSError as exc:
            raise _start_error(exc, port_kube, port_clearml) from exc
        try:
            if command_args:
                return _run_command(sandbox.client_environment(dict(os.environ)), list(command_args))
            if demo:
                return _demo(sandbox)
            return _serve(sandbox)
        finally:
            sandbox.stop()


def _start_error(exc: OSError, port_kube: int, port_clearml: int) -> UsageError:
    busy = [f"--port-{name} {port}" for name, port in (("kube", port_kube), ("clearml", port_clearml))
            if port and _port_is_busy(port)]
    if exc.errno == errno.EADDRINUSE and busy:
        return UsageError(f"cannot start the sandbox: port already in use ({', '.join(busy)})",
                          hint="choose another port, or 0 for any free one")
    return UsageError(f"cannot start the sandbox: {exc.strerror or exc}", hint="choose other --port-kube/--port-clearml")


# ---- modes ---------------------------------------------------------------------------------------------


def _serve(sandbox: Sandbox) -> int:
    from kubectl_clearml.sandbox.runner import CLEARML_ENV_OVERRIDES

    for key, value in sandbox.env.items():
        click.echo(f"export {key}={shlex.quote(value)}")
    overridden = [name for name in CLEARML_ENV_OVERRIDES if name in os.environ]
    if overridden:
        click.echo("unset " + " ".join(overridden))
    sys.stdout.flush()
    click.echo(
        f"sandbox: Kubernetes API {sandbox.kube.url}, ClearML API {sandbox.clearml.url}, "
        f"time scale {sandbox.options.time_scale:g}x; Ctrl-C stops",
        err=True,
    )
    if sandbox.values_file is not None:
        click.echo(f"sandbox: the agent's Helm values (for -f): {sandbox.values_file}", err=True)
    stop = threading.Event()
    with _stop_on_sigterm():
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    click.echo("sandbox: stopped", err=True)
    return 0


def _run_command(env: dict[str, str], argv: list[str]) -> int:
    bin_dir = _plugin_bin_dir()
    if bin_dir:  # `kubectl clearml ...` in the command must run this very installation
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    terminated: list[float] = []
    child: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        # SIGTERM reaches only the sandbox (unlike a terminal's SIGINT): pass it on, then wait for the command.
        # Installed before the command starts, so no SIGTERM can fall between the two.
        terminated.append(time.monotonic())
        for process in child:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)

    with _signal_handler(signal.SIGTERM, forward):
        try:
            process = subprocess.Popen(argv, env=env)
        except FileNotFoundError:
            # the house error format; 127 and 126 as a shell gives them
            click.echo(f"kubectl clearml: error: command not found ({argv[0]}): check the name and PATH", err=True)
            return 127
        except PermissionError:
            click.echo(f"kubectl clearml: error: permission denied ({argv[0]}): is it executable?", err=True)
            return 126
        child.append(process)
        if terminated:  # it came while the command was starting
            process.send_signal(signal.SIGTERM)
        try:
            while True:
                try:
                    code = process.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    if terminated and time.monotonic() - terminated[0] > STOP_GRACE_SECONDS:
                        process.kill()
        except KeyboardInterrupt:
            # The terminal sent SIGINT to the child as well; give it a moment to finish on its own.
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            return int(ExitStatus.INTERRUPTED)
    if terminated:
        return int(ExitStatus.INTERRUPTED)
    return code if code >= 0 else 128 - code  # killed by signal N: 128+N, as a shell reports it


def _demo(sandbox: Sandbox) -> int:
    env = sandbox.client_environment(dict(os.environ))
    world = sandbox.world
    if world is not None:
        click.secho(
            f"Demo world: {len(world.node_names)} nodes, agent '{world.install.deployment['metadata']['name']}' "
            f"({world.flavour} chart) in namespace {world.namespace} serving {', '.join(world.served_queues)}; "
            f"{len(world.task_ids)} ClearML tasks.",
            bold=True,
        )
    values = str(sandbox.values_file or "")
    for title, args in DEMO_BEFORE:
        _demo_step(title, args, env)
    title, args = DEMO_GLUE
    if _demo_step(title, tuple(a.format(values=values) for a in args), env):
        seconds = sandbox.cluster.clock.real_seconds(DEMO_SETTLE_SIMULATED_SECONDS) if sandbox.cluster else 0.0
        click.echo()
        click.secho(f"## The simulated cluster runs for {DEMO_SETTLE_SIMULATED_SECONDS:g} seconds", bold=True)
        time.sleep(seconds)
        from kubectl_clearml.output import render_table

        click.echo("Task pods (label clearml-task-id), with the REASON `kubectl clearml queues show QUEUE` prints:")
        click.echo(render_table(sandbox.task_pod_rows(), ["POD", "QUEUE", "PHASE", "REASON"]), nl=False)
        for title, args in DEMO_AFTER:
            if args in ENTERPRISE_ONLY and sandbox.options.flavour != "enterprise":
                continue
            _demo_step(title, tuple(a.format(values=values) for a in args), env)
        failed = _failed_task(sandbox, "2xgpu")
        if failed:
            _demo_step("Why the 2xGPU task failed, from ClearML to the node", ("why", failed[:8]), env)
    return 0


def _failed_task(sandbox: Sandbox, queue_label: str) -> str | None:
    """The task id of a failed task pod of the queue (its clearml-agent-queue-name label)."""
    for pod in sandbox.store.list("pods") if sandbox.store else ():
        labels = pod["metadata"].get("labels") or {}
        if labels.get("clearml-agent-queue-name") == queue_label and (pod.get("status") or {}).get("phase") == "Failed":
            return str(labels.get("clearml-task-id") or "") or None
    return None


def _demo_step(title: str, args: Sequence[str], env: dict[str, str]) -> bool:
    """Run ``kubectl clearml ARGS`` in-process; False when skipped or failed (the story goes on)."""
    from kubectl_clearml.cli.main import cli

    click.echo()
    click.secho(f"## {title}", bold=True)
    click.secho(f"$ kubectl clearml {' '.join(args)}", fg="cyan")
    sys.stdout.flush()
    try:
        with _environment(env):
            cli.main(list(args), prog_name="kubectl clearml", standalone_mode=False)
    except NotBuiltError:
        click.echo(f"(skipped: 'kubectl clearml {args[0]}' is not built yet)")
        return False
    except KubectlClearmlError as exc:
        click.echo(f"(failed: {exc.one_line()})")
        return False
    except click.exceptions.Exit as exc:
        return exc.exit_code in (0, 1)  # 1: differences found (diff-template), which is the point
    except click.ClickException as exc:
        click.echo(f"(failed: {exc.format_message()})")
        return False
    finally:
        sys.stdout.flush()
    return True


# ---- helpers -------------------------------------------------------------------------------------------


def _plugin_bin_dir() -> str | None:
    for candidate in (Path(sys.argv[0]).parent, Path(sys.executable).parent):
        if (candidate / "kubectl-clearml").exists():
            return str(candidate.resolve())
    return None


def _port_is_busy(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM stops the sandbox like Ctrl-C."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    with _signal_handler(signal.SIGTERM, interrupt):
        yield


@contextlib.contextmanager
def _signal_handler(signum: int, handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """``handler`` for ``signum`` meanwhile (in the main thread only, where handlers can be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous)
