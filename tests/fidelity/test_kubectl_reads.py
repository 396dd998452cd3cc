"""Issue 13 items 6 and 7, with the real kubectl: what `get` and `logs` print."""

from __future__ import annotations

import re
import time

from kubectl_clearml.sandbox.kube import KubeEmulator
from tests.fidelity.conftest import Kubectl


def running_pod(kube: KubeEmulator) -> None:
    kube.store.add({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1", "namespace": "default"},
                    "spec": {"nodeName": "n1", "initContainers": [{"name": "setup", "image": "busybox:1"}],
                             "containers": [{"name": "main", "image": "busybox:1"}]},
                    "status": {"phase": "Running", "containerStatuses": [
                        {"name": "main", "image": "busybox:1", "imageID": "", "ready": True, "restartCount": 0,
                         "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}})


def test_logs_flags(kube: KubeEmulator, kubectl: Kubectl) -> None:
    running_pod(kube)
    kube.store.set_pod_log("default", "p1", "one\ntwo\n", container="main")
    kube.store.set_pod_log("default", "p1", "fetched the dataset\n", container="setup")
    time.sleep(1.5)
    kube.store.set_pod_log("default", "p1", "one\ntwo\nthree\n", container="main")
    assert kubectl("logs", "p1").stdout == "one\ntwo\nthree\n"
    stamped = kubectl("logs", "p1", "--timestamps").stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["one", "two", "three"]
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ", line) for line in stamped)
    assert kubectl("logs", "p1", "--since=1s").stdout == "three\n"
    assert kubectl("logs", "p1", "--limit-bytes=5").stdout == "one\nt"
    assert kubectl("logs", "p1", "--tail=1").stdout == "three\n"
    assert kubectl("logs", "p1", "-c", "setup").stdout == "fetched the dataset\n"
    previous = kubectl("logs", "p1", "--previous")
    assert previous.returncode == 1
    assert 'previous terminated container "main" in pod "p1" not found' in previous.stderr


def test_tables_sort_by_any_field_wide_columns_and_namespace_status(kube: KubeEmulator, kubectl: Kubectl) -> None:
    for name, seen in (("late", "2026-01-01T10:00:00Z"), ("early", "2026-01-01T09:00:00Z")):
        kube.store.add({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": "default"},
                        "involvedObject": {"kind": "Pod", "name": name, "namespace": "default"},
                        "reason": "Started", "message": name, "type": "Normal", "lastTimestamp": seen})
    events = kubectl("get", "events", "--sort-by=.lastTimestamp")
    assert events.returncode == 0, events.stderr
    assert [line.split()[-1] for line in events.stdout.splitlines()[1:]] == ["early", "late"]
    kube.store.add({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "gpu-1"}, "status": {
        "addresses": [{"type": "InternalIP", "address": "10.0.0.7"}],
        "nodeInfo": {"osImage": "Ubuntu 22.04.4 LTS", "kernelVersion": "5.15.0", "kubeletVersion": "v1.32.2",
                     "containerRuntimeVersion": "containerd://1.7.20"},
        "conditions": [{"type": "Ready", "status": "True"}]}})
    nodes = kubectl("get", "nodes", "-o", "wide").stdout.splitlines()
    assert nodes[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP",
                                "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    assert "10.0.0.7" in nodes[1] and "containerd://1.7.20" in nodes[1]
    kube.store.add({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
                    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                             "template": {"metadata": {"labels": {"app": "web"}},
                                          "spec": {"containers": [{"name": "main", "image": "nginx:1"}]}}}})
    deployments = kubectl("get", "deployments", "-o", "wide").stdout.splitlines()
    assert deployments[0].split()[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert deployments[1].split()[-3:] == ["main", "nginx:1", "app=web"]
    namespaces = kubectl("get", "namespaces").stdout.splitlines()
    assert namespaces[0].split()[:2] == ["NAME", "STATUS"] and namespaces[1].split()[1] == "Active"
