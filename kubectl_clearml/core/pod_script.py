"""The bash script a task pod runs: find a Python, install clearml-agent, run the task, exit with its code.

Differences from the reference glue's start script, on purpose:
- no file is written (no ``>> ~/clearml.conf`` or ``~/__start_agent__.sh``), so a persistent HOME never
  accumulates duplicates; the server and credentials arrive as env (credentials by secretKeyRef);
- the agent is ``exec``-ed as the last step, so the pod's exit code is the task's (no trailing ``exit 0``);
- a failed ``pip install`` stops the pod with a clear message and a non-zero code instead of running on.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

DEFAULT_EXECUTE_ARGS = ("--full-monitoring", "--require-queue")

# Newest first: the first interpreter that has pip wins (the reference tries python3.20 … python3.5).
_PYTHONS = " ".join(f"python3.{minor}" for minor in range(20, 5, -1)) + " python3"

_FIND_PYTHON = f"""\
if [ -z "$LOCAL_PYTHON" ]; then
  for candidate in {_PYTHONS}; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -m pip --version >/dev/null 2>&1; then
      LOCAL_PYTHON="$candidate"; break
    fi
  done
fi
if [ -z "$LOCAL_PYTHON" ] && [ -z "$CLEARML_AGENT_SKIP_CONTAINER_APT" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip git
  elif command -v dnf >/dev/null 2>&1; then
    dnf install -y -q python3-pip git
  fi
fi
LOCAL_PYTHON="${{LOCAL_PYTHON:-python3}}"
rm -f /usr/lib/python3*/EXTERNALLY-MANAGED 2>/dev/null || true"""

_INSTALL_AGENT = """\
if [ -z "$CLEARML_AGENT_NO_UPDATE" ]; then
  "$LOCAL_PYTHON" -m pip install -q --disable-pip-version-check {requirement} \
    || "$LOCAL_PYTHON" -m pip install -q --disable-pip-version-check --user {requirement} || {{
    echo "clearml pod: pip install {requirement_text} failed (set CLEARML_AGENT_NO_UPDATE=1 in the template if the image has clearml-agent)" >&2
    exit 97
  }}
fi"""

AGENT_INSTALL_FAILED_EXIT_CODE = 97


def agent_script(
    task_id: str,
    *,
    setup_shell_script: str | Sequence[str] | None = None,
    install_agent: bool = True,
    agent_install_args: str = "",
    execute_args: Sequence[str] = DEFAULT_EXECUTE_ARGS,
) -> str:
    """The script for ``/bin/bash -c``. Deterministic: the same inputs give the same text."""
    requirement = "clearml-agent" + agent_install_args.strip()
    parts = ["set -o pipefail", _FIND_PYTHON]
    if install_agent:
        parts.append(
            _INSTALL_AGENT.format(
                requirement=shlex.quote(requirement), requirement_text=requirement.replace('"', "").replace("$", "")
            )
        )
    setup = "\n".join(setup_shell_script) if isinstance(setup_shell_script, (list, tuple)) else setup_shell_script
    if setup and str(setup).strip():
        parts.append("# the task's setup_shell_script\n" + str(setup).rstrip())
    command = ["-m", "clearml_agent", "execute", *execute_args, "--id", task_id]
    parts.append('exec "$LOCAL_PYTHON" ' + " ".join(shlex.quote(token) for token in command))
    return "\n".join(parts) + "\n"
