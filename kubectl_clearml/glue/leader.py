"""Lease-based leader election in the namespace, for several glue replicas: only the holder dispatches.

A ``coordination.k8s.io/v1`` Lease named after the agent label; updates carry the resourceVersion,
so two candidates racing for an expired lease cannot both win (the loser gets 409 Conflict).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import Any

from kubectl_clearml.core import glue_policy as policy
from kubectl_clearml.errors import AuthError, ConflictError, KubectlClearmlError, NotFoundError
from kubectl_clearml.glue.clock import Clock, micro_time, parse_time

LOG = logging.getLogger("kubectl_clearml.glue.leader")


def default_identity() -> str:
    # Per process on purpose: two replicas on one host must differ. The worker id, not this, is stable.
    # In a pod both HOSTNAME and the host name are the pod's name (glue status finds the leading pod by it).
    host = os.environ.get("HOSTNAME") or socket.gethostname()
    return f"{host}-{uuid.uuid4().hex[:6]}"


class LeaderElector:
    def __init__(
        self,
        kube: Any,
        namespace: str,
        name: str,
        clock: Clock,
        *,
        identity: str | None = None,
        duration: float = 15.0,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.clock = clock
        self.identity = identity or default_identity()
        self.duration = duration
        self.leading = False
        self._last_renew = -1e18  # monotonic time of our last successful renew
        self._next_try = 0.0

    def ensure(self) -> bool:
        """Acquire or renew when due (every duration/3); True while we hold the lease."""
        now = self.clock.monotonic()
        if now < self._next_try:
            return self.leading
        self._next_try = now + self.duration / 3
        try:
            self.leading = self._try()
            if self.leading:
                self._last_renew = now
        except AuthError:
            # RBAC on leases is missing: waiting cannot fix it, and a standby that never says why looks
            # like a healthy replica. Stop with the error (exit 4), as every other forbidden step does.
            raise
        except KubectlClearmlError as exc:
            # Cannot reach the API: keep leading only while our last renewal is surely still valid.
            still_valid = now - self._last_renew < self.duration * 2 / 3
            LOG.warning("lease %s: %s%s", self.name, exc.one_line(), "" if still_valid else "; standing down")
            self.leading = self.leading and still_valid
        return self.leading

    def _try(self) -> bool:
        wall = self.clock.wall()
        try:
            lease = self.kube.get("leases", self.name, self.namespace)
        except NotFoundError:
            lease = None
        spec = (lease or {}).get("spec") or {}
        decision = policy.decide_lease(spec, self.identity, wall, parse_time(spec.get("renewTime")))
        if not decision.acquire:
            return False
        new_spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.duration),
            "renewTime": micro_time(wall),
            "acquireTime": spec.get("acquireTime") if spec.get("holderIdentity") == self.identity else micro_time(wall),
            "leaseTransitions": decision.transitions,
        }
        try:
            if lease is None:
                body = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": new_spec,
                }
                self.kube.create("leases", body, self.namespace)
            else:
                body = dict(lease)
                body["spec"] = new_spec
                self.kube.replace("leases", self.name, body, self.namespace)
        except ConflictError:
            return False
        if not self.leading:
            LOG.warning("lease %s acquired by %s", self.name, self.identity)
        return True

    def release(self) -> None:
        """Give the lease up on a clean exit so a standby replica takes over at once."""
        if not self.leading:
            return
        self.leading = False
        try:
            lease = self.kube.get("leases", self.name, self.namespace)
            if (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            lease["spec"]["holderIdentity"] = ""
            self.kube.replace("leases", self.name, lease, self.namespace)
        except KubectlClearmlError as exc:
            LOG.info("lease %s not released (%s); it expires by itself", self.name, exc.one_line())
