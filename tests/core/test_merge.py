"""Strategic merge and JSON merge patch: properties, and a differential test against kubectl's Go code.

The oracle is ``kubectl patch --local -f obj.json --type T -p PATCH -o json``: it runs the real
k8s.io/apimachinery strategicpatch (and evanphx/json-patch) code with no server at all.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import tempfile
from typing import Any

import jsonpatch
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubectl_clearml.core.merge import StrategicMergeError, json_merge_patch, strategic_merge

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


def kubectl_patch(obj: dict[str, Any], patch: Any, patch_type: str = "strategic") -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "obj.json")
        with open(path, "w") as handle:
            json.dump(obj, handle)
        done = subprocess.run(
            [KUBECTL or "kubectl", "patch", "--local", "-f", path, "--type", patch_type,
             "-p", json.dumps(patch), "-o", "json"],
            capture_output=True, text=True, env={**os.environ, "KUBECONFIG": "/dev/null"}, timeout=30,
        )
    assert done.returncode == 0, done.stderr
    return without_dollar_keys(json.loads(done.stdout))


def without_dollar_keys(value: Any) -> Any:
    """What an apiserver stores of kubectl's output: typed decoding drops unknown ``$`` keys."""
    if isinstance(value, dict):
        return {k: without_dollar_keys(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [without_dollar_keys(v) for v in value]
    return value


# --- fixtures ---------------------------------------------------------------------------------------


def base_pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"app": "x", "tier": "gpu"}, "finalizers": ["a/b"]},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "img:1",
                    "args": ["--a", "--b"],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}],
                    "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 81}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    "resources": {"limits": {"nvidia.com/gpu": "1", "cpu": "2"}},
                },
                {"name": "side", "image": "side:1"},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "nodeSelector": {"pool": "a100"},
            "imagePullSecrets": [{"name": "reg"}],
        },
    }


def base_deployment() -> dict[str, Any]:
    pod = base_pod()
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "agent", "labels": {"app": "agent"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": pod["spec"]},
        },
    }


def in_template(spec_patch: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": spec_patch}}}


def main(patch: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "main", **patch}]}}


