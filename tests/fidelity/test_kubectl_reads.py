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
