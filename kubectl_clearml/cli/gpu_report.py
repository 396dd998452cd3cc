"""`kubectl clearml gpu-report` (not built yet: issue 6)."""

from __future__ import annotations

import click

from kubectl_clearml.cli.options import global_options
from kubectl_clearml.errors import NotBuiltError


@click.command("gpu-report", context_settings={"help_option_names": ["-h", "--help"]})
@global_options
def command() -> None:
    """GPU capacity, use and fit per node, per GPU product and per queue.

    Not built yet: this command exits 2 until it lands.
    """
    raise NotBuiltError("'kubectl clearml gpu-report' is not built yet", hint="see the README for the commands that work")
