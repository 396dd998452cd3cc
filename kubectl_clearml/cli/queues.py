"""`kubectl clearml queues` (not built yet: issue 5)."""

from __future__ import annotations

import click

from kubectl_clearml.cli.options import global_options
from kubectl_clearml.errors import NotBuiltError


@click.command("queues", context_settings={"help_option_names": ["-h", "--help"]})
@global_options
def command() -> None:
    """Show ClearML queues side by side with the agent's Kubernetes view.

    Not built yet: this command exits 2 until it lands.
    """
    raise NotBuiltError("'kubectl clearml queues' is not built yet", hint="see the README for the commands that work")
