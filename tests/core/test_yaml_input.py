"""core.yaml_input: the bounded loader (issue 16), on plain text and bytes."""

from __future__ import annotations

import codecs
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kubectl_clearml.core import yaml_input
from kubectl_clearml.core.yaml_input import (
    MAX_DEPTH,
    MAX_NODES,
    MAX_TEMPLATE_NODES,
    InputLimitError,
    check_tree,
    decode,
    load,
)


def _nodes(data: Any) -> int:
    if isinstance(data, dict):
        return 1 + sum(1 + _nodes(v) for v in data.values())  # a key is a node too
    if isinstance(data, list):
        return 1 + sum(_nodes(v) for v in data)
    return 1


DOCS = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda c: st.one_of(st.lists(c, max_size=5), st.dictionaries(st.text(min_size=1, max_size=5), c, max_size=5)),
    max_leaves=40,
)


@given(DOCS, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be"]))
def test_any_document_in_any_yaml_encoding_loads_as_pyyaml_reads_it(doc, codec):
    # Without a BOM, YAML tells UTF-16/32 by the zero bytes around a first character that is ASCII.
    text = "---\n" + yaml.safe_dump(doc, allow_unicode=True)
    assert load(text.encode(codec), "f") == yaml.safe_load(text)


@given(st.integers(1, 12), st.integers(1, 12))
def test_expanded_count_of_nested_aliases_is_exact(width, levels):
    """Level n is a list of ``width`` aliases of level n-1: refused exactly when the expansion passes the cap."""
    text = "l0: &l0 x\n" + "".join(
        f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * width) + "]\n" for n in range(1, levels + 1)
    )
    expanded = 1 + 2 * (levels + 1) + sum(sum(width**k for k in range(1, n + 1)) for n in range(1, levels + 1))
    if expanded > MAX_NODES:
        with pytest.raises(InputLimitError, match="alias bomb"):
            load(text, "f")
    else:
        data = load(text, "f")
        assert _nodes(data) <= expanded and len(data) == levels + 1


def test_merge_keys_count_what_they_copy():
    text = "m0: &m0 {a: 1}\n" + "".join(f"m{n}: &m{n} {{<<: *m{n - 1}, x: *m{n - 1}, y: *m{n - 1}}}\n" for n in range(1, 20))
    with pytest.raises(InputLimitError, match="more than 50,000 nodes"):
        load(text, "f")
    assert load("base: &b {a: 1}\nq: {<<: *b, c: 2}\n", "f") == {"base": {"a": 1}, "q": {"a": 1, "c": 2}}


@pytest.mark.parametrize(
    "text", ["&a [*a]", "a: &a {b: *a}", "&a {<<: *a}", "x: &a [1, [2, *a]]", "- &a\n  - *a\n"]
)
def test_cycles_are_refused_not_recursed(text):
    with pytest.raises(InputLimitError, match="a cycle"):
        load(text, "f")


def test_an_alias_after_its_anchor_closed_is_no_cycle():
    assert load("a: &a [1]\nb: [*a, *a]\n", "f") == {"a": [1], "b": [[1], [1]]}


@pytest.mark.parametrize("opening", ["[", "{a: ", "- "])
def test_nesting_limit(opening):
    closing = {"[": "]", "{a: ": "}", "- ": ""}[opening]
    ok = opening * MAX_DEPTH + "x" + closing * MAX_DEPTH
    assert load(ok, "f") is not None
    with pytest.raises(InputLimitError, match="nesting too deep"):
        load(opening * (MAX_DEPTH + 1) + "x" + closing * (MAX_DEPTH + 1), "f")
    with pytest.raises(InputLimitError, match="nesting too deep"):
        load(opening * 20000 + "x" + closing * 20000, "f")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"a: caf\xe9\n", "not valid UTF-8 text at byte 6"),
        (codecs.BOM_UTF8 + b"a: \xff", "not valid UTF-8 text at byte 6"),
        (codecs.BOM_UTF16_LE + "a: b".encode("utf-16-le") + b"\x00\xdc", "not valid UTF-16 LE text at byte 10"),
        (b"\x00\x00\x00a\x00\x00\xd8\x00", r"not valid UTF-32 BE text \(as its zero bytes at the start suggest\) at byte 4"),
    ],
)
def test_undecodable_bytes_name_the_offset(data, message):
    with pytest.raises(InputLimitError, match=message):
        decode(data, "f")


def test_size_cap_and_lone_surrogates():
    with pytest.raises(InputLimitError, match="larger than 10 MiB"):
        load(b" " * (yaml_input.MAX_INPUT_BYTES + 1), "f")
    with pytest.raises(InputLimitError, match="not valid Unicode at character 3"):
        load("a: \ud800", "configmap")


def test_check_tree_bounds_json_without_recursion():
    deep: Any = 1
    for _ in range(5000):
        deep = {"a": deep}
    with pytest.raises(InputLimitError, match="nesting too deep"):
        check_tree(deep, "secret")
    with pytest.raises(InputLimitError, match="more than 50,000 nodes"):
        check_tree(list(range(MAX_NODES)), "secret")
    check_tree({"a": [1, {"b": None}]}, "secret")


def test_template_work_is_queues_times_the_base():
    base = {"labels": {f"k{i}": "v" for i in range(198)}}  # the base, labels and 198 entries: 200 nodes
    yaml_input.check_template_work(base, MAX_TEMPLATE_NODES // 200, "values")
    with pytest.raises(InputLimitError, match=r"751 queues x a 200-node agentk8sglue.basePodTemplate make 150,200"):
        yaml_input.check_template_work(base, MAX_TEMPLATE_NODES // 200 + 1, "values")
