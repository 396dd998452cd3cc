"""`--watch`: refresh a read command's output every --interval seconds until Ctrl-C.

Ctrl-C is how a user ends a watch, so it ends the command quietly with exit 0 (not "error: interrupted",
exit 130, which is for an interrupted operation). Each refresh says when it was taken: on a terminal in
a title line like watch(1)'s, else on stderr, so piped data stays data.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from kubectl_clearml.output import PREFIX


def watch(render: Callable[[], tuple[str, list[str]]], interval: float, title: str) -> None:
    """Call ``render`` (text for stdout, diagnostics for stderr) every ``interval`` seconds until Ctrl-C."""
    from kubectl_clearml.output import warn

    tty = sys.stdout.isatty()
    try:
        while True:
            text, notes = render()
            stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
            if tty:
                sys.stdout.write("\x1b[H\x1b[2J")  # home + clear: refresh in place like `watch`
                sys.stdout.write(f"Every {interval:g}s: {title}   {stamp}\n\n")
            else:
                sys.stderr.write(f"{PREFIX}: refreshed at {stamp} (every {interval:g}s)\n")
            sys.stdout.write(text + ("\n" if not tty else ""))
            for note in notes:
                warn(note)
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        sys.stdout.flush()
