"""A Kubernetes API emulator: discovery, CRUD, the three patch types, selectors, pagination, watch, logs."""

from kubectl_clearml.sandbox.kube.server import KubeEmulator, RecordedRequest
from kubectl_clearml.sandbox.kube.store import Store

__all__ = ["KubeEmulator", "RecordedRequest", "Store"]
