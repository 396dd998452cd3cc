"""`kubectl clearml sandbox` (not built yet: issue 3)."""

from __future__ import annotations

import click

from kubectl_clearml.cli.options import global_options
from kubectl_clearml.errors import NotBuiltError


@click.command("sandbox", context_settings={"help_option_names": ["-h", "--help"]})
@global_options
def command() -> None:
    """Run local ClearML and Kubernetes API emulators to try every command offline.

    Not built yet: this command exits 2 until it lands.
    """
    raise NotBuiltError("'kubectl clearml sandbox' is not built yet", hint="see the README for the commands that work")
