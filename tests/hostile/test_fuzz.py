"""Property: whatever values file hypothesis builds (agent-shaped YAML with hostile scalars, anchors and
aliases, flipped bytes, cut-off text), every command that reads it ends with exit 0-3, one prefixed error
line when it refuses, no traceback, within the wall bound and without writing a file (issue 16)."""

from __future__ import annotations

import os
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.hostile.harness import commands, run_checked

KEYS = [
    "agentk8sglue", "queues", "templateOverrides", "basePodTemplate", "podTemplate", "queueSettings", "maxPods",
    "resources", "limits", "requests", "nvidia.com/gpu", "memory", "cpu", "volumes", "volumeMounts", "env",
    "name", "value", "emptyDir", "medium", "sizeLimit", "labels", "nodeSelector", "tolerations", "containers",
    "orchestrationDashboard", "gpu", "reportMax", "createQueues", "clearml", "agentk8sglueKey", "default",
]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1", "2Gi", "500m", "Memory", "abc", "", "-1", "1e400", "0x1F", "~", "null", "\ud7ff"]),
    st.text(max_size=20),
)


def _shapes() -> st.SearchStrategy[Any]:
    keys = st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=8))
    return st.recursive(
        SCALARS,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)
        ),
        max_leaves=30,
    )


VALUES = st.fixed_dictionaries(
    {"agentk8sglue": st.fixed_dictionaries({"queues": st.dictionaries(st.sampled_from(["default", "gpu", "x"]),
                                                                        _shapes(), max_size=3)},
                                           optional={"basePodTemplate": _shapes(), "queueSettings": _shapes()})},
    optional={"clearml": _shapes()},
)

BOMB = "x0: &x0 [a, a, a, a, a, a, a, a]\n" + "".join(
    f"x{n}: &x{n} [*x{n - 1}, *x{n - 1}, *x{n - 1}, *x{n - 1}, *x{n - 1}, *x{n - 1}, *x{n - 1}, *x{n - 1}]\n"
    for n in range(1, 8)
)


@st.composite
def values_bytes(draw: st.DrawFn) -> bytes:
    text = yaml.safe_dump(draw(VALUES), allow_unicode=True, sort_keys=False)
    mutation = draw(st.sampled_from(["none", "bomb", "cycle", "flip", "cut", "anchor"]))
    if mutation == "bomb":
        text = BOMB + text
    elif mutation == "cycle":
        text = text.replace("agentk8sglue:", "agentk8sglue: &root\n  self: *root", 1)
    elif mutation == "anchor":  # share the first queue's body with a second queue, as people do
        text += "extra: &e {a: 1}\nmore: {<<: *e, b: 2}\n"
    data = text.encode("utf-8", "surrogatepass")
    if mutation == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    elif mutation == "cut" and data:
        data = data[: draw(st.integers(0, len(data)))]
    return data


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(data=values_bytes(), which=st.integers(0, len(commands("-")) - 1))
# Found by this test: a list key of the pod template given a scalar was iterated (diff-template exit 70).
@example(data=b"agentk8sglue:\n  queues: {}\n  basePodTemplate:\n    volumes: true\n", which=0)
@example(data=b"agentk8sglue:\n  basePodTemplate:\n    containers: 1\n    env: true\n", which=0)
def test_any_values_file_any_command(read_only_world, tmp_path_factory, data, which):
    home = tmp_path_factory.mktemp("fuzz")
    path = home / "values.yaml"
    path.write_bytes(data)
    run_checked(commands(str(path))[which], read_only_world.env, home)
    assert path.read_bytes() == data
