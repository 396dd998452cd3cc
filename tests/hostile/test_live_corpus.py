"""Hostile live objects (issue 16): whoever can edit the agent's template ConfigMap or write a Helm release
Secret in the namespace must not be able to hang, bloat or crash the plugin of whoever reads it."""

from __future__ import annotations

import base64
import gzip
import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.diff_template.helm_objects import glue_deployment, manifest, release_secret
from tests.hostile.corpus import MiB, _laughs, _merge_bomb
from tests.hostile.harness import run_checked
from tests.hostile.test_fuzz import values_bytes

NS = "ml"
CM = "agent-pod-template"
POD = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "task", "image": "python:3.11"}]}}
VALUES = {"agentk8sglue": {"queues": {"default": {"templateOverrides": {}}}}}

# template.yaml texts (a ConfigMap's data is a string: the encodings cannot be wrong, a lone surrogate can)
TEMPLATES = {
    "laughs": (_laughs(), "alias"),
    "merge-bomb": (_merge_bomb(), "alias"),
    "cycle": ("default: &a {spec: {containers: [*a]}}\n", "(a cycle)"),
    "deep": ("spec: " + "[" * 3000 + "]" * 3000 + "\n", "nesting too deep"),
    "huge": ("spec: " + "x" * (10 * MiB) + "\n", "larger than 10 MiB"),
    "surrogate": ("spec: {containers: [{name: '\ud800'}]}\n", "not valid Unicode"),
}


def _commands() -> list[list[str]]:
    ns = ["-n", NS]
    return [
        ["diff-template", "--rendered", *ns],
        ["diff-template", "--all", *ns],
        ["diff-template", "--lint", *ns],
        ["shm-fix", "--check", "--live", *ns],
        ["shm-fix", "default", "--live", "--apply", "--dry-run=client", *ns],
        ["gpu-report", "--no-clearml", *ns],
    ]


def _install(kube: Any, *, template_text: str | None = None, secret: dict[str, Any] | None = None) -> None:
    kube.store.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    deployment = glue_deployment("agent", NS, CM, "default")
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CM, "namespace": NS},
        "data": {"template.yaml": template_text if template_text is not None else json.dumps(POD)},
    }
    for obj in (deployment, configmap):
        kube.store.add(obj)
    kube.store.add(secret or release_secret("agent", NS, 1, config=VALUES, manifest=manifest(deployment)))


def _raw_release(payload: bytes) -> dict[str, Any]:
    secret = release_secret("agent", NS, 1)
    secret["data"]["release"] = base64.b64encode(base64.b64encode(payload)).decode()
    return secret


@pytest.fixture
def env(kube, tmp_path) -> dict[str, str]:
    return {"KUBECONFIG": kube.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_hostile_live_template_configmap(kube, env, tmp_path, name):
    text, expected = TEMPLATES[name]
    _install(kube, template_text=text)
    for args in _commands():
        result = run_checked(args, env, tmp_path)
        _refused_or_noted(args, result, expected, CM)
    assert kube.store.get("configmaps", CM, NS)["data"]["template.yaml"] == text  # nothing patched


def _refused_or_noted(args: list[str], result: Any, expected: str, obj: str) -> None:
    """Refused with exit 2, naming the object; gpu-report goes on without its queue view and says why."""
    if args[0] == "gpu-report":
        assert result.exit_code == 0 and "note: no queue view:" in result.stderr, result.stderr
    else:
        assert result.exit_code == 2, (args, result.stderr)
    assert expected in result.stderr and obj in result.stderr, (args, result.stderr)


def _deep_json(levels: int) -> bytes:
    return json.dumps({"name": "agent"}).encode()[:-1] + b', "config": ' + b'{"a": ' * levels + b"1" + b"}" * levels + b"}"


RELEASES = {
    "gzip-bomb": (gzip.compress(b" " * (20 * MiB), 9), "larger than 10 MiB"),
    "deep-json": (gzip.compress(_deep_json(5000)), "nested too deep"),
    "deepish-json": (gzip.compress(_deep_json(300)), "nesting too deep"),
    "truncated-gzip": (gzip.compress(b'{"name": "agent"}')[:-12], "truncated gzip data"),
    "manifest-bomb": (
        gzip.compress(json.dumps({"name": "agent", "version": "x", "manifest": _laughs()}).encode()),
        "alias",
    ),
}


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_hostile_helm_release_secret(kube, env, tmp_path, name):
    payload, expected = RELEASES[name]
    _install(kube, secret=_raw_release(payload))
    for args in _commands():
        result = run_checked(args, env, tmp_path)
        _refused_or_noted(args, result, expected, "sh.helm.release.v1.agent.v1")


def test_an_uncompressed_release_is_capped_too():
    from kubectl_clearml.adapters.agent_install import decode_release
    from kubectl_clearml.core.yaml_input import InputLimitError

    data = base64.b64encode(base64.b64encode(b'{"name": "' + b"x" * (10 * MiB) + b'"}')).decode()
    with pytest.raises(InputLimitError, match="larger than 10 MiB"):
        decode_release(data, "secret ml/sh.helm.release.v1.agent.v1")


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "25")) // 2 + 5, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=values_bytes(), which=st.integers(0, len(_commands()) - 1))
def test_any_live_template_text(kube, env, tmp_path, data, which):
    """Whatever text the ConfigMap's template.yaml holds (a ConfigMap's data is a string: undecodable bytes
    arrive as replacement characters), each command that reads it ends within the contract."""
    text = data.decode("utf-8", "replace")
    if kube.store.get("configmaps", CM, NS) is None:
        _install(kube, template_text=text)
    else:
        kube.store.update("configmaps", CM, NS, lambda cm: cm["data"].update({"template.yaml": text}))
    run_checked(_commands()[which], env, tmp_path)
