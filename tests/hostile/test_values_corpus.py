"""The fixed corpus of issue 16 through every command that reads a values file, in-process against the
sandbox emulators: alias bombs, cycles, encodings, huge and endless input, deep nesting, typed values."""

from __future__ import annotations

import pytest

from tests.hostile.corpus import MiB, _laughs, hostile_cases, valid_cases
from tests.hostile.harness import commands, run_checked

HOSTILE = hostile_cases()
VALID = valid_cases()

# What each case must be refused with (exit 2 and this text on the error line), by every command.
REFUSED = {
    "laughs-top": "alias",
    "laughs-queue": "alias",
    "laughs-template": "alias",
    "laughs-merge": "alias",
    "laughs-wide": "alias",
    "many-nodes": "more than 50,000 nodes",
    "cycle-seq": "(a cycle)",
    "cycle-map": "(a cycle)",
    "cycle-merge": "(a cycle)",
    "cycle-queue": "(a cycle)",
    "deep-flow": "nesting too deep",
    "deep-block": "nesting too deep",
    "deep-dashes": "nesting too deep",
    "binary": "not valid UTF-16 BE text (as its zero bytes at the start suggest) at byte",
    "urandom": "not valid UTF-8 text at byte 0",
    "latin1": "not valid UTF-8 text at byte 171",
    "utf16-odd": "not valid UTF-16 LE text at byte",
    "huge-file": "larger than 10 MiB",
    "huge-scalar": "larger than 10 MiB",
    "maxpods-abc": "agentk8sglue.queues.default.queueSettings.maxPods must be a whole number",
    "maxpods-nan": "queueSettings.maxPods must be a whole number",
    "maxpods-map": "queueSettings.maxPods must be a whole number",
    "gpu-nan": "agentk8sglue.queues.default.templateOverrides.resources.limits.nvidia.com/gpu is nan",
    "gpu-inf": "resources.limits.nvidia.com/gpu is inf",
    "amplified": "template nodes, over 150,000",
    "nul": "malformed YAML: unacceptable character #x0000: control characters are not allowed at character 170",
    "surrogate-escape": "malformed YAML",
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_values_file(read_only_world, tmp_path, name):
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(HOSTILE[name])
    for args in commands(str(path)):
        result = run_checked(args, read_only_world.env, tmp_path)
        if name in REFUSED:
            assert result.exit_code == 2 and REFUSED[name] in result.stderr, (args, result.stderr)
            # names the file, or for a typed value the key (the layers are merged by then)
            assert f"{name}.yaml" in result.stderr or "agentk8sglue." in result.stderr, result.stderr
    assert path.read_bytes() == HOSTILE[name]


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_encoding_yaml_reads_is_read(read_only_world, tmp_path, name):
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(VALID[name])
    result = run_checked(["diff-template", "default", "-f", str(path), "-n", "clearml"], read_only_world.env, tmp_path)
    assert result.exit_code in (0, 1), result.stderr
    if name not in ("empty", "comment-only"):  # the queue's label is read, whatever the encoding
        assert "+    team: red" in result.stdout, result.stdout


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_endless_devices_as_values_are_read_only_up_to_the_cap(read_only_world, tmp_path, device):
    for args in commands(device)[:2] + commands(device)[4:5]:
        result = run_checked(args, read_only_world.env, tmp_path)
        assert result.exit_code == 2 and "larger than 10 MiB" in result.stderr and device in result.stderr


def test_hostile_values_on_stdin(read_only_world, tmp_path, monkeypatch):
    """``helm get values | kubectl clearml ... -f -`` reads stdin within the same bounds (bytes, not text)."""
    import io
    import sys

    for data, expected in (
        (b"agentk8sglue: caf\xe9\n", "not valid UTF-8 text at byte 17"),
        (_laughs().encode(), "alias"),
        (b"a: " + b"[" * 500 + b"]" * 500, "nesting too deep"),
        (b"#" * (10 * MiB + 1), "larger than 10 MiB"),
    ):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
        result = run_checked(["diff-template", "--all", "-f", "-", "-n", "clearml"], read_only_world.env, tmp_path)
        assert result.exit_code == 2 and expected in result.stderr and "<stdin>" in result.stderr, result.stderr


@pytest.mark.parametrize("name", ["laughs-top", "cycle-map", "latin1", "huge-file", "deep-flow"])
def test_hostile_template_files(read_only_world, tmp_path, name):
    """``--template FILE`` (run-glue, submit-pod) goes through the same loader as a values file."""
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(HOSTILE[name])
    for args in (
        ["run-glue", "--dry-run", "--queue", "default", "--template", str(path), "-n", "clearml"],
        ["submit-pod", "--queue", "default", "--template", str(path), "--image", "python:3.11",
         "--dry-run=client", "-n", "clearml", "--", "true"],
    ):
        result = run_checked(args, read_only_world.env, tmp_path)
        assert result.exit_code == 2 and REFUSED[name] in result.stderr and f"{name}.yaml" in result.stderr, (
            args, result.stderr)
