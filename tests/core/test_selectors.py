"""Label and field selectors: the grammar, matching semantics, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubectl_clearml.core.selectors import (
    SelectorError,
    field_value,
    fields_match,
    format_label_selector,
    labels_match,
    match_labels_selector,
    parse_field_selector,
    parse_label_selector,
)

LABELS = {"app": "x", "clearml": "agent-1", "gpus": "4", "example.com/team": "ml"}


@pytest.mark.parametrize(("selector", "expected"), [
    ("", True),
    ("app=x", True),
    ("app==x", True),
    ("app!=x", False),
    ("missing!=x", True),
    ("app in (x,y),clearml", True),
    ("app in (y, z)", False),
    ("app notin (y)", True),
    ("missing notin (y)", True),
    ("!clearml", False),
    ("!missing", True),
    ("clearml", True),
    ("gpus>3,gpus<5", True),
    ("gpus>4", False),
    ("example.com/team=ml", True),
    ("  app = x ,  clearml  ", True),
    ("app=", False),
])
def test_label_selector_semantics(selector: str, expected: bool) -> None:
    assert labels_match(parse_label_selector(selector), LABELS) is expected


@pytest.mark.parametrize("selector", ["app in x", "app b", "a,", "=x", "app in ()", "gpus>x", "a=b c", "!"])
def test_malformed_label_selectors_raise(selector: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(selector)


def test_field_selectors_with_whitelist_and_escapes() -> None:
    pod = {"metadata": {"name": "a,b", "namespace": "ml"}, "spec": {"nodeName": "gpu-1"},
           "status": {"phase": "Running"}}
    allowed = {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"}.__contains__
    selector = parse_field_selector(r"spec.nodeName=gpu-1,status.phase!=Pending,metadata.name==a\,b", allowed)
    assert fields_match(selector, lambda path: field_value(pod, path))
    assert not fields_match(parse_field_selector("spec.nodeName!=gpu-1", allowed), lambda p: field_value(pod, p))
    with pytest.raises(SelectorError, match="field label not supported: spec.image"):
        parse_field_selector("spec.image=x", allowed)
    with pytest.raises(SelectorError):
        parse_field_selector("nonsense", allowed)


def test_field_values_render_like_the_apiserver() -> None:
    node = {"spec": {"unschedulable": True}}
    assert field_value(node, "spec.unschedulable") == "true"
    assert field_value({}, "spec.unschedulable", {"spec.unschedulable": "false"}) == "false"
    assert field_value({}, "spec.nodeName") == ""


def test_object_selectors_convert_and_format() -> None:
    selector = match_labels_selector({"matchLabels": {"app": "x"},
                                      "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]},
                                                           {"key": "gpu", "operator": "Exists"}]})
    assert format_label_selector(selector) == "app=x,tier in (a,b),gpu"
    assert labels_match(selector, {"app": "x", "tier": "a", "gpu": ""})
    assert not labels_match(selector, {"app": "x", "tier": "c", "gpu": ""})


KEYS = st.sampled_from(["app", "tier", "example.com/team", "gpu"])
VALUES = st.sampled_from(["x", "y", "a-b", "1"])


@st.composite
def selectors(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        key = draw(KEYS)
        form = draw(st.sampled_from(["eq", "ne", "in", "notin", "exists", "not"]))
        values = draw(st.lists(VALUES, min_size=1, max_size=3, unique=True))
        parts.append({"eq": f"{key}={values[0]}", "ne": f"{key}!={values[0]}", "in": f"{key} in ({','.join(values)})",
                      "notin": f"{key} notin ({','.join(values)})", "exists": key, "not": f"!{key}"}[form])
    return ",".join(parts)


@given(selector=selectors(), labels=st.dictionaries(KEYS, VALUES))
def test_formatting_round_trips(selector: str, labels: dict[str, str]) -> None:
    parsed = parse_label_selector(selector)
    assert labels_match(parse_label_selector(format_label_selector(parsed)), labels) == labels_match(parsed, labels)


@given(first=selectors(), second=selectors(), labels=st.dictionaries(KEYS, VALUES))
def test_a_comma_is_a_conjunction(first: str, second: str, labels: dict[str, str]) -> None:
    both = labels_match(parse_label_selector(f"{first},{second}"), labels)
    assert both == (labels_match(parse_label_selector(first), labels)
                    and labels_match(parse_label_selector(second), labels))


@given(labels=st.dictionaries(KEYS, VALUES), key=KEYS, value=VALUES)
def test_negation_is_the_complement(labels: dict[str, str], key: str, value: str) -> None:
    assert labels_match(parse_label_selector(f"{key}={value}"), labels) != labels_match(
        parse_label_selector(f"{key}!={value}"), labels)
    assert labels_match(parse_label_selector(key), labels) != labels_match(parse_label_selector(f"!{key}"), labels)
