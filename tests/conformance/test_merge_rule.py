"""Conformance: how templateOverrides combine with basePodTemplate, per chart version, and said so.

Facts:
- CHART_4_0_10 templates/_helpers.tpl:149-236 and :249-251: every key set in templateOverrides replaces the
  base's whole value (``templateOverrides.X | default basePodTemplate.X``) — maps included.
- DOCS docs/release_notes/helm/clearml-enterprise-agent/6.11.md:18: 6.11 added extraVolumes/extraVolumeMounts to
  templateOverrides, so that lists can be appended: lists in templateOverrides replace. How maps combine in 6.x
  is not public (assumed merged; ``diff-template`` says so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubectl_clearml.core.agent_config import config_from_user_values
from tests.helpers import run_cli

BASE: dict[str, Any] = {
    "resources": {"limits": {"cpu": 2}},
    "env": [{"name": "BASE_ENV", "value": "1"}],
    "volumes": [{"name": "cache", "emptyDir": {}}],
    "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
}
OVERRIDE: dict[str, Any] = {
    "resources": {"limits": {"memory": "4Gi"}},
    "env": [{"name": "Q_ENV", "value": "2"}],
    "volumes": [{"name": "data", "emptyDir": {}}],
    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
}


def _container(values: dict[str, Any], merge: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    cfg = config_from_user_values([values], release="clearml-enterprise-agent")
    pod = cfg.effective_template("q", merge)
    return pod["spec"], pod["spec"]["containers"][0]


def test_enterprise_6x_lists_replace_maps_merge() -> None:
    values = {"agentk8sglue": {"basePodTemplate": BASE, "queues": {"q": {"templateOverrides": OVERRIDE}}}}
    spec, container = _container(values)
    assert config_from_user_values([values]).merge_rule[0] == "deep"
    assert container["resources"]["limits"] == {"cpu": 2, "memory": "4Gi"}
    assert [e["name"] for e in container["env"] if e["name"].endswith("_ENV")] == ["Q_ENV"]
    assert [v["name"] for v in spec["volumes"]] == ["data"]


def test_enterprise_6x_extra_volumes_append() -> None:
    override = {"extraVolumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]}
    values = {"agentk8sglue": {"basePodTemplate": BASE, "queues": {"q": {"templateOverrides": override}}}}
    spec, _ = _container(values)
    assert [v["name"] for v in spec["volumes"]] == ["cache", "dshm"]


def test_legacy_4x_replaces_every_key_set() -> None:
    values = {
        "agentk8sglue": {"basePodTemplate": BASE},
        "enterpriseFeatures": {"enabled": True, "queues": {"q": {"templateOverrides": OVERRIDE}}},
    }
    cfg = config_from_user_values([values], release="clearml-agent")
    assert cfg.merge_rule[0] == "replace" and "_helpers.tpl:149-236" in cfg.merge_rule[1]
    _, container = _container(values)
    assert container["resources"]["limits"] == {"memory": "4Gi"}  # the base's cpu is gone


def test_strategic_stays_available() -> None:
    values = {"agentk8sglue": {"basePodTemplate": BASE, "queues": {"q": {"templateOverrides": OVERRIDE}}}}
    spec, container = _container(values, "strategic")
    assert {"BASE_ENV", "Q_ENV"} <= {e["name"] for e in container["env"]}
    assert {v["name"] for v in spec["volumes"]} == {"cache", "data"}


def test_diff_template_states_the_rule_and_why(tmp_path: Path) -> None:
    values = tmp_path / "v.yaml"
    values.write_text(
        yaml.safe_dump({"agentk8sglue": {"basePodTemplate": BASE, "queues": {"q": {"templateOverrides": OVERRIDE}}}})
    )
    default = run_cli(["diff-template", "q", "-f", str(values)], home=str(tmp_path))
    assert "note: merge rule: deep (maps merge, lists replace): enterprise 6.11 added extraVolumes" in default.stderr
    other = run_cli(["diff-template", "q", "-f", str(values), "--merge", "strategic"], home=str(tmp_path))
    assert "note: merge rule: strategic (--merge); the chart's own rule is deep" in other.stderr


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from kubectl_clearml.core.templates import merge_pod_values  # noqa: E402

leaf = st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=3))
tree = st.recursive(leaf, lambda kids: st.dictionaries(st.sampled_from("abc"), kids, max_size=3), max_leaves=8)
pod_values = st.dictionaries(st.sampled_from(["resources", "labels", "env", "tolerations"]), tree, max_size=4)


@given(pod_values, pod_values)
def test_deep_rule_lists_replace_maps_merge(base: dict[str, Any], override: dict[str, Any]) -> None:
    merged = merge_pod_values(base, override, "deep")

    def check(b: Any, o: Any, m: Any) -> None:
        if isinstance(o, dict) and isinstance(b, dict):
            assert set(m) == set(b) | set(o)
            for key in m:
                if key in o:
                    check(b.get(key), o[key], m[key])
                else:
                    assert m[key] == b[key]
        else:
            assert m == o  # a list or a scalar in the override replaces whatever the base had

    check(base, override, merged)


@given(pod_values, pod_values)
def test_replace_rule_keeps_no_part_of_a_replaced_key(base: dict[str, Any], override: dict[str, Any]) -> None:
    merged = merge_pod_values(base, override, "replace")
    for key, value in override.items():
        if value or value is True:  # Helm's `default` takes 0, "", [], {} as unset (4.0.10 _helpers.tpl:149-236)
            assert merged[key] == value
        else:
            assert merged.get(key) == base.get(key)
