"""`kubectl clearml run-glue` (not built yet: issue 8)."""

from __future__ import annotations

import click

from kubectl_clearml.cli.options import global_options
from kubectl_clearml.errors import NotBuiltError


@click.command("run-glue", context_settings={"help_option_names": ["-h", "--help"]})
@global_options
def command() -> None:
    """Run the glue loop in the foreground: pull tasks from queues, launch pods.

    Not built yet: this command exits 2 until it lands.
    """
    raise NotBuiltError("'kubectl clearml run-glue' is not built yet", hint="see the README for the commands that work")
