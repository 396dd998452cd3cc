"""Conformance: the agent's identity and the queue-name label, as the reference agent has them.

Facts:
- queue-name label: GLUE:1573-1581 (``_safe_k8s_label_value``): lower+strip, strip leading/trailing non
  [A-Za-z0-9], runs of \\W -> "-", runs of "_" -> "-", runs of "-" -> "-", cut to 63.
- agent label: GLUE:333-343: ``CLEARML=agent-`` + md5(worker id)[:8].
- worker id / queues: CHART_5_3_2 templates/agentk8sglue-deployment.yaml:134-146: CLEARML_WORKER_ID=<fullname>
  and K8S_GLUE_QUEUE=<agentk8sglue.queue> come before extraEnvs; the kubelet applies env in order, the last
  duplicate wins.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubectl_clearml.adapters.agent_install import _served_queues
from kubectl_clearml.cli.submit_pod_source import _deployment_worker_id
from kubectl_clearml.core.agent_config import config_from_user_values
from kubectl_clearml.core.chart_rules import glue_env
from kubectl_clearml.core.gpu_queues import ClusterGpus, QueueInput, queue_report
from kubectl_clearml.core.pod_labels import (
    agent_label,
    queue_label_values,
    reference_label_problem,
    reference_label_value,
    safe_label_value,
)

LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def oracle(value: str) -> str:
    """GLUE:1573-1581 restated step by step, independently of the plugin's code."""
    out = value.lower().strip()
    while out and not (out[0].isascii() and out[0].isalnum()):
        out = out[1:]
    while out and not (out[-1].isascii() and out[-1].isalnum()):
        out = out[:-1]
    out = re.sub(r"\W+", "-", out)
    out = re.sub(r"_+", "-", out)
    out = re.sub(r"-+", "-", out)
    return out[:63]


@pytest.mark.parametrize(
    "queue, label",
    [
        ("team__a", "team-a"),  # GLUE:1580 collapses the "--" left by 1579
        ("A100 (80GB)", "a100-80gb"),
        ("GPU Queue #1", "gpu-queue-1"),
        ("gpu_", "gpu"),  # GLUE:1577 strips trailing non-alphanumerics first
        ("__x__", "x"),
        ("default", "default"),
    ],
)
def test_queue_name_label_is_the_reference_glues(queue: str, label: str) -> None:
    assert reference_label_value(queue) == label
    assert safe_label_value(queue) == label


text = st.text(alphabet=st.sampled_from(list("aZ09_- .#(é)ñ\t") + ["K"]), max_size=80) | st.text(max_size=80)


@given(text)
def test_label_rule_is_the_reference_rule_whenever_that_is_valid(value: str) -> None:
    reference = oracle(value)
    assert reference_label_value(value) == reference
    ours = safe_label_value(value)
    assert len(ours) <= 63 and LABEL_VALUE.match(ours)
    if LABEL_VALUE.match(reference):
        assert ours == reference and reference_label_problem(value) is None
        assert queue_label_values(value)[0] == reference
    else:  # the reference's kubectl apply would be refused: say so, never pretend
        assert reference_label_problem(value) is not None


def test_cut_to_63_leaves_the_reference_an_invalid_label() -> None:
    name = "q" * 62 + "_x"
    assert reference_label_value(name).endswith("-")
    assert "kubectl apply fails" in (reference_label_problem(name) or "")
    assert safe_label_value(name) == "q" * 62


def test_lookups_by_queue_name_find_the_reference_glues_pods() -> None:
    """gpu-report counts pods by the queue-name label (core/gpu_queues.py): a pod the reference glue labelled
    ``team-a`` is the queue ``team__a``'s."""
    cluster = ClusterGpus(nodes={}, running_task_pods={"team-a": 2})
    report = queue_report(QueueInput(name="team__a", template=None), cluster)
    assert report.running_pods == 2


def test_agent_label_is_md5_of_the_worker_id() -> None:
    assert agent_label("clearml-agent") == "agent-" + hashlib.md5(b"clearml-agent").hexdigest()[:8]


def _cfg(extra_envs: list[dict[str, Any]] | None, queue: str = "red") -> Any:
    agent: dict[str, Any] = {"queue": queue}
    if extra_envs is not None:
        agent["extraEnvs"] = extra_envs
    return config_from_user_values([{"agentk8sglue": agent}], release="clearml-agent")


def test_worker_id_defaults_to_the_fullname() -> None:
    assert _cfg(None).worker_id == "clearml-agent"


def test_extra_envs_worker_id_wins_the_last_duplicate() -> None:
    cfg = _cfg([{"name": "CLEARML_WORKER_ID", "value": "first"}, {"name": "CLEARML_WORKER_ID", "value": "gpu-a"}])
    assert cfg.worker_id == "gpu-a"
    assert agent_label(cfg.worker_id) == agent_label("gpu-a")


def test_worker_id_from_value_from_is_unknown() -> None:
    ref = {"valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    assert _cfg([{"name": "CLEARML_WORKER_ID", **ref}]).worker_id is None


def test_extra_envs_queue_wins_the_last_duplicate() -> None:
    cfg = _cfg([{"name": "K8S_GLUE_QUEUE", "value": "a"}, {"name": "K8S_GLUE_QUEUE", "value": "b,c"}])
    assert cfg.queues == ["b", "c"]


env_name = st.sampled_from(["CLEARML_WORKER_ID", "K8S_GLUE_QUEUE", "OTHER"])
env_entry = st.builds(lambda n, v: {"name": n, "value": v}, env_name, st.sampled_from(["w1", "w2", "q1", "q1,q2"]))


@given(st.lists(env_entry, max_size=5))
def test_values_and_live_deployment_agree(extra_envs: list[dict[str, Any]]) -> None:
    """The -f reading and the live reading of the Deployment the chart renders give one worker id, one queue list."""
    cfg = _cfg(extra_envs)
    deployment = {
        "spec": {"template": {"spec": {"containers": [{"name": "k8s-glue", "env": glue_env(cfg.values, "clearml-agent")}]}}}
    }
    assert _deployment_worker_id(deployment) == cfg.worker_id
    assert _served_queues(deployment) == cfg.queues


def test_shm_pod_scan_selects_the_reference_glues_pods(kube: Any, tmp_path: Any) -> None:
    """shm-fix --live scans a queue's task pods by the queue-name label (cli/shm_live.py): the reference glue's
    ``team-a`` pods and the ones kubectl-clearml 0.1.0 labelled ``team--a`` are both found."""
    from kubectl_clearml.adapters.kube_connect import connect
    from kubectl_clearml.cli.shm_live import scan_pods

    failed = {"terminated": {"exitCode": 1, "message": "NCCL WARN Error while creating shared memory segment"}}
    for name, label in (("ref", "team-a"), ("old", "team--a"), ("other", "team-b")):
        kube.store.add({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default",
                        "labels": {"clearml-agent-queue-name": label}}, "spec": {"containers": [{"name": "c"}]},
                        "status": {"phase": "Pending", "containerStatuses": [{"name": "c", "state": failed}]}})  # fmt: skip
    client = connect(kube.write_kubeconfig(tmp_path / "kc", namespace="default", context="s"), env={})
    findings = scan_pods(client, "default", "team__a", max_pods=10, tail_lines=10)
    assert sorted({f["pod"] for f in findings}) == ["old", "ref"]
