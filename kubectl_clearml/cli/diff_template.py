"""`kubectl clearml diff-template` (not built yet: issue 4)."""

from __future__ import annotations

import click

from kubectl_clearml.cli.options import global_options
from kubectl_clearml.errors import NotBuiltError


@click.command("diff-template", context_settings={"help_option_names": ["-h", "--help"]})
@global_options
def command() -> None:
    """Show and diff the effective pod template per queue.

    Not built yet: this command exits 2 until it lands.
    """
    raise NotBuiltError("'kubectl clearml diff-template' is not built yet", hint="see the README for the commands that work")
