"""Conformance: the reference glue's modes and its docker-argument rule.

Facts:
- GLUE:106 DEFAULT_LIMIT_POD_LABEL ``ai.clearml.agent.serial=pod-{n}``; GLUE:647-649 adds it in ports mode;
  CHART_5_3_2 templates/service-sessions.yaml:2,28: Services clearml-session-1..maxServices select
  ``ai.allegro.agent.serial: pod-N``; agentk8sglue-deployment.yaml:96-103 passes --ports-mode and no label.
- GLUE:935-946: with K8S_GLUE_POD_USE_IMAGE_ENTRYPOINT no command/args; CLEARML_TASK_ID in env.
- GLUE:164-167, 955-956: CLEARML_K8S_GLUE_KIND=job keeps the template's apiVersion v1.
- GLUE:846-870: only ``-e K=V``/``--env K=V`` as two tokens; ``-e C`` gives C="".
- GLUE:477-478 + CHART_5_3_2 agentk8sglue-deployment.yaml:140-141: the default image is CLEARML_DOCKER_IMAGE =
  defaultContainerImage (ubuntu:18.04 in values.yaml:84), else agent.default_docker.image, else nvidia/cuda.
- DOCS clearml_agent_custom_workload.md:136-156: enterprise queueSettings.defaultImage/useImageEntrypoint.
"""

from __future__ import annotations

from typing import Any

from kubectl_clearml.core import docker_args
from kubectl_clearml.core.agent_config import config_from_user_values
from kubectl_clearml.core.agent_glue import glue_modes
from kubectl_clearml.core.pod_labels import first_free_slot
from kubectl_clearml.core.podbuilder import GlueSettings, QueueRef, build_task_pod

TASK = {"id": "b" * 32, "name": "t", "container": {"image": "python:3.11-slim"}}


def _modes(values: dict[str, Any], queue: str = "red") -> Any:
    return glue_modes(config_from_user_values([values], release="clearml-agent"), queue)


def test_ports_mode_labels_the_pod_for_the_charts_services() -> None:
    modes = _modes({"agentk8sglue": {"queue": "red"}, "sessions": {"portModeEnabled": True, "maxServices": 3}})
    assert modes.ports_max_services == 3
    pod = build_task_pod(TASK, QueueRef("q", "red"), None, GlueSettings("w", port_slot=2)).manifest
    labels = pod["metadata"]["labels"]
    assert labels["ai.allegro.agent.serial"] == "pod-2"  # what clearml-session-2 selects
    assert labels["ai.clearml.agent.serial"] == "pod-2"  # what the reference glue counts


def test_first_free_slot() -> None:
    pods = [{"metadata": {"labels": {"ai.clearml.agent.serial": "pod-1"}}}, {"metadata": {"labels": {}}}]
    assert first_free_slot(pods, 3) == 2
    assert first_free_slot(pods, 1) is None


def test_use_image_entrypoint() -> None:
    modes = _modes({"agentk8sglue": {"queue": "red", "extraEnvs": [
        {"name": "K8S_GLUE_POD_USE_IMAGE_ENTRYPOINT", "value": "1"}]}})  # fmt: skip
    assert modes.use_image_entrypoint
    pod = build_task_pod(TASK, QueueRef("q", "red"), None, GlueSettings("w", use_image_entrypoint=True)).manifest
    container = pod["spec"]["containers"][0]
    assert "command" not in container and "args" not in container
    assert {"name": "CLEARML_TASK_ID", "value": TASK["id"]} in container["env"]


def test_enterprise_queue_settings_default_image_and_entrypoint() -> None:
    values = {"agentk8sglue": {"queues": {"red": {"queueSettings": {"defaultImage": "python:3.10",
                                                                    "useImageEntrypoint": True}}}}}  # fmt: skip
    modes = _modes(values)
    assert modes.default_image == "python:3.10" and modes.use_image_entrypoint


def test_default_image_is_the_charts() -> None:
    assert _modes({"agentk8sglue": {"queue": "red"}}).default_image == "ubuntu:18.04"
    assert _modes({"agentk8sglue": {"queue": "red", "defaultContainerImage": ""}}).default_image == "nvidia/cuda"


def test_job_kind_is_reported() -> None:
    modes = _modes({"agentk8sglue": {"queue": "red", "extraEnvs": [{"name": "CLEARML_K8S_GLUE_KIND", "value": "job"}]}})
    assert modes.kind == "job" and "apiVersion v1" in modes.notes[0]


def test_docker_env_rule() -> None:
    result = docker_args.translate("-e A=1 --env B=2 -e C --env=D=4 -eE=5")
    assert dict(result.env) == {"A": "1", "B": "2", "C": "", "D": "4", "E": "5"}
    # our wider forms are applied, each with a note saying the reference skips it
    assert sum("the reference glue skips this form" in n for n in result.notes) == 2
    assert any(n.startswith("-e C: set to an empty value") for n in result.notes)
