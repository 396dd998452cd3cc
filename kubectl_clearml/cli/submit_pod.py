"""`kubectl clearml submit-pod` (not built yet: issue 8)."""

from __future__ import annotations

import click

from kubectl_clearml.cli.options import global_options
from kubectl_clearml.errors import NotBuiltError


@click.command("submit-pod", context_settings={"help_option_names": ["-h", "--help"]})
@global_options
def command() -> None:
    """Render (and optionally create) the pod a task would get on a queue.

    Not built yet: this command exits 2 until it lands.
    """
    raise NotBuiltError("'kubectl clearml submit-pod' is not built yet", hint="see the README for the commands that work")
