"""``kubectl_complete-clearml``: kubectl (>= 1.26) asks this helper for plugin completions.

kubectl runs ``kubectl_complete-clearml ARGS... INCOMPLETE`` (INCOMPLETE is ``""`` after a space) and reads
one candidate per line (``value<TAB>description``), then an optional last line ``:<directive>`` (cobra's
ShellCompDirective: 4 = no file completion, 0 = default, which lets the shell complete paths).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

NO_FILE_COMP = 4
DEFAULT = 0


def complete(words: Sequence[str]) -> list[str]:
    from kubectl_clearml.cli.main import COMMANDS, PROG, cli

    args, incomplete = (list(words[:-1]), words[-1]) if words else ([], "")
    if not args and not incomplete.startswith("-"):
        # The subcommand itself: answer from the registry without importing any command module.
        return [f"{c.name}\t{c.summary}" for c in COMMANDS if c.name.startswith(incomplete)] + [f":{NO_FILE_COMP}"]

    from click.shell_completion import ShellComplete

    completer = ShellComplete(cli, {}, PROG, "_KUBECTL_CLEARML_COMPLETE")
    items = completer.get_completions(args, incomplete)
    lines = []
    directive = NO_FILE_COMP
    for item in items:
        if item.type in ("file", "dir"):
            directive = DEFAULT
            continue
        help_text = " ".join(str(item.help or "").split())
        lines.append(f"{item.value}\t{help_text}" if help_text else str(item.value))
    lines.append(f":{directive}")
    return lines


def main() -> None:
    import logging
    import os

    # Nothing but candidates may reach the user's terminal on TAB: no traceback, and no library log line
    # (the kubernetes client's logging.error() for a failed exec credential plugin would basicConfig()
    # the root logger onto stderr; a NullHandler there keeps it from doing so).
    logging.getLogger().addHandler(logging.NullHandler())
    saved, sys.stderr = sys.stderr, open(os.devnull, "w")  # noqa: SIM115 - closed below
    try:
        out = complete(sys.argv[1:])
    except Exception:
        out = [":1"]
    finally:
        sys.stderr.close()
        sys.stderr = saved
    sys.stdout.write("\n".join(out) + "\n")
