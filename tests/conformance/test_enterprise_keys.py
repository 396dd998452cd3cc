"""Conformance: enterprise keys, from the public docs (the enterprise chart itself is private).

Facts (clearml-docs df22ffc4):
- clearml_agent_string_template.md:10-115: ``${CLEARML_TASK.name}`` & co. in basePodTemplate/templateOverrides
  labels, annotations and env, with ``:default`` and ``|op``; an enterprise feature (lines 5-7).
"""

from __future__ import annotations

from typing import Any

from kubectl_clearml.core.agent_config import config_from_user_values
from kubectl_clearml.core.agent_glue import reference_failure_lines
from kubectl_clearml.core.podbuilder import GlueSettings, QueueRef, build_task_pod
from kubectl_clearml.core.string_templates import TemplateContext, substitute

TASK: dict[str, Any] = {
    "id": "c" * 32,
    "name": "Train ResNet",
    "project": {"id": "p1", "name": "vision"},
    "tags": ["a", "b"],
    "hyperparams": {"properties": {"user_key": {"value": "k1"}}},
    "container": {"image": "python:3.11-slim"},
}


def test_substitution_rules() -> None:
    ctx = TemplateContext(TASK, "green", "q1", "w1", "vision")
    assert substitute("${CLEARML_TASK.name}", ctx) == ("Train ResNet", [])
    assert substitute("${CLEARML_TASK.name|lower|strip( )}", ctx)[0] == "trainresnet"
    assert substitute("${CLEARML_TASK.tags}", ctx)[0] == "a,b"  # lists: comma list (lines 52-56)
    assert substitute("${CLEARML_TASK.hyperparams.properties.user_key.value}", ctx)[0] == "k1"
    assert substitute("${CLEARML_TASK.hyperparams.properties.other.value:dflt}", ctx)[0] == "dflt"
    assert substitute("q=${CLEARML_QUEUE_NAME} p=${CLEARML_PROJECT_ID}", ctx)[0] == "q=green p=p1"
    assert substitute("${CLEARML_USER_VAULTS.s.k}", ctx) == ("${CLEARML_USER_VAULTS.s.k}", ["${CLEARML_USER_VAULTS.s.k}"])


def _enterprise(template_labels: dict[str, Any]) -> Any:
    values = {"agentk8sglue": {"basePodTemplate": {"labels": template_labels, "env": [
        {"name": "TASK_ENV", "value": "${CLEARML_TASK.id}"}]}, "queues": {"green": {}}}}  # fmt: skip
    cfg = config_from_user_values([values], release="clearml-enterprise-agent")
    settings = GlueSettings("w1", string_templates=True)
    return build_task_pod(TASK, QueueRef("q1", "green"), cfg.effective_template("green"), settings)


def test_the_enterprise_glue_substitutes_per_task() -> None:
    built = _enterprise({"task": "${CLEARML_TASK.id}", "project": "${CLEARML_TASK.project}"})
    labels = built.manifest["metadata"]["labels"]
    assert labels["task"] == TASK["id"] and labels["project"] == "p1"
    env = {e["name"]: e.get("value") for e in built.manifest["spec"]["containers"][0]["env"]}
    assert env["TASK_ENV"] == TASK["id"]


def test_an_invalid_label_after_substitution_is_flagged() -> None:
    built = _enterprise({"name": "${CLEARML_TASK.name}"})
    assert built.manifest["metadata"]["labels"]["name"] == "train-resnet"
    assert any("'Train ResNet'" in n and "not a valid label value" in n for n in built.notes)


def test_the_open_source_glue_would_fail_on_a_template_label() -> None:
    values = {"agentk8sglue": {"queue": "red", "basePodTemplate": {"labels": {"n": "${CLEARML_TASK.name}"}}}}
    found = dict(reference_failure_lines(config_from_user_values([values], release="clearml-agent")))
    assert "only the enterprise agent substitutes" in found["agentk8sglue.basePodTemplate.labels.n"]


def _cfg(values: dict[str, Any]) -> Any:
    return config_from_user_values([values], release="clearml-enterprise-agent")


