"""Helm values merging: maps merge, lists and scalars replace, null deletes; -f files in order."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubectl_clearml.core.values import coalesce, effective_values, get_path, has_path, is_empty, merge_user_values

keys = st.sampled_from(["a", "b", "c", "labels", "env", "limits"])
scalars = st.one_of(st.integers(-3, 3), st.text(max_size=3), st.booleans())
values_tree = st.recursive(
    scalars | st.lists(scalars, max_size=3),
    lambda children: st.dictionaries(keys, children, max_size=4),
    max_leaves=12,
)
maps = st.dictionaries(keys, values_tree, max_size=4)
maps_with_nulls = st.dictionaries(keys, st.one_of(st.none(), values_tree), max_size=4)


def _no_nulls(value: Any) -> bool:
    if isinstance(value, dict):
        return all(v is not None and _no_nulls(v) for v in value.values())
    if isinstance(value, list):
        return all(_no_nulls(v) for v in value)
    return True


def test_maps_merge_lists_replace_null_deletes():
    defaults = {
        "agentk8sglue": {
            "queue": "default",
            "basePodTemplate": {"labels": {"a": "1"}, "env": [{"name": "X"}], "nodeSelector": {"pool": "cpu"}},
        }
    }
    user = {
        "agentk8sglue": {
            "queue": "red,blue",
            "basePodTemplate": {"labels": {"b": "2"}, "env": [{"name": "Y"}], "nodeSelector": None},
        }
    }
    out = coalesce(defaults, user)
    bpt = out["agentk8sglue"]["basePodTemplate"]
    assert out["agentk8sglue"]["queue"] == "red,blue"
    assert bpt["labels"] == {"a": "1", "b": "2"}
    assert bpt["env"] == [{"name": "Y"}]
    assert "nodeSelector" not in bpt
    assert defaults["agentk8sglue"]["basePodTemplate"]["nodeSelector"] == {"pool": "cpu"}  # untouched


def test_files_in_order_later_wins_and_null_survives_until_coalesce():
    a = {"x": {"y": 1, "z": 2}, "keep": True}
    b = {"x": {"y": None}, "keep": [1]}
    c = {"x": {"z": 3}}
    user = merge_user_values(a, b, c)
    assert user == {"x": {"y": None, "z": 3}, "keep": [1]}
    assert effective_values({"x": {"y": 0, "w": 9}}, a, b, c) == {"x": {"w": 9, "z": 3}, "keep": [1]}
    # a later file can bring a deleted key back
    assert effective_values({"x": {"y": 0}}, {"x": {"y": None}}, {"x": {"y": 5}}) == {"x": {"y": 5}}


def test_map_over_scalar_and_scalar_over_map_replace():
    assert coalesce({"a": 1}, {"a": {"b": 2}}) == {"a": {"b": 2}}
    assert coalesce({"a": {"b": 2}}, {"a": "x"}) == {"a": "x"}


def test_paths_and_emptiness():
    v = {"a": {"b": {"c": 0}}, "s": "x"}
    assert get_path(v, "a.b.c") == 0 and has_path(v, "a.b.c")
    assert get_path(v, "s.t", "d") == "d" and not has_path(v, "a.x")
    assert all(is_empty(x) for x in (None, False, 0, 0.0, "", [], {}))
    assert not any(is_empty(x) for x in (True, 1, "0", [0], {"a": None}))


@given(maps)
def test_empty_user_values_is_identity(defaults):
    assert coalesce(defaults, {}) == defaults
    assert coalesce({}, defaults) == defaults


@given(maps, maps_with_nulls)
@settings(max_examples=200)
def test_coalesce_is_idempotent(defaults, user):
    once = coalesce(defaults, user)
    assert coalesce(once, user) == once
    assert _no_nulls(once)


@given(maps, maps_with_nulls)
@settings(max_examples=200)
def test_user_wins_on_scalars_and_lists(defaults, user):
    out = coalesce(defaults, user)
    for key, value in user.items():
        if value is None:
            assert key not in out
        elif not isinstance(value, dict):
            assert out[key] == value
        elif not isinstance(defaults.get(key), dict):
            assert isinstance(out[key], dict)


@given(maps, maps)
def test_unrelated_default_keys_are_kept(defaults, user):
    out = coalesce(defaults, user)
    for key, value in defaults.items():
        if key not in user:
            assert out[key] == coalesce({"k": value}, {})["k"]


@given(maps_with_nulls, maps_with_nulls, maps_with_nulls)
def test_files_apply_one_after_another_and_the_last_wins(a, b, c):
    # Not associative (a null in b then a map in c differs from merging b and c first), as with helm.
    merged = merge_user_values(a, b, c)
    assert merged == merge_user_values(merge_user_values(a, b), c)
    for key, value in c.items():
        if not isinstance(value, dict):
            assert merged[key] == value
