"""A minimal Deployment controller for these tests, over the emulator's real HTTP API.

It does what the parts of the kube-controller-manager a handover waits on do: a Deployment scaled to 0 loses
its pods (after ``grace`` seconds, as a terminating pod lingers), and a Deployment with replicas gets one
Running pod and ``status.availableReplicas`` (unless its image is listed as never starting). It also records
whether our glue's Deployment ever existed while the agent's pod was still there: the one thing a handover
must never allow.
"""

from __future__ import annotations

import threading
import time
from typing import Any

NS = "clearml"


class DeploymentController:
    def __init__(self, kube: Any, *, grace: float = 0.3, broken_images: tuple[str, ...] = ()) -> None:
        self.kube = kube
        self.grace = grace
        self.broken_images = broken_images
        self.overlaps: list[str] = []  # our Deployment seen while an agent pod still existed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._scaled_at: dict[str, float] = {}

    def __enter__(self) -> DeploymentController:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _pods(self, selector: dict[str, str]) -> list[dict[str, Any]]:
        text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        return list(self.kube.list("pods", NS, label_selector=text))

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self._step()
            except Exception:  # the emulator may be resetting between tests
                continue

    def _step(self) -> None:
        deployments = list(self.kube.list("deployments", NS))
        agent_pods_left = False
        for dep in deployments:
            name = dep["metadata"]["name"]
            selector = dep["spec"]["selector"]["matchLabels"]
            pods = self._pods(selector)
            replicas = dep["spec"].get("replicas", 1)
            if replicas == 0:
                first = self._scaled_at.setdefault(name, time.monotonic())
                if time.monotonic() - first >= self.grace:
                    for pod in pods:
                        self.kube.delete("pods", pod["metadata"]["name"], NS, ignore_missing=True)
                    pods = []
            else:
                self._scaled_at.pop(name, None)
                image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
                if not pods:
                    self._start_pod(dep, image)
                available = 0 if image in self.broken_images else replicas
                if (dep.get("status") or {}).get("availableReplicas") != available:
                    dep["status"] = {"replicas": replicas, "readyReplicas": available, "availableReplicas": available}
                    self.kube.replace("deployments", name, dep, NS, subresource="status")
            if "k8s-glue" in [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]] and pods:
                agent_pods_left = True
        ours = [d for d in deployments if d["metadata"]["name"].endswith("-kc-glue")]
        if ours and agent_pods_left:
            self.overlaps.append(ours[0]["metadata"]["name"])

    def _start_pod(self, dep: dict[str, Any], image: str) -> None:
        template = dep["spec"]["template"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"{dep['metadata']['name']}-x{int(time.monotonic() * 1000) % 100000}",
                         "labels": dict(template["metadata"]["labels"])},
            "spec": dict(template["spec"]),
        }
        self.kube.create("pods", pod, NS)
        del image
