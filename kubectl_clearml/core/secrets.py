"""Masking of secret values, for logs, tables, YAML and rendered manifests."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "********"

# Keys whose values are secret wherever they appear (env names, config keys, Secret data keys).
SECRET_KEY_PATTERN = re.compile(
    r"(secret|password|passwd|token|api[_-]?key|private[_-]?key|credential|agentk8sglue_key|git_pass)",
    re.IGNORECASE,
)


def mask_access_key(value: str | None) -> str:
    """Access keys identify, they do not authorise; show a short prefix so users can tell keys apart."""
    if not value:
        return ""
    return value[:4] + "…" if len(value) > 8 else MASK


# ``NAME=value`` in free text: a task's docker arguments (``-e HF_TOKEN=hf_...``) are quoted by errors,
# warnings, logs and ClearML status messages, and their values were never loaded as known secrets; so is
# ``NAME: value`` starting a line of a multi-line text (HOCON in a values file's ``clearml.clearmlConfig``,
# shown in shm-fix's diff context). A name starts only where a run of name characters starts (the scan
# stays linear on long lines), and after a name that is not secret the scan goes on right after its '='
# (``--env=HF_TOKEN=x``). The value is a quoted string, or ends at whitespace, a comma, ';', '&' or a
# quote (joined or repr()'d argument lists); an unclosed quote ('cannot be parsed') masks its first word.
# A backslash ends it too, and a quote that ends a JSON string is no opening quote, so a JSON log line
# (escaped \" and \\) stays JSON once masked.
_ASSIGNED_NAME = re.compile(
    r"(?<![A-Za-z0-9_.-])-*([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=[ \t]*"
    r"|(?m:^[ \t+-]*([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*:[ \t]*)"
)
_ASSIGNED_VALUE = re.compile(r"\"(?![,}\]:])[^\"]*\"|'[^']*'|\\\"[^\"\\]*\\\"|(?:(?:[\"']|\\\")(?![,}\]:]))?[^\s,;&'\"\\]+")


def _mask_assignments(text: str) -> str:
    out: list[str] = []
    done = 0
    position = 0
    while (name := _ASSIGNED_NAME.search(text, position)) is not None:
        position = name.end()
        if not is_secret_key(name.group(1) or name.group(2)):
            continue
        value = _ASSIGNED_VALUE.match(text, position)
        if value is not None:
            out += [text[done:position], MASK]
            done = position = value.end()
    return "".join(out) + text[done:]


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each known secret value (longest first) with the mask, and the value
    of every ``NAME=value`` whose name looks secret (``HF_TOKEN=…``, ``--secret-key=…``)."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _mask_assignments(text) if "=" in text or "\n" in text else text


def is_secret_key(key: str) -> bool:
    return bool(SECRET_KEY_PATTERN.search(key))


def redact_mapping(data: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of ``data`` with values under secret-looking keys masked and known secret values replaced.

    Kubernetes env entries (``{"name": "X_SECRET", "value": "..."}``) are masked by their ``name``;
    ``valueFrom`` references are kept because they carry no secret.
    """
    known = list(secrets)
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        env_name = data.get("name") if isinstance(data.get("name"), str) else None
        for key, value in data.items():
            if isinstance(value, str) and (
                is_secret_key(str(key)) or (key == "value" and env_name is not None and is_secret_key(env_name))
            ):
                out[key] = MASK if value else value
            else:
                out[key] = redact_mapping(value, known)
        return out
    if isinstance(data, list):
        return [redact_mapping(v, known) for v in data]
    if isinstance(data, str):
        return redact_text(data, known)
    return data
