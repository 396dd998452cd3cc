"""Issue 13 item 3, with the real kubectl: its typed `create` commands send protobuf bodies (kubectl >= 1.32).

The README's own hints (`kubectl create namespace`, `kubectl create secret generic` for the credentials) must work.
"""

from __future__ import annotations

import base64
import json

from kubectl_clearml.sandbox.kube import KubeEmulator
from tests.fidelity.conftest import Kubectl


def ok(done: object) -> str:
    assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    return done.stdout  # type: ignore[attr-defined]


def test_create_namespace_secret_configmap_and_deployment(kube: KubeEmulator, kubectl: Kubectl) -> None:
    assert ok(kubectl("create", "namespace", "clearml")) == "namespace/clearml created\n"
    ok(kubectl("create", "secret", "generic", "clearml-conf", "-n", "clearml",
               "--from-literal=CLEARML_API_ACCESS_KEY=KEY", "--from-literal=CLEARML_API_SECRET_KEY=s3cr=t"))
    ok(kubectl("create", "configmap", "tmpl", "--from-literal=template.yaml=spec: {}"))
    ok(kubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=2", "--port=80"))
    assert kube.store.get("namespaces", "clearml")["status"]["phase"] == "Active"
    secret = kube.store.get("secrets", "clearml-conf", "clearml")
    assert secret["type"] == "Opaque"
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
        "CLEARML_API_ACCESS_KEY": "KEY", "CLEARML_API_SECRET_KEY": "s3cr=t"}
    assert kube.store.get("configmaps", "tmpl")["data"] == {"template.yaml": "spec: {}"}
    spec = json.loads(ok(kubectl("get", "deployment", "web", "-o", "json")))["spec"]
    assert spec["replicas"] == 2 and spec["selector"] == {"matchLabels": {"app": "web"}}
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    container = spec["template"]["spec"]["containers"][0]
    assert (container["image"], container["ports"]) == ("nginx:1", [{"containerPort": 80, "protocol": "TCP"}])
    ok(kubectl("create", "serviceaccount", "glue", "-n", "clearml"))
    ok(kubectl("create", "service", "clusterip", "metrics", "--tcp=9090:8080", "-n", "clearml"))
    service = kube.store.get("services", "metrics", "clearml")["spec"]
    assert service["ports"] == [{"name": "9090-8080", "port": 9090, "protocol": "TCP", "targetPort": 8080}]
    assert service["type"] == "ClusterIP" and service["clusterIP"].startswith("10.")
    ok(kubectl("create", "priorityclass", "high", "--value=1000", "--description=training"))
    assert kube.store.get("priorityclasses", "high")["value"] == 1000
    assert kube.store.get("serviceaccounts", "glue", "clearml") is not None


def test_kubectl_debug_a_node_and_a_pod(kube: KubeEmulator, kubectl: Kubectl) -> None:
    """`debug node/...` creates a Pod from protobuf (host namespaces, a hostPath volume, a toleration);
    `debug <pod>` adds an ephemeral container through pods/ephemeralcontainers."""
    kube.store.add({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "cpu-1"}})
    created = ok(kubectl("debug", "node/cpu-1", "--image=busybox:1", "--profile=general"))
    assert "Creating debugging pod node-debugger-cpu-1-" in created
    (debugger,) = kube.store.list("pods")
    spec = debugger["spec"]
    assert (spec["nodeName"], spec["hostPID"], spec["hostNetwork"]) == ("cpu-1", True, True)
    assert spec["volumes"] == [{"name": "host-root", "hostPath": {"path": "/"}}]
    assert spec["containers"][0]["volumeMounts"] == [{"name": "host-root", "mountPath": "/host"}]
    assert spec["tolerations"] == [{"operator": "Exists"}]
    kube.store.add({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1", "namespace": "default"},
                    "spec": {"containers": [{"name": "main", "image": "busybox:1"}]}})
    ok(kubectl("debug", "p1", "--image=busybox:1", "--container=dbg", "--profile=general"))
    (ephemeral,) = kube.store.get("pods", "p1")["spec"]["ephemeralContainers"]
    assert (ephemeral["name"], ephemeral["image"], ephemeral["imagePullPolicy"]) == ("dbg", "busybox:1", "IfNotPresent")