def test_extra_image_pull_secrets_reach_task_pods() -> None:
    """DOCS deploying_clearml/enterprise_deploy/air_gapped_env.md:151-158."""
    cfg = _cfg({"imageCredentials": {"extraImagePullSecrets": [{"name": "regcred"}]}, "agentk8sglue": {"queues": {"a": {}}}})
    assert {"name": "regcred"} in cfg.effective_template("a")["spec"]["imagePullSecrets"]


def test_per_queue_file_mounts_render() -> None:
    """DOCS air_gapped_env.md:75-86; layout of CHART_4_0_10 _helpers.tpl:163-171,188-201."""
    mounts = [{"name": "pip.conf", "folderPath": "/root/.pip", "fileContent": "[global]"}]
    cfg = _cfg({"agentk8sglue": {"queues": {"a": {"templateOverrides": {"fileMounts": mounts}}}}})
    spec = cfg.effective_template("a")["spec"]
    assert {"name": "filemounts", "secret": {"secretName": "clearml-enterprise-agent-a-fm"}} in spec["volumes"]
    mount = {"name": "filemounts", "mountPath": "/root/.pip/pip.conf", "subPath": "pip.conf", "readOnly": True}
    assert mount in spec["containers"][0]["volumeMounts"]
    from kubectl_clearml.core.lint import lint_config

    assert not [f for f in lint_config(cfg) if "fileMounts" in f.where]


def test_report_max_zero_with_discovery_is_not_a_count() -> None:
    """DOCS clearml_agent_orch_dash_k8s.md:126-139: reportMax overrides discovery; 0 keeps discovery."""
    dash = {"gpu": {"reportMax": 0, "discovery": {"enabled": True}}}
    cfg = _cfg({"agentk8sglue": {"orchestrationDashboard": dash, "queues": {"a": {}}}})
    assert cfg.report_max_gpu is None
    assert any("discovery enabled" in n for n in cfg.notes)


def test_keys_not_modelled_are_listed_by_lint() -> None:
    from kubectl_clearml.core.lint import lint_config

    values = {
        "agentk8sglue": {
            "containerCustomBashScript": "export HOME=/tmp",
            "taskWorkerIdOverride": "k8s:{worker_id}:{task_id}",
            "queues": {"a": {"queueSettings": {"maxPods": 2, "multiNode": [4, 2], "customWorkerIdTemplate": "x"}}},
        }
    }
    found = {f.where for f in lint_config(_cfg(values)) if f.message == "not modelled"}
    assert found == {
        "agentk8sglue.taskWorkerIdOverride",
        "agentk8sglue.queues.a.queueSettings.multiNode",
        "agentk8sglue.queues.a.queueSettings.customWorkerIdTemplate",
    }


def test_container_custom_bash_script_replaces_ours() -> None:
    """DOCS deploying_clearml/enterprise_deploy/air_gapped_env.md:226-250; placeholders as GLUE:876-882."""
    import subprocess

    from kubectl_clearml.core.agent_glue import glue_modes

    script = (
        "export HOME=/tmp\nexport LOCAL_PYTHON=python3\n{extra_bash_init_cmd}\n"
        "[ ! -z $CLEARML_AGENT_NO_UPDATE ] || $LOCAL_PYTHON -m pip install clearml-agent{agent_install_args}\n"
        "{extra_docker_bash_script}\n$LOCAL_PYTHON -m clearml_agent execute {default_execution_agent_args} --id {task_id}\n"
    )
    cfg = _cfg({"agentk8sglue": {"containerCustomBashScript": script, "queues": {"a": {}}}})
    modes = glue_modes(cfg, "a")
    settings = GlueSettings("w", custom_script=modes.custom_script)
    task = {**TASK, "container": {"image": "python:3.11", "setup_shell_script": "echo setup"}}
    built = build_task_pod(task, QueueRef("q1", "a"), cfg.effective_template("a"), settings)
    text = built.manifest["spec"]["containers"][0]["command"][2]
    assert "export HOME=/tmp" in text and "echo setup" in text
    assert text.rstrip().endswith(f"execute --full-monitoring --require-queue --id {TASK['id']}")
    assert "{" + "task_id}" not in text
    assert subprocess.run(["bash", "-n", "-c", text], check=False).returncode == 0
