"""Conformance: which chart reads the values, and what that chart renders for a queue.

Facts:
- CHART_5_3_2 templates/agentk8sglue-configmap.yaml:11-83: the open-source chart renders one template from
  basePodTemplate; it never reads ``agentk8sglue.queues`` (clearml-helm-charts issue #237 is this mix).
- CHART_5_3_2 values.yaml: ``agentk8sglue.queue`` is an open-source key (K8S_GLUE_QUEUE,
  agentk8sglue-deployment.yaml:142-143); objects are named ``<fullname>-pt`` / ``-ac`` after ``clearml-agent``.
- DOCS docs/clearml_agent/clearml_agent_deployment_k8s.md (enterprise): ``queues.<q>.templateOverrides``.
"""

from __future__ import annotations

from typing import Any

from kubectl_clearml.core.agent_config import config_from_user_values
from kubectl_clearml.core.chart_rules import guess_flavour
from kubectl_clearml.core.lint import lint_config

MIXED: dict[str, Any] = {
    "agentk8sglue": {
        "queue": "red",
        "basePodTemplate": {"labels": {"team": "red"}},
        "queues": {"red": {"templateOverrides": {"labels": {"team": "overridden"}}}},
    }
}


def test_a_mix_reads_as_the_open_source_chart_and_says_why() -> None:
    cfg = config_from_user_values([MIXED], release="clearml-agent")
    assert cfg.flavour == "oss"
    assert cfg.effective_template("red")["metadata"]["labels"]["team"] == "red"  # the override never applies
    assert cfg.fullname == "clearml-agent"
    mix = [n for n in cfg.notes if n.startswith("values mix")]
    assert mix and "agentk8sglue.queue" in mix[0] and "agentk8sglue.queues" in mix[0]
    assert "templateOverrides is ignored" in mix[0]
    assert any(f.where == "agentk8sglue.queues" and "ignores it" in f.message for f in lint_config(cfg))


def test_enterprise_keys_alone_name_the_keys_that_forced_the_guess() -> None:
    values = {"agentk8sglue": {"queues": {"red": {}}, "createQueues": True}}
    guess = guess_flavour(values)
    assert guess.flavour == "enterprise" and not guess.from_chart
    assert guess.enterprise_keys == ("agentk8sglue.queues", "agentk8sglue.createQueues")
    cfg = config_from_user_values([values])
    assert any("because of agentk8sglue.queues, agentk8sglue.createQueues" in n for n in cfg.notes)


def test_the_chart_name_decides_over_the_keys() -> None:
    assert guess_flavour(MIXED, "clearml-enterprise-agent").flavour == "enterprise"
    assert guess_flavour({"agentk8sglue": {"queues": {"a": {}}}}, "clearml-agent").flavour == "oss"
    assert guess_flavour(MIXED, "clearml-agent").notes() == []  # nothing guessed


def test_explicit_flavour_overrides_the_guess() -> None:
    cfg = config_from_user_values([MIXED], flavour="enterprise", release="clearml-enterprise-agent")
    assert cfg.effective_template("red")["metadata"]["labels"]["team"] == "overridden"
    assert not any(n.startswith("values mix") for n in cfg.notes)


def test_legacy_4x_enterprise_features_is_enterprise() -> None:
    """CHART_4_0_10 agentk8sglue-deployment.yaml:172-174: with enterpriseFeatures.enabled the queues come from
    enterpriseFeatures.queues."""
    values = {"agentk8sglue": {"queue": "x"}, "enterpriseFeatures": {"enabled": True, "queues": {"a": {}}}}
    assert guess_flavour(values).flavour == "enterprise"
    assert guess_flavour(values, "clearml-agent").flavour == "enterprise"


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from kubectl_clearml.core.chart_rules import guess_flavour as _guess  # noqa: E402

agent_keys = st.fixed_dictionaries(
    {},
    optional={
        "queue": st.sampled_from(["red", "a,b"]),
        "queues": st.just({"q": {}}),
        "createQueues": st.booleans(),
        "orchestrationDashboard": st.just({"gpu": {"reportMax": 2}}),
    },
)


@given(agent_keys, st.sampled_from(["clearml-agent", "clearml-enterprise-agent"]))
def test_a_known_chart_decides_whatever_the_keys(agent: dict[str, Any], chart: str) -> None:
    guess = _guess({"agentk8sglue": agent}, chart)
    assert guess.flavour == ("enterprise" if chart == "clearml-enterprise-agent" else "oss") and guess.from_chart


@given(agent_keys)
def test_from_values_the_guess_names_its_keys_and_a_mix_is_open_source(agent: dict[str, Any]) -> None:
    guess = _guess({"agentk8sglue": agent})
    assert guess.flavour == ("enterprise" if guess.enterprise_keys and not guess.oss_keys else "oss")
    assert bool(guess.oss_keys) == ("queue" in agent)
    if guess.mixed:
        assert "templateOverrides is ignored" in guess.notes()[0]
