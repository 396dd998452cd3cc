"""Helm values files on disk: read them, write overlays, and edit them in place keeping their look.

The in-place edit itself (ruamel.yaml round trip: comments, key order, quoting, indentation) lives in
``adapters/yaml_edit.py``; this module reads and writes files, keeping ``<file>.bak`` before overwriting.
"""

from __future__ import annotations

import difflib
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML

from kubectl_clearml.adapters.yaml_edit import HelmSafeRepresenter, apply_overlay_text, commented, plain, yaml_error
from kubectl_clearml.core.diff import secret_strings
from kubectl_clearml.core.secrets import redact_text
from kubectl_clearml.core.yaml_input import MAX_INPUT_BYTES, decode, size_error
from kubectl_clearml.core.yaml_input import load as load_yaml
from kubectl_clearml.errors import UsageError
from kubectl_clearml.logs import redact, register_secret

__all__ = [
    "FileEdit",
    "apply_overlay_text",
    "dump_plain",
    "edit_in_place",
    "load_values",
    "parse_values",
    "read_bytes",
    "read_stdin",
    "register_value_secrets",
    "text_secrets",
    "write_text",
]


def read_bytes(path: str) -> bytes:
    """A file's bytes, at most ``MAX_INPUT_BYTES``: a bigger file (or /dev/zero, a pipe that never ends) is
    refused after reading one byte more than the cap, before anything is parsed."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        # Bad input (exit 2) like a missing kubeconfig, clearml.conf or --template, not "not found" (exit 3),
        # which is for queues, tasks and installs: and never something a command may shrug off as a warning.
        raise UsageError("values file not found", path, "check the -f/--values path") from None
    except OSError as exc:
        raise UsageError(f"cannot read values file: {exc.strerror}", path)
    if len(data) > MAX_INPUT_BYTES:
        raise size_error(path)
    return data


def read_stdin() -> bytes:
    """Standard input's bytes (``-f -``), read up to the same cap as a file."""
    import sys

    stream = getattr(sys.stdin, "buffer", None)
    if stream is not None:
        data: bytes = stream.read(MAX_INPUT_BYTES + 1)
    else:  # a text stream without bytes underneath (tests that swap sys.stdin)
        data = sys.stdin.read(MAX_INPUT_BYTES + 1).encode("utf-8", "surrogateescape")
    if len(data) > MAX_INPUT_BYTES:
        raise size_error("<stdin>")
    return data


def _read(path: str) -> str:
    return decode(read_bytes(path), path)


def parse_values(text: str | bytes, path: str = "<values>") -> dict[str, Any]:
    """Plain dicts and lists from YAML text; an empty document is ``{}``.

    Reading uses PyYAML's libyaml loader when present (about 30x faster than ruamel's pure-Python one on a
    values file with 200 queues); ruamel is kept for what needs it, editing a user's file in place.
    """
    import yaml

    try:
        data = load_yaml(text, path)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, path)
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise UsageError(
            "a values file must be a YAML mapping", path, "its top level holds keys such as agentk8sglue: and clearml:"
        )
    return dict(plain(data))


# `helm get values` (table output, its default) prints one of these lines before the YAML (helm v3,
# pkg/cmd/get_values.go); a release without overrides then prints `null`.
HELM_VALUES_HEADERS = ("USER-SUPPLIED VALUES:", "COMPUTED VALUES:")


def helm_values_text(data: bytes, path: str) -> bytes:
    """Input as `helm get values` prints it: the header line dropped. An empty stdin is refused: it is
    what `helm get values WRONG | kubectl clearml ... -f -` feeds us, and read as `{}` it would pass
    the chart's defaults off as the install. (Bytes: the bounded loader decodes them, UTF-16 included.)"""
    if path == "<stdin>" and not data.strip():
        raise UsageError(
            "no values on standard input",
            path,
            "did the command feeding it fail? `helm get values RELEASE -n NAMESPACE` prints nothing for a "
            "release that is not there",
        )
    first, _, rest = data.partition(b"\n")
    return rest if first.decode("utf-8", "replace").strip() in HELM_VALUES_HEADERS else data


def load_values(path: str) -> dict[str, Any]:
    """A values file, or standard input for ``-`` (``helm get values REL | kubectl clearml ... -f -``), as
    every command that takes -f reads them."""
    if path == "-":
        path = "<stdin>"
        data = read_stdin()
    else:
        data = read_bytes(path)
    values = parse_values(helm_values_text(data, path), path)
    register_value_secrets(values)
    return values


def register_value_secrets(values: Mapping[str, Any]) -> None:
    """The agent's credentials in a values file are secrets: masked in every output (diffs, logs) from now on."""
    clearml = values.get("clearml")
    if isinstance(clearml, Mapping):
        for key in ("agentk8sglueKey", "agentk8sglueSecret"):
            if isinstance(clearml.get(key), str):
                register_secret(clearml[key])


def dump_plain(data: Any) -> str:
    """Block-style YAML for overlays: keys in insertion order, no aliases, no tags."""
    yaml = YAML()
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.Representer = HelmSafeRepresenter
    out = io.StringIO()
    yaml.dump(commented(plain(data)), out)
    return out.getvalue()


@dataclass(frozen=True)
class FileEdit:
    path: str
    before: str
    after: str
    backup: str | None  # where the original was kept, when written

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        """The unified diff, secrets in the context lines masked (the file itself keeps them): the agent's
        credentials and any value under a secret-looking key or env name (``HF_TOKEN``, ``*_PASSWORD``)."""
        text = "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"a/{self.path}",
                tofile=f"b/{self.path}",
            )
        )
        return redact(redact_text(text, text_secrets(self.before, self.after)))


def text_secrets(*texts: str) -> set[str]:
    """Secret-looking values in YAML texts (see core.diff.secret_strings); unparsable texts give none."""
    found: set[str] = set()
    for text in texts:
        try:
            found |= secret_strings(parse_values(text))
        except UsageError:
            continue
    return found


def edit_in_place(path: str, overlay: Mapping[str, Any], *, write: bool = True,
                  planned_on: Mapping[str, Any] | None = None) -> FileEdit:
    """Merge ``overlay`` into the file (its symlink's target); keep the original as ``<file>.bak`` (or
    ``.bak.N`` when an earlier backup exists). Nothing is written when nothing changes.

    ``planned_on`` is the values the overlay was computed from: if the file no longer holds them (another
    run edited it meanwhile), the edit is refused rather than merged into text it was not planned for.
    """
    from kubectl_clearml.adapters.safe_files import changed_since_read, locked_original, write_like

    with locked_original(path, write=write) as original:
        if planned_on is not None and parse_values(original.text, path) != dict(planned_on):
            raise changed_since_read(path)
        before = original.text
        after = apply_overlay_text(before, overlay, path)
        if after == before or not write:
            return FileEdit(original.path, before, after, None)
        try:
            backup = write_like(original, after)
        except OSError as exc:
            raise UsageError(f"cannot write values file: {exc.strerror}", exc.filename or path) from None
    return FileEdit(original.path, before, after, backup)


def write_text(path: str, text: str) -> None:
    """Write through a temporary file and rename, so a crash never leaves half a file (see safe_files)."""
    from kubectl_clearml.adapters.safe_files import replace_atomically

    replace_atomically(os.path.realpath(path), text)
