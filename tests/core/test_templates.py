"""Effective pod templates per queue: inheritance, merge modes, rendering like the chart, live template parsing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kubectl_clearml.core.agent_config import config_from_user_values, load_agent_config
from kubectl_clearml.core.templates import (
    RenderContext,
    chart_fullname,
    merge_pod_values,
    parse_rendered_template,
    render_pod_template,
)
from kubectl_clearml.errors import UsageError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES / name).read_text())


def _container(template: dict[str, Any]) -> dict[str, Any]:
    return template["spec"]["containers"][0]


def _user_env(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in _container(template)["env"] if not e["name"].startswith("CLEARML_")]


@pytest.fixture
def rbg():
    return config_from_user_values([_load("enterprise-values.yaml")], namespace="clearml")


def test_red_inherits_the_base(rbg):
    red = rbg.effective_template("red")
    assert red == rbg.base_template
    assert red["metadata"]["labels"] == {"team": "red"}
    assert _container(red)["resources"] == {"limits": {"memory": "1Gi"}}
    assert red["metadata"]["annotations"] == {}
    assert _user_env(red) == []


def test_blue_overrides_the_label_and_keeps_1gi(rbg):
    blue = rbg.effective_template("blue")
    assert blue["metadata"]["labels"] == {"team": "blue"}
    assert _container(blue)["resources"] == {"limits": {"memory": "1Gi"}}
    assert blue["metadata"]["annotations"] == {}
    assert _user_env(blue) == []


def test_green_sets_label_annotation_memory_and_env(rbg):
    green = rbg.effective_template("green")
    assert green["metadata"]["labels"] == {"team": "green"}
    assert green["metadata"]["annotations"] == {"example": "example value"}
    assert _container(green)["resources"] == {"limits": {"memory": "2Gi"}}
    assert _user_env(green) == [{"name": "MY_ENV", "value": "my_value"}]
    # The chart's own env stays first and references the existing credentials Secret.
    names = [e["name"] for e in _container(green)["env"]]
    assert names[:5] == [
        "CLEARML_API_HOST",
        "CLEARML_WEB_HOST",
        "CLEARML_FILES_HOST",
        "CLEARML_API_ACCESS_KEY",
        "CLEARML_API_SECRET_KEY",
    ]
    ref = _container(green)["env"][3]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "clearml-agent-credentials", "key": "agentk8sglue_key"}


def test_enterprise_queues_and_flavour(rbg):
    assert rbg.flavour == "enterprise"
    assert rbg.queues == ["red", "blue", "green"]
    assert rbg.create_queues is True
    assert rbg.uses_default_credentials is False


@pytest.fixture
def gpu():
    return config_from_user_values([_load("enterprise-gpu-values.yaml")], namespace="ml")


def test_gpu_queues_add_limits_and_keep_memory(gpu):
    one = gpu.effective_template("1xGPU")
    two = gpu.effective_template("2xGPU")
    assert _container(one)["resources"]["limits"] == {"memory": "64Gi", "nvidia.com/gpu": 1}
    assert _container(two)["resources"]["limits"] == {"memory": "64Gi", "nvidia.com/gpu": 2}
    assert one["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "A100-SXM4-40GB-MIG-1g.5gb"}
    assert gpu.report_max_gpu == 24
    assert "nodeSelector" not in gpu.base_template["spec"]


def test_shm_queue_gets_volume_mount_and_env(gpu):
    shm = gpu.effective_template("GPUshm")
    assert shm["spec"]["volumes"] == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "32Gi"}}]
    assert _container(shm)["volumeMounts"] == [{"name": "dshm", "mountPath": "/dev/shm"}]
    assert _user_env(shm) == [{"name": "VLLM_SKIP_P2P_CHECK", "value": "1"}]
    assert "extraVolumes" not in str(shm)


def test_strategic_keeps_base_cpu_replace_loses_it():
    base = {"resources": {"limits": {"memory": "1Gi", "cpu": "2"}}, "env": [{"name": "A", "value": "1"}]}
    override = {"resources": {"limits": {"memory": "2Gi"}}, "env": [{"name": "B", "value": "2"}]}
    strategic = merge_pod_values(base, override, "strategic")
    assert strategic["resources"] == {"limits": {"memory": "2Gi", "cpu": "2"}}
    assert sorted(e["name"] for e in strategic["env"]) == ["A", "B"]  # order as kubectl patch gives it
    replaced = merge_pod_values(base, override, "replace")
    assert replaced["resources"] == {"limits": {"memory": "2Gi"}}
    assert [e["name"] for e in replaced["env"]] == ["B"]
    assert base["resources"]["limits"]["cpu"] == "2"  # inputs untouched


def test_strategic_merges_volumes_by_name_and_replaces_tolerations():
    base = {
        "volumes": [{"name": "data", "emptyDir": {}}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "tolerations": [{"key": "a", "operator": "Exists"}],
        "nodeSelector": {"pool": "cpu"},
    }
    override = {
        "volumes": [{"name": "cache", "emptyDir": {}}],
        "tolerations": [{"key": "gpu", "operator": "Exists"}],
        "nodeSelector": {"gpu": "yes"},
        "extraVolumeMounts": [{"name": "cache", "mountPath": "/cache"}],
    }
    merged = merge_pod_values(base, override)
    assert [v["name"] for v in merged["volumes"]] == ["cache", "data"]  # kubectl patch puts patch items first
    assert [m["mountPath"] for m in merged["volumeMounts"]] == ["/data", "/cache"]
    assert merged["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert merged["nodeSelector"] == {"pool": "cpu", "gpu": "yes"}


def test_null_in_override_deletes_a_base_key():
    merged = merge_pod_values({"labels": {"team": "red", "tier": "x"}}, {"labels": {"tier": None}})
    assert merged["labels"] == {"team": "red"}
    assert merge_pod_values({"nodeSelector": {"a": "b"}}, {"nodeSelector": None}, "replace") == {}


def test_replace_mode_empty_override_keeps_base_like_helm_default():
    assert merge_pod_values({"labels": {"team": "red"}}, {"labels": {}}, "replace") == {"labels": {"team": "red"}}


def test_override_list_without_merge_key_is_a_usage_error():
    with pytest.raises(UsageError):
        merge_pod_values({"env": [{"name": "A"}]}, {"env": [{"value": "no name"}]})


def test_render_matches_chart_shape_for_oss_defaults():
    cfg = config_from_user_values([_load("oss-values.yaml")], release="gpu", namespace="ml")
    t = cfg.base_template
    assert cfg.flavour == "oss"
    assert cfg.queues == ["red", "blue", "green"]
    assert "kind" not in t
    assert t["metadata"] == {"namespace": "ml", "labels": {"team": "red"}, "annotations": {}}
    spec = t["spec"]
    assert spec["serviceAccountName"] == "gpu-clearml-agent-sa"
    assert spec["priorityClassName"] is None and spec["initContainers"] == [] and spec["securityContext"] == {}
    assert _container(t)["ports"] == [{"containerPort": 10022}]
    # OSS: every queue gets the base template
    assert all(cfg.effective_template(q) == t for q in cfg.queues)


def test_oss_chart_ignores_enterprise_queue_overrides():
    values = _load("enterprise-values.yaml")
    cfg = config_from_user_values([values], flavour="oss", namespace="ml")
    assert cfg.effective_template("green") == cfg.base_template
    assert any("enterprise key" in n for n in cfg.notes)


def test_image_credentials_and_existing_service_account():
    cfg = config_from_user_values(
        [{"imageCredentials": {"enabled": True}, "agentk8sglue": {"serviceExistingAccountName": "runner"}}],
        release="prod",
    )
    spec = cfg.base_template["spec"]
    assert spec["imagePullSecrets"] == [{"name": "prod-clearml-agent-ark"}]
    assert spec["serviceAccountName"] == "runner"


def test_unrendered_keys_are_dropped_like_the_chart():
    cfg = config_from_user_values([{"agentk8sglue": {"basePodTemplate": {"hostPID": True, "schedulerName": "x"}}}])
    text = yaml.safe_dump(cfg.base_template)
    assert "hostPID" not in text and "schedulerName" not in text


@pytest.mark.parametrize(
    ("release", "values", "expected"),
    [
        ("gpu", {}, "gpu-clearml-agent"),
        ("clearml-agent", {}, "clearml-agent"),
        ("my-clearml-agent-x", {}, "my-clearml-agent-x"),
        ("x", {"fullnameOverride": "agent"}, "agent"),
        ("a" * 70, {}, "a" * 63),
    ],
)
def test_fullname(release, values, expected):
    assert chart_fullname(release, values, "clearml-agent") == expected


def test_legacy_keys_are_read_with_notes():
    cfg = load_agent_config(
        {
            "agentk8sglue": {"podTemplate": {"labels": {"old": "yes"}}},
            "enterpriseFeatures": {
                "enabled": True,
                "createQueues": True,
                "queues": {"q1": {"templateOverrides": {"labels": {"q": "1"}}}},
            },
        },
        chart_name="clearml-agent",
    )
    assert cfg.flavour == "enterprise"
    assert cfg.queues == ["q1"]
    assert cfg.create_queues is True
    # 4.x replaced the labels set in templateOverrides (chart 4.0.10 _helpers.tpl:249, `| default`)
    assert cfg.effective_template("q1")["metadata"]["labels"] == {"q": "1"}
    assert cfg.effective_template("q1", "strategic")["metadata"]["labels"] == {"old": "yes", "q": "1"}
    assert sum("legacy key" in n for n in cfg.notes) == 3


def test_dashboard_gpu_keys_all_three():
    for key, val in (
        ({"dashboardReportMaxGpu": 4}, 4),
        ({"orchestrationDashboard": {"reportMaxGpu": 8}}, 8),
        ({"orchestrationDashboard": {"gpu": {"reportMax": 16}, "reportMaxGpu": 2}}, 16),
    ):
        cfg = config_from_user_values([{"agentk8sglue": key}])
        assert cfg.report_max_gpu == val
        assert cfg.flavour == "enterprise"


def test_default_credentials_detected():
    assert config_from_user_values([{}]).uses_default_credentials is True
    assert (
        config_from_user_values(
            [{"clearml": {"agentk8sglueKey": "k", "agentk8sglueSecret": "s"}}]
        ).uses_default_credentials
        is False
    )


def test_served_queues_win_and_queue_settings():
    cfg = load_agent_config(
        {"agentk8sglue": {"queues": {"a": {"queueSettings": {"maxPods": 3}}, "b": {}}}},
        chart_name="clearml-enterprise-agent",
        served_queues=["a"],
    )
    assert cfg.queues == ["a"]
    assert cfg.declared_queues == ["a", "b"]
    assert cfg.all_queues() == ["a", "b"]
    assert cfg.queue_settings("a") == {"maxPods": 3}


def test_queue_list_spaces_and_commas_and_extra_envs():
    cfg = config_from_user_values([{"agentk8sglue": {"queue": " a, b ,c"}}])
    assert cfg.queues == ["a", "b", "c"]
    cfg = config_from_user_values([{"agentk8sglue": {"extraEnvs": [{"name": "K8S_GLUE_QUEUE", "value": "x y"}]}}])
    assert cfg.queues == ["x", "y"]


def test_parse_single_and_per_queue_templates():
    single = parse_rendered_template("apiVersion: v1\nmetadata:\n  labels: {}\nspec:\n  priorityClassName: null\n")
    assert single.layout == "single" and single.for_queue("anything") is not None
    per_queue = parse_rendered_template("red:\n  apiVersion: v1\n  spec: {}\nblue:\n  kind: Pod\n  spec: {}\n")
    assert per_queue.layout == "per-queue"
    assert set(per_queue.per_queue) == {"red", "blue"} and per_queue.for_queue("green") is None


@pytest.mark.parametrize("text", ["a: [", "- 1\n- 2\n", "foo: bar\n", ""])
def test_parse_rejects_bad_templates(text):
    with pytest.raises(UsageError):
        parse_rendered_template(text)


def test_render_context_flavour_adds_kind_for_enterprise():
    t = render_pod_template({}, {}, RenderContext("x", "ns", "enterprise"))
    assert t["kind"] == "Pod"


# --- properties of the per-queue merge (strategic mode) -------------------------------------------


_names = st.sampled_from(["A", "B", "C", "D"])
_env = st.lists(
    st.fixed_dictionaries({"name": _names, "value": st.text(max_size=3)}), max_size=4, unique_by=lambda e: e["name"]
)
_labels = st.dictionaries(st.sampled_from(["team", "tier", "app"]), st.text(max_size=3), max_size=3)
_limits = st.dictionaries(st.sampled_from(["cpu", "memory", "nvidia.com/gpu"]), st.sampled_from(["1", "2Gi", "500m"]))
_pod_values = st.fixed_dictionaries(
    {},
    optional={
        "labels": _labels,
        "annotations": _labels,
        "env": _env,
        "resources": st.fixed_dictionaries({}, optional={"limits": _limits, "requests": _limits}),
        "nodeSelector": _labels,
        "priorityClassName": st.sampled_from(["", "high"]),
    },
)


@given(_pod_values)
def test_empty_override_is_identity(base):
    assert merge_pod_values(base, {}) == base
    assert merge_pod_values(base, {}, "replace") == base


@given(_pod_values, _pod_values)
@settings(max_examples=150)
def test_queue_merge_is_idempotent(base, override):
    once = merge_pod_values(base, override)
    assert merge_pod_values(once, override) == once


@given(_pod_values, _pod_values)
@settings(max_examples=150)
def test_override_wins_on_scalars_and_keeps_unrelated_env(base, override):
    merged = merge_pod_values(base, override)
    for key in ("labels", "annotations", "nodeSelector"):
        for k, v in (override.get(key) or {}).items():
            assert merged[key][k] == v
        for k, v in (base.get(key) or {}).items():
            if k not in (override.get(key) or {}):
                assert merged[key][k] == v
    if "priorityClassName" in override:
        assert merged["priorityClassName"] == override["priorityClassName"]
    merged_env = {e["name"]: e for e in merged.get("env", [])}
    override_names = {e["name"] for e in override.get("env", [])}
    for entry in base.get("env", []):
        if entry["name"] not in override_names:
            assert merged_env[entry["name"]] == entry
    for entry in override.get("env", []):
        assert merged_env[entry["name"]]["value"] == entry["value"]
