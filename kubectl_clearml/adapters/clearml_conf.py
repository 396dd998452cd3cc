"""Reading clearml.conf (HOCON) safely: file includes only, never a URL, no cycles, bounded nesting.

pyhocon follows ``include url("...")`` (and ``include "http://..."``) while parsing, a fetch of anything
a config file names, which hung for ever on a server that never answers; and an include of the file
itself recursed until Python gave up. Before parsing, every include is checked, file by file, as pyhocon
resolves them (a relative name is relative to the including file): a URL, classpath or package include is
refused, and so is a cycle. Each refusal is bad input (exit 2) naming the file and the include.
"""

from __future__ import annotations

import os
import re
from typing import Any

from kubectl_clearml.errors import UsageError

MAX_INCLUDES = 64  # files in one include tree: a bound, so a fan-out of includes cannot spin us

# `include "x"`, `include file("x")`, `include url("x")`, `include required(file("x"))` ... at the start of a
# line or after `{`/`,`; pyhocon's grammar takes only double-quoted names.
_INCLUDE = re.compile(
    r"""(?m)(?:^|[{,])[ \t]*include\s+(?:required\s*\(\s*)?(?:(?P<kind>[A-Za-z]+)\s*\(\s*)?"(?P<name>(?:[^"\\\n]|\\.)*)\""""
)
_URL = re.compile(r"(?i)^[a-z][a-z0-9+.-]*://")


def _refuse(what: str, path: str, hint: str) -> UsageError:
    return UsageError(f"clearml.conf: {what}", path, hint)


def check_includes(path: str) -> None:
    """Walk the include tree of ``path``; raise UsageError for a URL include, a cycle or a missing file
    that is ``required``."""
    seen: set[str] = set()

    def walk(current: str, chain: tuple[str, ...]) -> None:
        real = os.path.realpath(current)
        if real in chain:
            raise _refuse("include cycle: " + " -> ".join([*chain, real]), current,
                          "remove the include of a file that is already being read")
        if len(seen) >= MAX_INCLUDES:
            raise _refuse(f"more than {MAX_INCLUDES} included files", path, "flatten the includes")
        seen.add(real)
        try:
            with open(real, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            return  # pyhocon skips an include that is not `required`, and reports one that is
        except UnicodeDecodeError:
            raise _refuse("not UTF-8 text" if not chain else "an included file is not UTF-8 text", current,
                          "save it as UTF-8 (HOCON)") from None
        except OSError as exc:
            raise _refuse(f"cannot read {'it' if not chain else 'an included file'}: {exc.strerror}", current,
                          "check the file and its includes") from None
        for match in _INCLUDE.finditer(text):
            if _commented(text, match.start()):
                continue
            kind, name = (match.group("kind") or "").lower(), match.group("name")
            if kind in ("url", "classpath", "package") or _URL.match(name):
                raise _refuse(f"include {kind or 'of'} {name!r} is not followed: only files are included",
                              current, "copy that configuration into a local file and include the file")
            walk(os.path.join(os.path.dirname(real), name), (*chain, real))

    walk(path, ())


def _commented(text: str, position: int) -> bool:
    line = text[text.rfind("\n", 0, position) + 1 : position + 1]
    return "#" in line or "//" in line


def parse_clearml_conf(path: str) -> Any:
    """The parsed config; every failure is bad input naming the file."""
    from pyhocon import ConfigFactory
    from pyhocon.exceptions import ConfigException
    from pyparsing import ParseBaseException

    check_includes(path)
    try:
        return ConfigFactory.parse_file(path, resolve=True)
    except RecursionError:
        raise _refuse("nested too deeply to read", path, "flatten the file (clearml-init writes a flat one)") from None
    except (ConfigException, ParseBaseException, OSError, ValueError, AttributeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"malformed clearml.conf: {reason}", path, "fix the file (HOCON) or run clearml-init") from None


def string_setting(conf: Any, key: str, path: str) -> str | None:
    """``conf[key]`` (a dotted path) as a string, None when absent; a number, list or object is bad input."""
    value = conf
    for part in key.split("."):
        value = value.get(part, None) if hasattr(value, "get") else None
        if value is None:
            return None
    if isinstance(value, bool) or not isinstance(value, str):
        raise _refuse(f"{key} must be a string, not {type(value).__name__}", path,
                      f'quote the value: {key.rsplit(".", 1)[-1]}: "..."')
    return value
