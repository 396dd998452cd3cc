"""Conformance: inputs the reference agent fails on are reported as such, while our glue builds the valid pod.

Facts (each message cites its line, see kubectl_clearml/core/reference_failures.py):
- CHART_5_3_2 templates/agentk8sglue-configmap.yaml:10-13 renders labels/annotations with toYaml; GLUE:1044
  writes the template back with yaml.dump; kubectl apply refuses non-string label/annotation values.
- GLUE:993-995: ``labels: null`` makes place_labels fail.
- clearml-agent ac65a93 docker/k8s-glue/build-resources/entrypoint.sh:38 passes ``--queue ${QUEUE}`` unquoted;
  examples/k8s_glue_example.py:28 takes one string: "red, blue" ends the glue.
- CHART_5_3_2 templates/agentk8sglue-deployment.yaml:142-143 renders K8S_GLUE_QUEUE unquoted: ``2024``/``on``.
- CHART_5_3_2 templates/agentk8sglue-configmap.yaml:69-71 writes basePodTemplate.env with toYaml after the chart's
  own env entries: a non-list makes template.yaml invalid YAML, which GLUE:203-204/266-268 yaml.load-s at start-up;
  volumes (:23-26) and the other list keys are rendered as written, and kubectl apply rejects a non-list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_clearml.core.agent_config import config_from_user_values
from kubectl_clearml.core.agent_glue import reference_failure_lines
from kubectl_clearml.core.lint import lint_config
from kubectl_clearml.core.podbuilder import GlueSettings, QueueRef, build_task_pod
from kubectl_clearml.core.reference_failures import PREFIX, yaml_retypes
from kubectl_clearml.sandbox.clearml import ClearmlEmulator
from tests.conformance.chart_oss import render_template
from tests.helpers import run_cli


def _failures(agent: dict[str, Any]) -> dict[str, str]:
    cfg = config_from_user_values([{"agentk8sglue": agent}], release="clearml-agent")
    return dict(reference_failure_lines(cfg))


def test_numeric_and_bool_label_and_annotation_values() -> None:
    agent = {"queue": "red", "basePodTemplate": {"labels": {"tier": 1, "gpu": True}, "annotations": {"v": 1.5}}}
    found = _failures(agent)
    assert set(found) == {
        "agentk8sglue.basePodTemplate.labels.tier",
        "agentk8sglue.basePodTemplate.labels.gpu",
        "agentk8sglue.basePodTemplate.annotations.v",
    }
    assert all(why.startswith(PREFIX) and "k8s.py:1044" in why for why in found.values())
    # ... and our glue still builds the valid pod, with string values
    cfg = config_from_user_values([{"agentk8sglue": agent}], release="clearml-agent")
    pod = build_task_pod({"id": "a" * 32}, QueueRef("q", "red"), cfg.effective_template("red"), GlueSettings("w"))
    assert pod.manifest["metadata"]["labels"]["tier"] == "1"


def test_labels_null() -> None:
    found = _failures({"queue": "red", "basePodTemplate": {"labels": None}})
    assert "k8s.py:993-995" in found["agentk8sglue.basePodTemplate.labels"]


@pytest.mark.parametrize("queue", ["red, blue", "red blue"])
def test_a_space_in_the_queue_list_stops_the_glue(queue: str) -> None:
    why = _failures({"queue": queue})["agentk8sglue.queue"]
    assert "unrecognized arguments" in why and "red,blue" in why


@pytest.mark.parametrize("queue", [2024, True, 1.5])
def test_yaml_typed_queue_values(queue: Any) -> None:
    assert "non-string env value" in _failures({"queue": queue})["agentk8sglue.queue"]


@pytest.mark.parametrize("queue", ["2024", "on", "no", "1e3", "0x1f", "y"])
def test_queue_names_yaml_would_retype(queue: str) -> None:
    assert yaml_retypes(queue)
    assert "YAML reads it as a number or a boolean" in _failures({"queue": queue})["agentk8sglue.queue"]


def test_a_queue_named_null_is_no_queue() -> None:
    assert "serves k8s_glue (entrypoint.sh:23)" in _failures({"queue": "null"})["agentk8sglue.queue"]


@pytest.mark.parametrize("queue", ["red", "gpu-a100", "on-prem", "v1.2", "2024a"])
def test_ordinary_names_are_fine(queue: str) -> None:
    assert not yaml_retypes(queue) and _failures({"queue": queue}) == {}


def test_a_queue_whose_reference_label_is_invalid() -> None:
    found = _failures({"queue": "añb"})
    assert "kubectl apply fails" in found["queue añb"]


def test_lint_reports_them() -> None:
    cfg = config_from_user_values([{"agentk8sglue": {"queue": "red, blue"}}], release="clearml-agent")
    assert any(f.where == "agentk8sglue.queue" and f.message.startswith(PREFIX) for f in lint_config(cfg))


def test_submit_pod_and_queues_warn(clearml: ClearmlEmulator, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"agentk8sglue": {"queue": "red", "basePodTemplate": {"labels": {"tier": 1}}}}))
    state = clearml.state
    state.create_queue("red")
    task_id = state.create_task("train", queue="red", container={"image": "python:3.11-slim"})
    env, home = clearml.env(), str(tmp_path)
    pod = run_cli(["submit-pod", task_id, "-q", "red", "-f", str(values), "--dry-run=client"], env=env, home=home)
    assert pod.exit_code == 0, pod.stderr
    line = "warning: agentk8sglue.basePodTemplate.labels.tier: the reference agent would fail here: "
    assert line in pod.stderr
    assert yaml.safe_load(pod.stdout)["metadata"]["labels"]["tier"] == "1"
    queues = run_cli(["queues", "-f", str(values), "--no-kube"], env=env, home=home)
    assert queues.exit_code == 0, queues.stderr
    assert line in queues.stderr
    diff = run_cli(["diff-template", "-f", str(values), "--show", "red"], env=env, home=home)
    assert "agentk8sglue.basePodTemplate.labels.tier: the reference agent would fail here" in diff.stderr


@pytest.mark.parametrize("value", [True, "x", 5])
def test_env_that_is_a_scalar_makes_the_template_unreadable(value: Any) -> None:
    agent = {"queue": "red", "basePodTemplate": {"env": value}}
    with pytest.raises(yaml.YAMLError):  # the chart's template.yaml, as the glue's yaml.load would read it
        render_template({"agentk8sglue": agent})
    why = _failures(agent)["agentk8sglue.basePodTemplate.env"]
    assert why.startswith(PREFIX) and "agentk8sglue-configmap.yaml:69-71" in why and "k8s.py:203-204" in why


@pytest.mark.parametrize("key", ["volumes", "volumeMounts", "initContainers", "tolerations"])
def test_other_list_keys_that_are_not_lists_are_rendered_as_written(key: str) -> None:
    agent = {"queue": "red", "basePodTemplate": {key: True}}
    rendered = render_template({"agentk8sglue": agent})
    spec = rendered["spec"]
    field = spec["containers"][0][key] if key == "volumeMounts" else spec[key]
    assert field is True  # not a list: kubectl apply rejects the pod
    assert "kubectl apply rejects" in _failures(agent)[f"agentk8sglue.basePodTemplate.{key}"]


def test_env_that_is_a_mapping_is_not_claimed_to_fail() -> None:
    # Its keys become fields of the task container (:69-71): valid YAML, and no failure we can cite for it.
    agent = {"queue": "red", "basePodTemplate": {"env": {"name": "A"}}}
    assert render_template({"agentk8sglue": agent})["spec"]["containers"][0]["name"] == "A"
    assert "agentk8sglue.basePodTemplate.env" not in _failures(agent)


def test_false_list_keys_are_skipped_by_the_chart_except_init_containers() -> None:
    assert "agentk8sglue.basePodTemplate.volumes" not in _failures({"queue": "red", "basePodTemplate": {"volumes": {}}})
    assert render_template({"agentk8sglue": {"queue": "red", "basePodTemplate": {"initContainers": False}}})[
        "spec"]["initContainers"] is False
    assert "agentk8sglue.basePodTemplate.initContainers" in _failures(
        {"queue": "red", "basePodTemplate": {"initContainers": False}})