POD_CASES: list[tuple[str, dict[str, Any]]] = [
    ("container, env, ports, volumes together", {"spec": {
        "containers": [{"name": "main", "env": [{"name": "D", "value": "4"}], "ports": [{"containerPort": 82}],
                        "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}]}],
        "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory"}}]}}),
    ("in-place env update", main({"env": [{"name": "B", "value": "changed"}]})),
    ("env reordered and extended", main({"env": [{"name": "C", "value": "x"}, {"name": "D", "value": "4"},
                                                 {"name": "A", "value": "y"}]})),
    ("new env goes first", main({"env": [{"name": "Z", "value": "z"}]})),
    ("delete a container", {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}),
    ("delete an env var", main({"env": [{"name": "A", "$patch": "delete"}]})),
    ("replace the container list", {"spec": {"containers": [{"name": "only", "image": "o"}, {"$patch": "replace"}]}}),
    ("replace a map", {"spec": {"nodeSelector": {"zone": "b", "$patch": "replace"}}}),
    ("null deletes keys", {"metadata": {"labels": {"tier": None}}, "spec": {"nodeSelector": None}}),
    ("null inside a merged item", main({"resources": {"limits": {"cpu": None}}, "image": None})),
    ("tolerations replaced", {"spec": {"tolerations": [{"key": "other", "operator": "Exists"}]}}),
    ("args replaced", main({"args": ["--c"]})),
    ("setElementOrder reorders containers", {"spec": {
        "$setElementOrder/containers": [{"name": "side"}, {"name": "main"}],
        "containers": [{"name": "main", "image": "img:2"}]}}),
    ("setElementOrder with a three-way delete", {"spec": {
        "$setElementOrder/containers": [{"name": "main"}],
        "containers": [{"name": "side", "$patch": "delete"}]}}),
    ("new volumeMount merged by mountPath", main({"volumeMounts": [{"name": "data", "mountPath": "/other"}]})),
    ("new initContainers", {"spec": {"initContainers": [{"name": "init", "image": "busybox"}]}}),
    ("ports merged by containerPort", main({"ports": [{"containerPort": 82}, {"containerPort": 80, "name": "h"}]})),
    ("finalizers merge as a set", {"metadata": {"finalizers": ["c/d", "a/b"]}}),
    ("deleteFromPrimitiveList", {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a/b"]}}),
    ("retainKeys switches a volume source", {"spec": {"volumes": [
        {"name": "data", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/mnt"}}]}}),
    ("new subtree drops its nulls", {"spec": {"securityContext": {"runAsUser": 1000, "fsGroup": None}}}),
    ("type change replaces", {"metadata": {"labels": None}, "spec": {"tolerations": {"x": 1}}}),
    ("imagePullSecrets merge by name", {"spec": {"imagePullSecrets": [{"name": "other"}]}}),
    ("new list is cleaned of directives and nulls", {"spec": {"initContainers": [
        {"name": "i", "image": None, "env": [{"name": "X", "value": None}, {"name": "Y", "$patch": "delete"}]}]}}),
    ("appended item keeps its nulls", {"spec": {"containers": [{"name": "new", "env": [{"name": "Q", "value": None}]}]}}),
    ("new map with a replace directive is dropped", {"spec": {"dnsConfig": {"$patch": "replace", "nameservers": []}}}),
]

DEPLOYMENT_CASES: list[tuple[str, dict[str, Any]]] = [
    ("template container image", in_template({"containers": [{"name": "main", "image": "img:3"}]})),
    ("template adds shm volume", in_template({
        "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}}],
        "containers": [{"name": "main", "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}]}]})),
    ("replicas and annotations", {"spec": {"replicas": 3, "template": {"metadata": {
        "annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}}}),
    ("template env delete and add", in_template({"containers": [{"name": "main", "env": [
        {"name": "B", "$patch": "delete"}, {"name": "E", "value": "5"}]}]})),
]


# --- differential tests against kubectl ---------------------------------------------------------------


@needs_kubectl
@pytest.mark.parametrize(("name", "patch"), POD_CASES, ids=[c[0] for c in POD_CASES])
def test_pod_cases_match_kubectl(name: str, patch: dict[str, Any]) -> None:
    assert strategic_merge(base_pod(), patch) == kubectl_patch(base_pod(), patch)


@needs_kubectl
@pytest.mark.parametrize(("name", "patch"), DEPLOYMENT_CASES, ids=[c[0] for c in DEPLOYMENT_CASES])
def test_deployment_cases_match_kubectl(name: str, patch: dict[str, Any]) -> None:
    assert strategic_merge(base_deployment(), patch) == kubectl_patch(base_deployment(), patch)


@needs_kubectl
def test_new_env_goes_before_existing_ones_like_go() -> None:
    merged = strategic_merge(base_pod(), main({"env": [{"name": "Z", "value": "z"}]}))
    assert [e["name"] for e in merged["spec"]["containers"][0]["env"]] == ["Z", "A", "B", "C"]


MERGE_PATCH_CASES: list[dict[str, Any]] = [
    {"spec": {"containers": [{"name": "x", "image": "y"}]}},  # lists are replaced
    {"metadata": {"labels": {"app": None, "new": "1"}}},
    {"spec": {"nodeSelector": None, "hostNetwork": True}},
    {"spec": {"securityContext": {"runAsUser": 1, "fsGroup": None}}},
]


@needs_kubectl
@pytest.mark.parametrize("patch", MERGE_PATCH_CASES)
def test_json_merge_patch_matches_kubectl(patch: dict[str, Any]) -> None:
    assert json_merge_patch(base_pod(), patch) == kubectl_patch(base_pod(), patch, "merge")


JSON_PATCH_CASES: list[list[dict[str, Any]]] = [
    [{"op": "replace", "path": "/spec/containers/0/image", "value": "new"}],
    [{"op": "add", "path": "/spec/containers/0/env/-", "value": {"name": "Z", "value": "z"}}],
    [{"op": "remove", "path": "/metadata/labels/tier"}, {"op": "test", "path": "/metadata/name", "value": "p"}],
    [{"op": "move", "from": "/spec/nodeSelector", "path": "/metadata/annotations"}],
]


@needs_kubectl
@pytest.mark.parametrize("patch", JSON_PATCH_CASES)
def test_json_patch_library_matches_kubectl(patch: list[dict[str, Any]]) -> None:
    # The emulator applies JSON patches with the jsonpatch library; check it agrees with Go.
    assert jsonpatch.apply_patch(base_pod(), patch) == kubectl_patch(base_pod(), patch, "json")


# --- generated objects and patches --------------------------------------------------------------------

NAMES = st.sampled_from(["A", "B", "C", "D"])
VALUES = st.sampled_from(["1", "2", "x"])


def unique_by(key: str, item: st.SearchStrategy[dict[str, Any]], max_size: int = 3) -> Any:
    return st.lists(item, max_size=max_size, unique_by=lambda d: d[key])


def env_items(nulls: bool) -> Any:
    value = st.one_of(VALUES, st.none()) if nulls else VALUES
    return unique_by("name", st.fixed_dictionaries({"name": NAMES, "value": value}))


def containers(nulls: bool, deletes: bool) -> Any:
    item = st.fixed_dictionaries(
        {"name": st.sampled_from(["main", "side", "extra"])},
        optional={
            "image": st.sampled_from(["a:1", "b:2"]),
            "env": env_items(nulls),
            "ports": unique_by("containerPort", st.fixed_dictionaries(
                {"containerPort": st.sampled_from([80, 81, 82])}, optional={"name": st.sampled_from(["h", "g"])})),
            "volumeMounts": unique_by("mountPath", st.fixed_dictionaries(
                {"name": st.sampled_from(["v1", "v2"]), "mountPath": st.sampled_from(["/a", "/b", "/c"])})),
            "args": st.lists(st.sampled_from(["-x", "-y"]), max_size=2),
        },
    )
    if deletes:
        deleted = st.fixed_dictionaries({"name": st.sampled_from(["main", "side", "extra"]),
                                         "$patch": st.just("delete")})
        item = st.one_of(item, deleted)
    return unique_by("name", item)


def labels(nulls: bool) -> Any:
    return st.dictionaries(st.sampled_from(["app", "tier", "zone"]),
                           st.one_of(VALUES, st.none()) if nulls else VALUES, max_size=3)


def pod_specs(nulls: bool, deletes: bool) -> Any:
    return st.fixed_dictionaries({}, optional={
        "containers": containers(nulls, deletes),
        "volumes": unique_by("name", st.fixed_dictionaries(
            {"name": st.sampled_from(["v1", "v2", "v3"]), "emptyDir": st.just({})})),
        "tolerations": st.lists(st.fixed_dictionaries({"key": st.sampled_from(["gpu", "cpu"]),
                                                       "operator": st.just("Exists")}), max_size=2),
        "nodeSelector": labels(nulls),
    })


def pods(nulls: bool = False, deletes: bool = False) -> Any:
    return st.fixed_dictionaries({
        "metadata": st.fixed_dictionaries({}, optional={"labels": labels(nulls)}),
        "spec": pod_specs(nulls, deletes),
    })


def as_pod(body: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", **body, "metadata": {"name": "p", **body["metadata"]}}


def as_deployment(body: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": body}}


@needs_kubectl
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(original=pods(), patch=pods(nulls=True, deletes=True))
def test_generated_pod_patches_match_kubectl(original: dict[str, Any], patch: dict[str, Any]) -> None:
    obj = as_pod(original)
    assert strategic_merge(obj, patch) == kubectl_patch(obj, patch)


@needs_kubectl
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(original=pods(), patch=pods(nulls=True, deletes=True))
def test_generated_deployment_patches_match_kubectl(original: dict[str, Any], patch: dict[str, Any]) -> None:
    obj = as_deployment(original)
    wrapped = {"spec": {"template": patch}}
    assert strategic_merge(obj, wrapped) == kubectl_patch(obj, wrapped)


# --- properties ---------------------------------------------------------------------------------------


@given(original=pods())
def test_empty_patch_is_identity(original: dict[str, Any]) -> None:
    assert strategic_merge(original, {}) == original


@given(original=pods(), patch=pods(deletes=True))
def test_merge_is_idempotent(original: dict[str, Any], patch: dict[str, Any]) -> None:
    once = strategic_merge(original, patch)
    assert strategic_merge(once, patch) == once


@given(original=pods(), patch=pods())
def test_patch_wins_on_scalars(original: dict[str, Any], patch: dict[str, Any]) -> None:
    merged = strategic_merge(original, patch)
    for key, value in patch["metadata"].get("labels", {}).items():
        assert merged["metadata"]["labels"][key] == value
    for container in patch["spec"].get("containers", []):
        if "image" in container:
            [result] = [c for c in merged["spec"]["containers"] if c["name"] == container["name"]]
            assert result["image"] == container["image"]


@given(original=pods(), patch=pods(deletes=True))
def test_named_list_merge_keeps_unrelated_items(original: dict[str, Any], patch: dict[str, Any]) -> None:
    merged = strategic_merge(original, patch)
    touched = {c["name"] for c in patch["spec"].get("containers", [])}
    for container in original["spec"].get("containers", []):
        if container["name"] not in touched:
            assert container in merged["spec"]["containers"]


@given(original=pods(), patch=pods(nulls=True, deletes=True))
def test_inputs_are_not_mutated(original: dict[str, Any], patch: dict[str, Any]) -> None:
    before = copy.deepcopy((original, patch))
    merged = strategic_merge(original, patch)
    assert (original, patch) == before
    if merged.get("spec", {}).get("containers"):
        merged["spec"]["containers"][0]["mutated"] = True
        assert (original, patch) == before


@given(original=pods(), patch=pods(nulls=True))
def test_json_merge_patch_replaces_lists_and_drops_nulls(original: dict[str, Any], patch: dict[str, Any]) -> None:
    before = copy.deepcopy((original, patch))
    merged = json_merge_patch(original, patch)
    assert (original, patch) == before
    for key, value in patch["spec"].items():
        if isinstance(value, list):
            assert merged["spec"][key] == value
    assert "null" not in json.dumps(merged["metadata"])


def test_unknown_dollar_keys_are_never_stored() -> None:
    merged = strategic_merge(base_pod(), {"metadata": {"$foo": 1}, "spec": {"initContainers": [
        {"name": "i", "$bar": {"x": 1}}]}})
    assert "$" not in json.dumps(merged)


@pytest.mark.parametrize("patch", [
    {"spec": {"containers": [{"image": "no-name"}]}},
    {"spec": {"containers": [{"name": "main", "$patch": "merge"}]}},
    {"spec": {"$patch": "bogus"}},
])
def test_malformed_patches_raise(patch: dict[str, Any]) -> None:
    with pytest.raises(StrategicMergeError):
        strategic_merge(base_pod(), patch)
