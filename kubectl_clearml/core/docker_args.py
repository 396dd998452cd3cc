"""A task's docker arguments, translated into what a Kubernetes pod can honour.

ClearML tasks carry ``container.arguments`` written for ``docker run``. On Kubernetes only some of them
have a meaning: ``-e/--env K=V`` becomes container env, ``--shm-size`` and ``--ipc=host`` become a Memory
emptyDir at /dev/shm (hostIPC is never used: it would share the node's IPC namespace). Everything else is
returned as *dropped*, so the caller can say so in the task's status message instead of losing it silently
(the reference glue's weakness 7).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from kubectl_clearml.core.secrets import MASK, is_secret_key

# Docker flags that take a separate value (``-v SRC:DST``), so a dropped flag is reported with its value
# and the value is not mistaken for a flag of its own.
_FLAGS_WITH_VALUE = frozenset(
    {
        "-v", "--volume", "--gpus", "--network", "--net", "-p", "--publish", "--name", "-u", "--user",
        "-w", "--workdir", "--entrypoint", "--device", "--cap-add", "--cap-drop", "-l", "--label", "--mount",
        "--runtime", "--ulimit", "--cpus", "-m", "--memory", "--memory-swap", "--add-host", "--dns",
        "--security-opt", "--tmpfs", "--env-file", "-h", "--hostname", "--ipc", "--pid", "--uts",
        "--restart", "--platform", "--pull", "--log-driver", "--log-opt", "--cpuset-cpus", "--group-add",
        "--shm-size", "-e", "--env", "--cpu-shares", "-c", "--label-file", "--sysctl", "--stop-signal",
    }
)  # fmt: skip

# Docker's RAMInBytes grammar: a number, optional blank, then k/m/g/t/p with optional "i" and "b"; 1024-based.
_DOCKER_SIZE_RE = re.compile(r"^(?P<num>[0-9]+(?:\.[0-9]+)?) ?(?P<unit>[kmgtp])?i?b?$", re.IGNORECASE)
_DOCKER_UNITS = {None: 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}
_BINARY_SUFFIXES = (("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


class DockerArgumentError(ValueError):
    """Docker arguments that cannot even be tokenised, or an unusable ``--shm-size``."""


@dataclass(frozen=True)
class DockerTranslation:
    """What the pod gets from the task's docker arguments."""

    env: tuple[tuple[str, str], ...] = ()  # in order; a later duplicate name overrides an earlier one
    shm_size: str | None = None  # Kubernetes quantity for the /dev/shm emptyDir, from --shm-size
    ipc_host: bool = False  # --ipc=host asked for a shared /dev/shm: served by the same emptyDir
    dropped: tuple[str, ...] = ()  # arguments Kubernetes cannot honour, as the user wrote them
    notes: tuple[str, ...] = field(default=())


def docker_size_to_quantity(text: str) -> str:
    """``8g`` → ``8Gi``, ``512m`` → ``512Mi``, ``1.5g`` → ``1536Mi``, ``1048576`` → ``1Mi`` (docker sizes are 1024-based)."""
    match = _DOCKER_SIZE_RE.match(text.strip())
    if not match:
        raise DockerArgumentError(f"invalid --shm-size {text!r}: expected a docker size such as 8g, 512m or 1073741824")
    unit = match.group("unit")
    multiplier = _DOCKER_UNITS[unit.lower() if unit else None]
    num = match.group("num")
    whole, _, frac = num.partition(".")
    nbytes = (int(whole) * multiplier) + (int(frac) * multiplier // 10 ** len(frac) if frac else 0)
    if nbytes < 1:
        raise DockerArgumentError(f"invalid --shm-size {text!r}: must be at least one byte")
    for suffix, size in _BINARY_SUFFIXES:
        if nbytes % size == 0:
            return f"{nbytes // size}{suffix}"
    return str(nbytes)


def split_arguments(arguments: str | Sequence[str] | None) -> list[str]:
    """Tokens of ``container.arguments``: a shell-quoted string (the usual form) or an already split list."""
    if not arguments:
        return []
    if isinstance(arguments, str):
        try:
            return shlex.split(arguments)
        except ValueError as exc:
            raise DockerArgumentError(f"docker arguments cannot be parsed ({exc}): {arguments!r}") from exc
    return [str(token) for token in arguments]


def _flag_and_value(tokens: list[str], index: int) -> tuple[str, str | None, int]:
    """(flag, inline-or-next value, tokens consumed) for the token at ``index``."""
    token = tokens[index]
    if token.startswith("--") and "=" in token:
        flag, _, value = token.partition("=")
        return flag, value, 1
    if token.startswith("-e") and len(token) > 2 and not token.startswith("--"):
        return "-e", token[2:].lstrip("="), 1  # -eK=V
    if token in _FLAGS_WITH_VALUE and index + 1 < len(tokens):
        return token, tokens[index + 1], 2
    if token.startswith("-") and is_secret_key(token) and index + 1 < len(tokens) and not tokens[index + 1].startswith("-"):
        return token, tokens[index + 1], 2  # `--hf-token hf_...`: dropped, and reported with its value masked
    return token, None, 1


def translate(arguments: str | Sequence[str] | None) -> DockerTranslation:
    tokens = [token for token in split_arguments(arguments) if token]
    env: list[tuple[str, str]] = []
    dropped: list[str] = []
    notes: list[str] = []
    shm_size: str | None = None
    ipc_host = False
    index = 0
    while index < len(tokens):
        flag, value, used = _flag_and_value(tokens, index)
        original = " ".join(tokens[index : index + used])
        if value is not None and is_secret_key(flag):
            original = f"{flag} {MASK}" if used == 2 else f"{flag}={MASK}"
        index += used
        if flag in ("-e", "--env"):
            name, sep, env_value = (value or "").partition("=")
            if not name:
                dropped.append(original)
                continue
            if not sep:
                # docker copies the host's variable; the reference glue sets NAME="" (k8s.py:846-870): so do we.
                notes.append(f"{original}: set to an empty value, as the reference glue does (no docker host)")
            elif used == 1:
                # The reference honours only `-e K=V`/`--env K=V` as two tokens (k8s.py:846-870) and skips this.
                notes.append(f"{original}: applied; the reference glue skips this form of -e/--env")
            env.append((name, env_value))
        elif flag == "--shm-size" and value is not None:
            shm_size = docker_size_to_quantity(value)
            notes.append(f"{original}: /dev/shm is a Memory emptyDir of {shm_size}")
        elif flag == "--ipc" and value == "host":
            ipc_host = True
        else:
            dropped.append(original)
    return DockerTranslation(
        env=tuple(env), shm_size=shm_size, ipc_host=ipc_host, dropped=tuple(dropped), notes=tuple(notes)
    )
