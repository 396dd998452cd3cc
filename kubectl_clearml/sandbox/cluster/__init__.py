"""The simulated cluster: a scheduler and a kubelet acting on the Kubernetes emulator's store."""

from kubectl_clearml.sandbox.cluster.emulator_store import EmulatorStore
from kubectl_clearml.sandbox.cluster.in_pod_agent import InPodAgent
from kubectl_clearml.sandbox.cluster.loop import Cluster
from kubectl_clearml.sandbox.cluster.workload import KubeletSettings

__all__ = ["Cluster", "EmulatorStore", "InPodAgent", "KubeletSettings"]
