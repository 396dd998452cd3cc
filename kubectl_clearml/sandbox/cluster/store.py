"""What the simulated cluster needs from the Kubernetes emulator's store, as one small interface.

The scheduler and kubelet talk to the store in-process (as the real ones talk to the API server), through
this protocol only; :class:`EmulatorStore` maps it onto the emulator's backdoor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

Obj = dict[str, Any]
ChangeCallback = Callable[[str, str, Obj], None]  # (event type, resource plural, object)


class ClusterStore(Protocol):
    def list(self, resource: str) -> list[Obj]:
        """Every object of a resource (plural name), across namespaces."""

    def bind_pod(self, namespace: str, name: str, node_name: str) -> None:
        """Set ``spec.nodeName`` (what a Binding does)."""

    def update_pod_status(self, namespace: str, name: str, status: Obj) -> None:
        """Replace the pod's ``status`` (a no-op if the pod is gone)."""

    def create_event(self, event: Obj) -> None: ...

    def set_pod_log(self, namespace: str, name: str, text: str) -> None: ...

    def create(self, resource: str, obj: Obj) -> Obj:
        """Create as a client would (defaults, generateName); returns the stored object."""

    def update(self, resource: str, name: str, namespace: str | None, change: Callable[[Obj], None]) -> Obj | None:
        """Apply ``change`` (which mutates its argument) to the object; None if it is gone."""

    def delete(self, resource: str, name: str, namespace: str | None = None) -> bool: ...

    def subscribe(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call ``callback`` after every change; returns the function that unsubscribes."""
