"""The bash script a task pod runs: find a Python, install clearml-agent, run the task, exit with its code.

Differences from the reference glue's start script, on purpose:
- nothing is written to HOME (no ``>> ~/clearml.conf`` or ``~/__start_agent__.sh``), so a persistent HOME never
  accumulates duplicates; the server and credentials arrive as env (credentials by secretKeyRef); the agent's
  clearml.conf comes from its Secret, mounted (core/pod_config.py), and is combined with the image's
  ``~/clearml.conf`` and the glue's extra lines into a file under ``$TMPDIR``;
- the agent is ``exec``-ed as the last step, so the pod's exit code is the task's (no trailing ``exit 0``);
- a failed ``pip install`` stops the pod with a clear message and a non-zero code instead of running on.
"""

from __future__ import annotations

import re
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
if [ -z "$CLEARML_AGENT_SKIP_CONTAINER_APT" ]; then
  # The reference installs git in every pod (k8s.py:79-85): a task from a repository needs it, python:*-slim lacks it.
  CLEARML_APT=""
  [ -n "$LOCAL_PYTHON" ] || CLEARML_APT="python3-pip"
  command -v git >/dev/null 2>&1 || CLEARML_APT="$CLEARML_APT git"
  if [ -n "$CLEARML_APT" ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $CLEARML_APT
  elif [ -n "$CLEARML_APT" ] && command -v dnf >/dev/null 2>&1; then
    dnf install -y -q $CLEARML_APT
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

# The reference appends the glue's configuration and its extra lines to ~/clearml.conf (k8s.py:555-569): the
# same content, in the same order, in a file of its own.
_TASK_CONF = """\
CLEARML_TASK_CONF="${{TMPDIR:-/tmp}}/clearml-task.conf"
{{
  for conf in "${{CLEARML_CONFIG_FILE:-$HOME/clearml.conf}}" {mounted}; do [ -f "$conf" ] && cat "$conf" && echo; done
  printf '%s\\n' "${extra_env}"
}} > "$CLEARML_TASK_CONF"
export CLEARML_CONFIG_FILE="$CLEARML_TASK_CONF"
"""

# agent.extra_docker_shell_script of that configuration, after the agent is installed and before the task's own
# setup script, where the reference runs it (k8s.py:76-104, :883); clearml-agent ships a HOCON parser.
_EXTRA_SHELL = """\
CLEARML_EXTRA_SHELL="${TMPDIR:-/tmp}/clearml-extra-docker-shell.sh"
"$LOCAL_PYTHON" -c 'import sys
from clearml_agent.external.pyhocon import ConfigFactory
lines = ConfigFactory.parse_file(sys.argv[1]).get("agent.extra_docker_shell_script", None) or []
print("\\n".join([lines] if isinstance(lines, str) else [str(x) for x in lines]))' "$CLEARML_CONFIG_FILE" \\
  > "$CLEARML_EXTRA_SHELL" && . "$CLEARML_EXTRA_SHELL"
"""


def agent_script(
    task_id: str,
    *,
    setup_shell_script: str | Sequence[str] | None = None,
    install_agent: bool = True,
    agent_install_args: str = "",
    execute_args: Sequence[str] = DEFAULT_EXECUTE_ARGS,
    task_config: str | None = None,
    extra_config_env: str = "KUBECTL_CLEARML_EXTRA_CONF",
    custom_script: str | None = None,
) -> str:
    """The script for ``/bin/bash -c``. Deterministic: the same inputs give the same text.

    ``task_config``: the path of the agent's mounted clearml.conf ("" when it has none) to build the task's
    configuration from (with the lines in env ``extra_config_env``); None leaves the configuration alone.
    ``custom_script``: the enterprise ``agentk8sglue.containerCustomBashScript`` (clearml-docs
    air_gapped_env.md:226-250), a template with ``{extra_bash_init_cmd}``, ``{agent_install_args}``,
    ``{extra_docker_bash_script}``, ``{default_execution_agent_args}`` and ``{task_id}`` (the reference's own
    script's placeholders, k8s.py:876-882), run instead of ours after the configuration is built.
    """
    if custom_script is not None:
        return _custom(task_id, custom_script, setup_shell_script, agent_install_args, execute_args, task_config,
                       extra_config_env)  # fmt: skip
    requirement = "clearml-agent" + agent_install_args.strip()
    parts = ["set -o pipefail"]
    if task_config is not None:
        mounted = shlex.quote(task_config) if task_config else ""
        parts.append(_TASK_CONF.format(mounted=mounted, extra_env=extra_config_env).rstrip())
    parts.append(_FIND_PYTHON)
    if install_agent:
        parts.append(
            _INSTALL_AGENT.format(
                requirement=shlex.quote(requirement), requirement_text=requirement.replace('"', "").replace("$", "")
            )
        )
    if task_config is not None:
        parts.append(_EXTRA_SHELL.rstrip())
    setup = "\n".join(setup_shell_script) if isinstance(setup_shell_script, (list, tuple)) else setup_shell_script
    if setup and str(setup).strip():
        parts.append("# the task's setup_shell_script\n" + str(setup).rstrip())
    command = ["-m", "clearml_agent", "execute", *execute_args, "--id", task_id]
    parts.append('exec "$LOCAL_PYTHON" ' + " ".join(shlex.quote(token) for token in command))
    return "\n".join(parts) + "\n"


def _custom(
    task_id: str,
    template: str,
    setup_shell_script: str | Sequence[str] | None,
    agent_install_args: str,
    execute_args: Sequence[str],
    task_config: str | None,
    extra_config_env: str,
) -> str:
    setup = "\n".join(setup_shell_script) if isinstance(setup_shell_script, (list, tuple)) else setup_shell_script
    extra = [_EXTRA_SHELL.rstrip()] if task_config is not None else []
    if setup and str(setup).strip():
        extra.append(str(setup).rstrip())
    values = {
        "extra_bash_init_cmd": "",
        "agent_install_args": agent_install_args,
        "extra_docker_bash_script": "\n".join(extra),
        "default_execution_agent_args": " ".join(shlex.quote(a) for a in execute_args),
        "task_id": task_id,
    }
    body = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)
    parts = ["set -o pipefail"]
    if task_config is not None:
        mounted = shlex.quote(task_config) if task_config else ""
        parts.append(_TASK_CONF.format(mounted=mounted, extra_env=extra_config_env).rstrip())
    parts.append(body.rstrip())
    return "\n".join(parts) + "\n"
