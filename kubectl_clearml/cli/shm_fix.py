"""`kubectl clearml shm-fix` (not built yet: issue 7)."""

from __future__ import annotations

import click

from kubectl_clearml.cli.options import global_options
from kubectl_clearml.errors import NotBuiltError


@click.command("shm-fix", context_settings={"help_option_names": ["-h", "--help"]})
@global_options
def command() -> None:
    """Give a queue a Memory-backed /dev/shm, in a values file or live.

    Not built yet: this command exits 2 until it lands.
    """
    raise NotBuiltError("'kubectl clearml shm-fix' is not built yet", hint="see the README for the commands that work")
