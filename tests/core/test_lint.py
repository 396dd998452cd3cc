"""Lint of agent configurations and pod templates, and the generated Kubernetes key table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubectl_clearml.core.agent_config import config_from_user_values, load_agent_config
from kubectl_clearml.core.lint import Finding, check_keys, lint_config, lint_pod_template

ROOT = Path(__file__).resolve().parents[2]


def _messages(findings: list[Finding]) -> list[str]:
    return [f.one_line() for f in findings]


def _lint(values: dict, flavour: str | None = None, **kw) -> list[str]:
    base = {"clearml": {"agentk8sglueKey": "k", "agentk8sglueSecret": "s"}}
    merged = {**base, **values}
    return _messages(lint_config(config_from_user_values([merged], flavour=flavour, **kw)))  # type: ignore[arg-type]


def test_key_table_is_current():
    generated = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_k8s_keys.py")], capture_output=True, text=True, check=True
    ).stdout
    assert generated == (ROOT / "kubectl_clearml" / "core" / "k8s_keys.py").read_text(), (
        "regenerate: python scripts/gen_k8s_keys.py > kubectl_clearml/core/k8s_keys.py"
    )


def test_clean_examples_have_no_findings():
    for name in ("enterprise-values.yaml", "enterprise-gpu-values.yaml", "oss-values.yaml", "oss-gpu-values.yaml"):
        values = yaml.safe_load((ROOT / "examples" / name).read_text())
        assert lint_config(config_from_user_values([values])) == [], name


def test_misspelled_pod_key_suggests_the_right_one():
    out = _lint({"agentk8sglue": {"basePodTemplate": {"nodeSelectors": {"a": "b"}}}})
    assert any("basePodTemplate.nodeSelectors: unknown key (did you mean 'nodeSelector'?)" in m for m in out)


def test_nested_kubernetes_keys_are_checked():
    out = _lint(
        {
            "agentk8sglue": {
                "basePodTemplate": {
                    "tolerations": [{"key": "gpu", "efect": "NoSchedule"}],
                    "volumes": [{"name": "d", "emptyDir": {"medum": "Memory"}}],
                    "volumeMounts": [{"name": "d", "mountpath": "/dev/shm"}],
                }
            }
        }
    )
    assert any("tolerations[0].efect" in m and "'effect'" in m for m in out)
    assert any("volumes[d].emptyDir.medum" in m and "'medium'" in m for m in out)
    assert any("volumeMounts[d].mountpath" in m and "'mountPath'" in m for m in out)


def test_keys_the_oss_chart_ignores():
    out = _lint(
        {
            "agentk8sglue": {
                "basePodTemplate": {"hostPID": True, "runtimeClassName": "nvidia", "schedulerName": "volcano"},
                "queues": {"gpu": {"templateOverrides": {"labels": {"a": "b"}}}},
                "createQueues": True,
            }
        },
        flavour="oss",
    )
    assert any("basePodTemplate.hostPID: a PodSpec key the open-source chart does not render" in m for m in out)
    assert any("basePodTemplate.runtimeClassName" in m for m in out)
    assert any(
        "schedulerName: ignored by the open-source chart: in values.yaml but not rendered by 5.x" in m for m in out
    )
    assert any("agentk8sglue.queues: an enterprise key" in m for m in out)
    assert any("agentk8sglue.createQueues: an enterprise key" in m for m in out)


def test_default_credentials_and_mis_nesting():
    out = _messages(lint_config(config_from_user_values([{"agent": {"clearml": {"existingAgentk8sglueSecret": "s"}}}])))
    assert any("ACCESSKEY/SECRETKEY" in m for m in out)
    assert any(m.startswith("warning: agent: not a key of the agent chart") and "nested" in m for m in out)
    assert not any("ACCESSKEY" in m for m in _lint({}))


def test_gpu_requests_must_equal_limits():
    out = _lint(
        {
            "agentk8sglue": {
                "queues": {
                    "a": {
                        "templateOverrides": {
                            "resources": {"requests": {"nvidia.com/gpu": 2}, "limits": {"nvidia.com/gpu": 1}}
                        }
                    },
                    "b": {"templateOverrides": {"resources": {"requests": {"nvidia.com/mig-1g.5gb": 1}}}},
                    "c": {
                        "templateOverrides": {
                            "resources": {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": 1}}
                        }
                    },
                }
            }
        }
    )
    assert any("queue a" in m and "request 2 differs from limit 1" in m for m in out)
    assert any("queue b" in m and "requested without a limit" in m for m in out)
    assert not any("queue c" in m for m in out)


def test_unserved_queues_with_overrides():
    cfg = load_agent_config(
        {"agentk8sglue": {"queues": {"a": {"templateOverrides": {"labels": {"x": "y"}}}, "b": {}}}},
        chart_name="clearml-enterprise-agent",
        served_queues=["b"],
    )
    out = _messages(lint_config(cfg))
    assert any("agentk8sglue.queues.a: has templateOverrides" in m and "served: b" in m for m in out)


def test_duplicate_env_and_mount_without_volume_in_a_live_template():
    template = {
        "apiVersion": "v1",
        "spec": {
            "containers": [
                {
                    "env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}],
                    "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
                    "resourcez": {},
                }
            ]
        },
    }
    out = _messages(lint_pod_template(template, "live red"))
    assert any("env A is set more than once" in m for m in out)
    assert any("volumeMount 'dshm' at /dev/shm has no volume" in m for m in out)
    assert any("spec.containers[0].resourcez" in m and "'resources'" in m for m in out)


def test_inherited_findings_reported_once_on_the_base():
    out = _lint(
        {
            "agentk8sglue": {
                "basePodTemplate": {"env": [{"name": "X", "value": "1"}, {"name": "X", "value": "2"}]},
                "queues": {"a": {"templateOverrides": {}}, "b": {"templateOverrides": {}}},
            }
        }
    )
    assert sum("env X is set more than once" in m for m in out) == 1


@pytest.mark.parametrize(
    ("obj", "ftype", "expected"),
    [
        ({"limits": {"cpu": 1}, "claims": []}, "V1ResourceRequirements", 0),
        ({"limit": {}}, "V1ResourceRequirements", 1),
        ([{"name": "a", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}], "list:V1EnvVar", 0),
        ("not-a-list", "list:V1EnvVar", 1),
        ({"a": {"b": 1}}, "map:scalar", 0),
    ],
)
def test_check_keys(obj, ftype, expected):
    out: list[Finding] = []
    check_keys(obj, ftype, "x", out)
    assert len(out) == expected
