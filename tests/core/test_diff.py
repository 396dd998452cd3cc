"""Template comparison: normalisation and masking, unified YAML diff, JSON patch, structured changes."""

from __future__ import annotations

import copy

import jsonpatch
from hypothesis import given
from hypothesis import strategies as st

from kubectl_clearml.core.diff import (
    changed_paths,
    colorize_diff,
    json_patch,
    normalise,
    structured_changes,
    unified_yaml_diff,
)
from kubectl_clearml.core.secrets import MASK

BASE = {
    "apiVersion": "v1",
    "metadata": {"labels": {"team": "red"}, "annotations": {}},
    "spec": {
        "containers": [
            {
                "resources": {"limits": {"memory": "1Gi"}},
                "env": [{"name": "CLEARML_API_HOST", "value": "https://api"}],
            }
        ]
    },
}


def _green():
    green = copy.deepcopy(BASE)
    green["metadata"]["labels"]["team"] = "green"
    green["metadata"]["annotations"]["example"] = "example value"
    green["spec"]["containers"][0]["resources"]["limits"]["memory"] = "2Gi"
    green["spec"]["containers"][0]["env"].append({"name": "MY_ENV", "value": "my_value"})
    return green


def test_unified_diff_shows_only_the_changes_with_context():
    text = unified_yaml_diff(BASE, _green(), "base", "green", context=0)
    assert text.startswith("--- base\n+++ green\n")
    changed = [ln for ln in text.splitlines() if ln[:1] in "+-" and not ln.startswith(("---", "+++"))]
    assert "-    team: red" in changed and "+    team: green" in changed
    assert "+        memory: 2Gi" in changed and "-        memory: 1Gi" in changed
    assert "+    - name: MY_ENV" in changed
    assert "apiVersion" not in text  # no context lines with -C 0
    assert "apiVersion: v1" in unified_yaml_diff(BASE, _green(), "a", "b", context=-1)
    assert unified_yaml_diff(BASE, copy.deepcopy(BASE), "a", "b") == ""


def test_colour_marks_lines():
    text = unified_yaml_diff(BASE, _green(), "base", "green")
    painted = colorize_diff(text, lambda s, c: f"<{c}>{s}</{c}>")
    assert "<red>-    team: red</red>" in painted and "<green>+    team: green</green>" in painted
    assert "<bold>--- base</bold>" in painted and "<cyan>@@" in painted
    assert colorize_diff(text, lambda s, c: s) == text


def test_json_patch_round_trips():
    ops = json_patch(BASE, _green())
    assert jsonpatch.apply_patch(BASE, ops) == _green()
    assert {"op": "replace", "path": "/metadata/labels/team", "value": "green"} in ops


def test_structured_changes_address_named_entries():
    changes = {c["path"]: c for c in structured_changes(BASE, _green())}
    assert changes["metadata.labels.team"] == {
        "path": "metadata.labels.team",
        "field": "team",
        "change": "modified",
        "oldValue": "red",
        "newValue": "green",
    }
    assert changes["metadata.annotations.example"]["change"] == "added"
    assert changes["spec.containers[0].env[name=MY_ENV]"]["newValue"] == {"name": "MY_ENV", "value": "my_value"}
    assert "spec.containers[0].resources.limits.memory" in changed_paths(BASE, _green())
    removed = structured_changes(_green(), BASE)
    assert any(c["change"] == "removed" and c["path"].endswith("[name=MY_ENV]") for c in removed)


def test_normalise_drops_noise_and_masks_secrets():
    obj = {
        "metadata": {"name": "x", "managedFields": [{}], "resourceVersion": "7", "uid": "u"},
        "status": {"phase": "Running"},
        "spec": {
            "containers": [
                {"env": [{"name": "MY_SECRET_TOKEN", "value": "hunter22"}, {"name": "A", "value": "sk-known"}]}
            ]
        },
    }
    out = normalise(obj, secrets=["sk-known"])
    assert out["metadata"] == {"name": "x"} and "status" not in out
    env = out["spec"]["containers"][0]["env"]
    assert env[0]["value"] == MASK and env[1]["value"] == MASK
    assert obj["status"] == {"phase": "Running"}  # input untouched


json_values = st.recursive(
    st.one_of(st.integers(-2, 2), st.text(max_size=2), st.none()),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "name"]), c, max_size=3),
    max_leaves=10,
)


@given(json_values, json_values)
def test_patch_and_diff_agree_on_equality(a, b):
    assert jsonpatch.apply_patch(a, json_patch(a, b)) == b
    assert (unified_yaml_diff(a, b, "a", "b") == "") == (a == b)
    assert (structured_changes(a, b) == []) == (a == b)


def test_secret_strings_are_what_normalise_masks():
    from kubectl_clearml.core.diff import secret_strings

    pod = {
        "env": [{"name": "HF_TOKEN", "value": "hf_0123456789"}, {"name": "MODE", "value": "train-mode"}],
        "password": "pa55word!",
        "ref": {"valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}},
        "short": {"token": "abc"},
    }
    assert secret_strings(pod) == {"hf_0123456789", "pa55word!"}
