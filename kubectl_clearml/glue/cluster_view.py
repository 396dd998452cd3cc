"""The live cluster the fit check decides on: nodes and pods (every namespace), kept current by two watches.

One list each at start, then watch streams read in background threads; a 410 Gone relists, other errors
back off. The dispatcher asks ``model()`` once per round (core/fit.cluster_model: no API call) and tells
the view about each pod it creates, so a pod the watch has not reported yet is still counted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kubectl_clearml.core import fit
from kubectl_clearml.core.gpu import ClusterGpus
from kubectl_clearml.core.scheduling import is_terminal
from kubectl_clearml.errors import KubectlClearmlError

LOG = logging.getLogger("kubectl_clearml.glue.cluster")


def _key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


class WatchedObjects:
    """A resource's objects by namespace/name, from one list and then one watch."""

    def __init__(
        self,
        kube: Any,
        resource: str,
        *,
        keep: Callable[[dict[str, Any]], bool] = lambda _obj: True,
        watch_timeout: int = 30,
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        self.kube = kube
        self.resource = resource
        self.keep = keep
        self.watch_timeout = watch_timeout
        self._objects: dict[str, dict[str, Any]] = {}
        self._version = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._thread: threading.Thread | None = None
        self.generation = 0  # bumped on every change the watch applies

    def load(self) -> None:
        items, version = self.kube.list_with_version(self.resource, all_namespaces=True)
        with self._lock:
            self._objects = {_key(o): o for o in items if self.keep(o)}
            self._version = version
            self.generation += 1

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"glue-{self.resource}-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def put(self, obj: dict[str, Any]) -> None:
        """An object we just created: counted until the watch brings the server's version."""
        with self._lock:
            self._objects.setdefault(_key(obj), obj)
            self.generation += 1

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._objects.values())

    def _apply(self, kind: str, obj: dict[str, Any]) -> None:
        with self._lock:
            if kind == "DELETED" or not self.keep(obj):
                self._objects.pop(_key(obj), None)
            else:
                self._objects[_key(obj)] = obj
            self.generation += 1

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                for event in self.kube.watch(
                    self.resource,
                    all_namespaces=True,
                    resource_version=self._version or None,
                    timeout_seconds=self.watch_timeout,
                ):
                    if self._stop.is_set():
                        return
                    kind, obj = str(event.get("type")), event.get("object") or {}
                    if kind == "ERROR":
                        self.load()  # 410 Gone: our version is too old
                        break
                    version = (obj.get("metadata") or {}).get("resourceVersion")
                    if version:
                        self._version = str(version)
                    if kind != "BOOKMARK":
                        self._apply(kind, obj)
                failures = 0
            except KubectlClearmlError as exc:
                failures += 1
                LOG.info("%s watch: %s (retrying)", self.resource, exc.one_line())
                if self._sleep(min(30.0, 0.5 * 2 ** min(failures, 6))):
                    return


def _live_pod(pod: dict[str, Any]) -> bool:
    return not is_terminal(pod)


class ClusterView:
    def __init__(self, kube: Any, *, watch_timeout: int = 30) -> None:
        self.nodes = WatchedObjects(kube, "nodes", watch_timeout=watch_timeout)
        self.pods = WatchedObjects(kube, "pods", keep=_live_pod, watch_timeout=watch_timeout)

    def load(self) -> None:
        self.nodes.load()
        self.pods.load()

    def start_watch(self) -> None:
        self.nodes.start()
        self.pods.start()

    def stop(self) -> None:
        self.nodes.stop()
        self.pods.stop()

    def note_created(self, pod: dict[str, Any], namespace: str) -> None:
        meta = pod.get("metadata") or {}
        self.pods.put({**pod, "metadata": {**meta, "namespace": meta.get("namespace") or namespace}})

    def node_names(self) -> list[str]:
        return [str((n.get("metadata") or {}).get("name")) for n in self.nodes.snapshot()]

    def model(self) -> ClusterGpus:
        return fit.cluster_model(self.nodes.snapshot(), self.pods.snapshot())
