"""Issue 13 item 1, with the real kubectl: admission defaulting and validation as the apiserver does them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubectl_clearml.sandbox.kube import KubeEmulator
from tests.fidelity.conftest import Kubectl, manifest


def pod(name: str = "p1", resources: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "busybox:1"}
    if resources is not None:
        container["resources"] = resources
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container], **spec}}


def test_requests_default_from_limits(kube: KubeEmulator, kubectl: Kubectl) -> None:
    """SetDefaults_Pod: `describe node` and gpu-report then agree on what a pod requests."""
    body = pod(resources={"limits": {"nvidia.com/gpu": 3, "cpu": "2"}, "requests": {"cpu": "500m"}})
    created = kubectl("apply", "-f", "-", stdin=manifest(body))
    assert created.returncode == 0, created.stderr
    stored = json.loads(kubectl("get", "pod", "p1", "-o", "json").stdout)
    resources = stored["spec"]["containers"][0]["resources"]
    assert resources == {"limits": {"nvidia.com/gpu": "3", "cpu": "2"},
                         "requests": {"nvidia.com/gpu": "3", "cpu": "500m"}}
    assert stored["status"]["qosClass"] == "Burstable"


def test_unknown_fields_are_refused_under_strict_field_validation(kube: KubeEmulator, kubectl: Kubectl) -> None:
    body = pod()
    body["spec"]["containers"][0]["resoures"] = {"limits": {"cpu": "1"}}
    refused = kubectl("apply", "-f", "-", stdin=manifest(body))
    assert refused.returncode == 1
    assert ('Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field '
            '"spec.containers[0].resoures"') in refused.stderr
    assert kube.store.get("pods", "p1") is None
    # --validate=warn is fieldValidation=Warn: stored without the field, and kubectl shows the Warning header.
    warned = kubectl("apply", "--validate=warn", "-f", "-", stdin=manifest(body))
    assert warned.returncode == 0, warned.stderr
    assert 'Warning: unknown field "spec.containers[0].resoures"' in warned.stderr
    kube.store.delete("pods", "p1")
    # --validate=false is fieldValidation=Ignore: the apiserver drops the field, as Go's decoder does.
    lax = kubectl("apply", "--validate=false", "-f", "-", stdin=manifest(body))
    assert lax.returncode == 0, lax.stderr
    stored = kube.store.get("pods", "p1")
    assert stored is not None and "resoures" not in stored["spec"]["containers"][0]


@pytest.mark.parametrize(("body", "namespace", "message"), [
    (pod(resources={"limits": {"cpu": "lots"}}), "default",
     'Pod in version "v1" cannot be handled as a Pod: quantities must match the regular expression '
     "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
    (pod("Bad_Name"), "default",
     'The Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain'),
    (pod(), "nope", 'namespaces "nope" not found'),
    (pod(priorityClassName="high"), "default", 'pods "p1" is forbidden: no PriorityClass with name high was found'),
    (pod(resources={"limits": {"cpu": "1"}, "requests": {"cpu": "2"}}), "default",
     'The Pod "p1" is invalid: spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than '
     "or equal to cpu limit of 1"),
    (pod(resources={"requests": {"nvidia.com/gpu": "1"}}), "default",
     "spec.containers[0].resources.limits[nvidia.com/gpu]: Required value: Limit must be set for non "
     "overcommitable resources"),
], ids=["bad-quantity", "invalid-name", "missing-namespace", "missing-priorityclass", "requests-above-limits",
        "extended-resource-without-limit"])
def test_what_the_apiserver_refuses(kube: KubeEmulator, kubectl: Kubectl, body: dict[str, Any], namespace: str,
                                    message: str) -> None:
    refused = kubectl("create", "-n", namespace, "-f", "-", stdin=manifest(body))
    assert refused.returncode == 1
    assert message in refused.stderr, refused.stderr
    assert kube.store.list("pods") == []


def test_a_priority_class_that_exists_sets_the_pod_priority(kube: KubeEmulator, kubectl: Kubectl) -> None:
    created = kubectl("create", "-f", "-", stdin=manifest(pod(priorityClassName="system-node-critical")))
    assert created.returncode == 0, created.stderr
    assert json.loads(kubectl("get", "pod", "p1", "-o", "json").stdout)["spec"]["priority"] == 2000001000


def test_a_deployment_whose_selector_misses_its_template_is_invalid(kube: KubeEmulator, kubectl: Kubectl) -> None:
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"app": "a"}},
                     "template": {"metadata": {"labels": {"app": "b"}}, "spec": pod()["spec"]}}}
    refused = kubectl("apply", "-f", "-", stdin=manifest(body))
    assert refused.returncode == 1
    assert "spec.template.metadata.labels: Invalid value: " in refused.stderr
    assert "`selector` does not match template `labels`" in refused.stderr
