"""Text from servers made safe to print on a terminal: control characters shown, never obeyed.

A ClearML queue or task name is chosen by any ClearML user; printed raw, ``\\x1b]0;...\\x07`` retitles the
window, ``\\x1b[2J`` clears the screen, ``\\x1b[8m`` hides what follows and a newline fakes a table row.
kubectl escapes such characters in its human-readable output (ESC shown as ``^[``, CR as ``\\r``;
k8s.io/cli-runtime printers/terminal.go); we show every C0/C1 control character and the bidirectional
overrides (which reorder what a reader sees) as an escape, and leave JSON and YAML exact.
"""

from __future__ import annotations

import re

_NAMED = {"\x1b": "^[", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_terminal(text: str) -> str:
    """``text`` with every terminal control character written out (``^[``, ``\\n``, ``\\x07``, ``\\u202e``)."""
    if text.isprintable():  # the common case, and fast: every character we escape is not printable
        return text
    return _UNSAFE.sub(_escape, text)
