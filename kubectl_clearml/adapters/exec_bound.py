"""A time limit on kubeconfig exec credential plugins (``aws eks get-token``, ``gke-gcloud-auth-plugin``).

The kubernetes client runs the plugin with ``communicate()`` and no timeout, at load and again on every
token refresh: a plugin that hangs (a stuck SSO prompt, a metadata server that never answers) hung every
command. Each exec entry handed to the client runs its command under a small supervisor (the same Python,
``-c``: nothing to find on PATH, works from the krew zipapp) that gives up after the limit, kills the
plugin's process group, and says which plugin timed out; the client logs that line (shown as a warning)
and the request then fails as unauthorized.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

DEFAULT_EXEC_TIMEOUT = 60.0  # seconds: room for an SSO round trip; run-glue's --request-timeout overrides it
TIMED_OUT = 124  # timeout(1)'s status

# The supervisor. An interactive plugin (stdin a terminal: it may prompt) keeps our process group so it can
# read the terminal; a non-interactive one gets its own session so that a shell script's children (which
# hold the client's stdout pipe open) die with it.
_SUPERVISOR = r"""
import os, signal, subprocess, sys
limit, name, cmd = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
interactive = os.isatty(0)
try:
    proc = subprocess.Popen(cmd, start_new_session=not interactive)
except OSError as exc:
    sys.stderr.write(f"exec credential plugin {name!r} ({cmd[0]}) cannot start: {exc.strerror}\n")
    sys.exit(127)
try:
    sys.exit(proc.wait(timeout=limit))
except subprocess.TimeoutExpired:
    try:
        os.killpg(proc.pid, signal.SIGKILL) if not interactive else proc.kill()
    except OSError:
        pass
    sys.stderr.write(f"exec credential plugin {name!r} ({cmd[0]}) timed out after {limit:g}s\n")
    sys.exit(124)
"""


def bound_exec_plugins(kubeconfig: dict[str, Any], timeout: float) -> dict[str, Any]:
    """A copy of a merged kubeconfig whose exec credential plugins each run under ``timeout`` seconds."""
    users = kubeconfig.get("users")
    if not isinstance(users, list) or not any(_exec_of(u) for u in users):
        return kubeconfig
    out = copy.deepcopy(kubeconfig)
    for entry in out["users"]:
        plugin = _exec_of(entry)
        if plugin is None:
            continue
        given = plugin.get("args")
        args: list[Any] = given if isinstance(given, list) else []
        plugin["args"] = ["-c", _SUPERVISOR, f"{timeout:g}", str(entry.get("name")), str(plugin["command"]),
                          *(str(a) for a in args)]
        plugin["command"] = sys.executable
    return out


def _exec_of(entry: Any) -> dict[str, Any] | None:
    user = entry.get("user") if isinstance(entry, dict) else None
    plugin = user.get("exec") if isinstance(user, dict) else None
    if isinstance(plugin, dict) and isinstance(plugin.get("command"), str) and plugin["command"]:
        return plugin
    return None
