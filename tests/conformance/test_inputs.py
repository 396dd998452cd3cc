"""Conformance: the 20+ kinds of values input, each rendered as clearml-agent 5.3.2 renders it.

Open-source cases compare our effective template with tests/conformance/chart_oss.py, an independent
restatement of CHART_5_3_2 templates/agentk8sglue-configmap.yaml:1-83 (so any drift on either side fails):
nothing may differ, not even an empty ``securityContext: {}``. Enterprise and legacy cases state their facts.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubectl_clearml.core.agent_config import config_from_user_values
from kubectl_clearml.core.lint import lint_config
from tests.conformance.chart_oss import render_template

EVERY_KEY: dict[str, Any] = {  # every basePodTemplate key of values.yaml (5.3.2 values.yaml:96-160)
    "labels": {"team": "red"},
    "annotations": {"owner": "ml"},
    "env": [{"name": "A", "value": "1"}],
    "resources": {"limits": {"memory": "1Gi"}},
    "podSecurityContext": {"runAsUser": 1000},
    "containerSecurityContext": {"allowPrivilegeEscalation": False},
    "volumes": [{"name": "cache", "emptyDir": {}}],
    "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
    "nodeSelector": {"pool": "cpu"},
    "tolerations": [{"key": "k", "operator": "Exists"}],
    "affinity": {"nodeAffinity": {}},
    "initContainers": [{"name": "init", "image": "busybox"}],
    "priorityClassName": "high",
    "schedulerName": "volcano",  # in values.yaml, never rendered by 5.x
    "fileMounts": [{"name": "f", "folderPath": "/x", "fileContent": "y"}],  # idem
    "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["a"]}],  # idem
}

OSS_CASES: dict[str, tuple[dict[str, Any], str]] = {
    # name: (values, release)
    "seed red/blue/green (one template for all)": (
        {"agentk8sglue": {"queue": "red,blue,green", "basePodTemplate": {"labels": {"team": "red"},
                                                                         "resources": {"limits": {"memory": "1Gi"}}}}},
        "clearml-agent",
    ),
    "GPU queue": ({"agentk8sglue": {"queue": "1xGPU", "basePodTemplate": {
        "resources": {"limits": {"nvidia.com/gpu": 1}}}}}, "clearml-agent"),
    "GPUshm (Memory emptyDir at /dev/shm)": ({"agentk8sglue": {"queue": "GPUshm", "basePodTemplate": {
        "resources": {"limits": {"nvidia.com/gpu": "2"}},
        "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "32Gi"}}],
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}]}}}, "clearml-agent"),
    "MIG nodeSelector": ({"agentk8sglue": {"queue": "mig", "basePodTemplate": {
        "nodeSelector": {"nvidia.com/gpu.product": "A100-SXM4-40GB-MIG-1g.5gb"},
        "resources": {"limits": {"nvidia.com/mig-1g.5gb": 1}}}}}, "clearml-agent"),
    "every basePodTemplate key": ({"agentk8sglue": {"queue": "q", "basePodTemplate": EVERY_KEY}}, "clearml-agent"),
    "unknown and unrendered keys": ({"agentk8sglue": {"queue": "q", "basePodTemplate": {
        "hostPID": True, "nodeSelectors": {"a": "b"}, "labels": {"x": "y"}}}}, "clearml-agent"),
    "fullnameOverride": ({"fullnameOverride": "agent-gpu", "agentk8sglue": {"queue": "q"}}, "my-release"),
    "release name without the chart name": ({"agentk8sglue": {"queue": "q"}}, "team-a"),
    "nameOverride": ({"nameOverride": "glue", "agentk8sglue": {"queue": "q"}}, "prod"),
    "existing secrets and service account": ({"clearml": {"existingAgentk8sglueSecret": "my-keys"},
        "agentk8sglue": {"queue": "q", "serviceExistingAccountName": "tasks-sa"}}, "clearml-agent"),
    "image credentials": ({"imageCredentials": {"enabled": True}, "agentk8sglue": {"queue": "q"}}, "clearml-agent"),
    "image credentials, existing Secret": (
        {"imageCredentials": {"enabled": True, "existingSecret": "regcred"}, "agentk8sglue": {"queue": "q"}},
        "clearml-agent",
    ),
    "server URLs": ({"agentk8sglue": {"queue": "q", "apiServerUrlReference": "http://api:8008",
        "webServerUrlReference": "http://web", "fileServerUrlReference": "http://files"}}, "clearml-agent"),
    "numeric and bool values": ({"agentk8sglue": {"queue": "q", "basePodTemplate": {
        "labels": {"tier": 1, "gpu": True}, "annotations": {"v": 1.5}}}}, "clearml-agent"),
    "labels: null": ({"agentk8sglue": {"queue": "q", "basePodTemplate": {"labels": None}}}, "clearml-agent"),
    "ports mode": ({"agentk8sglue": {"queue": "q"}, "sessions": {"portModeEnabled": True}}, "clearml-agent"),
    # configmap.yaml:69-71 writes env after the chart's own entries: a mapping's keys land in the container
    "env given a mapping": ({"agentk8sglue": {"queue": "q", "basePodTemplate": {
        "env": {"name": "A", "workingDir": "/w"}}}}, "clearml-agent"),
}  # fmt: skip


def _ours(values: dict[str, Any], release: str, queue: str = "q") -> Any:
    cfg = config_from_user_values([copy.deepcopy(values)], release=release, flavour="oss")
    return cfg.effective_template(queue)


def _chart(values: dict[str, Any], release: str) -> Any:
    return render_template(copy.deepcopy(values), release)


@pytest.mark.parametrize("kind", list(OSS_CASES))
def test_open_source_values_render_as_the_chart(kind: str) -> None:
    values, release = OSS_CASES[kind]
    queue = str(values["agentk8sglue"]["queue"]).split(",")[0]
    assert _ours(values, release, queue) == _chart(values, release)


def test_unrendered_keys_are_linted_not_used() -> None:
    cfg = config_from_user_values([{"agentk8sglue": {"queue": "q", "basePodTemplate": EVERY_KEY}}], flavour="oss")
    flagged = {f.where.rsplit(".", 1)[-1] for f in lint_config(cfg) if "ignored by the open-source chart" in f.message}
    assert flagged == {"schedulerName", "fileMounts", "hostAliases"}


def test_the_seed_values_render_as_the_seeded_configmap() -> None:
    """The sandbox's OSS seed: its values and its ConfigMap must be what 5.3.2 renders (kubectl_clearml/sandbox/
    seeds/agent-oss-values.yaml and agent-oss-manifest.yaml)."""
    from pathlib import Path

    import yaml

    seeds = Path(__file__).resolve().parents[2] / "kubectl_clearml" / "sandbox" / "seeds"
    fill = {"${ACCESS_KEY}": "K", "${SECRET_KEY}": "S", "${API_HOST}": "http://api", "${FILES_HOST}": "http://files",
            "${WEB_HOST}": "http://web"}  # fmt: skip
    text = (seeds / "agent-oss-values.yaml").read_text()
    manifest = (seeds / "agent-oss-manifest.yaml").read_text()
    for key, value in fill.items():
        text, manifest = text.replace(key, value), manifest.replace(key, value)
    values = yaml.safe_load(text)
    configmap = next(d for d in yaml.safe_load_all(manifest) if d and d.get("kind") == "ConfigMap")
    seeded = yaml.safe_load(configmap["data"]["template.yaml"])
    seeded = {**seeded, "metadata": {**seeded["metadata"], "namespace": "default"}}
    assert seeded == render_template(values, "clearml-agent", "default")


DOCS_EXAMPLE: dict[str, Any] = {  # DOCS clearml_agent_custom_workload.md:51-90 and :29-46, :92-130
    "agentk8sglue": {
        "basePodTemplate": {"labels": {"team": "red"}, "resources": {"limits": {"memory": "1Gi"}}},
        "createQueues": True,
        "queues": {
            "red": {"templateOverrides": {}},
            "blue": {"templateOverrides": {"labels": {"team": "blue"}}},
            "green": {"templateOverrides": {"labels": {"team": "green"}, "annotations": {"example": "example value"},
                      "resources": {"limits": {"memory": "2Gi"}}, "env": [{"name": "MY_ENV", "value": "my_value"}]}},
            "1xGPU": {"templateOverrides": {"resources": {"limits": {"nvidia.com/gpu": 1}}}},
            "GPUshm": {"templateOverrides": {"resources": {"limits": {"nvidia.com/gpu": "2"}},
                       "extraVolumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "32Gi"}}],
                       "extraVolumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}]}},
        },
    }
}  # fmt: skip


def test_the_enterprise_docs_example_as_the_docs_describe_it() -> None:
    """The docs say: red inherits team=red and 1Gi; blue overrides the label and inherits 1Gi; green overrides
    label and memory and adds an annotation and an env (clearml_agent_custom_workload.md:53-58)."""
    cfg = config_from_user_values([DOCS_EXAMPLE], release="clearml-enterprise-agent")
    assert cfg.flavour == "enterprise" and cfg.merge_rule[0] == "deep"

    def view(queue: str) -> tuple[Any, Any, Any, list[str]]:
        pod = cfg.effective_template(queue)
        container = pod["spec"]["containers"][0]
        env = [e["name"] for e in container["env"] if not e["name"].startswith("CLEARML_")]
        return pod["metadata"]["labels"], pod["metadata"]["annotations"], container["resources"]["limits"], env

    assert view("red") == ({"team": "red"}, {}, {"memory": "1Gi"}, [])
    assert view("blue") == ({"team": "blue"}, {}, {"memory": "1Gi"}, [])
    assert view("green") == ({"team": "green"}, {"example": "example value"}, {"memory": "2Gi"}, ["MY_ENV"])
    # maps merge under the 6.x rule: the GPU queue keeps the base's memory limit (an assumption, said so)
    assert view("1xGPU")[2] == {"memory": "1Gi", "nvidia.com/gpu": 1}
    shm = cfg.effective_template("GPUshm")["spec"]
    assert shm["volumes"] == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "32Gi"}}]
    assert shm["containers"][0]["volumeMounts"] == [{"name": "dshm", "mountPath": "/dev/shm"}]


def test_the_same_values_on_the_open_source_chart_give_one_template() -> None:
    """CHART_5_3_2 agentk8sglue-configmap.yaml:11-83: every queue gets basePodTemplate."""
    cfg = config_from_user_values([DOCS_EXAMPLE], release="clearml-agent", flavour="oss")
    assert cfg.effective_template("green") == cfg.base_template
