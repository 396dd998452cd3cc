"""Lease-based leader election in the namespace, for several glue replicas: only the holder dispatches.

A ``coordination.k8s.io/v1`` Lease named after the agent label; updates carry the resourceVersion,
so two candidates racing for an expired lease cannot both win (the loser gets 409 Conflict).

Timing, as client-go's leaderelection (LeaseDuration 15 s, RenewDeadline 10 s, RetryPeriod 2 s):
the holder renews every ``duration / 7.5`` and may act only while its last successful renewal was
*sent* less than ``renew_deadline`` (2/3 of the duration) ago, by its own monotonic clock. A standby
takes over only after a whole ``duration`` without seeing the record change. So a holder that cannot
renew, or that was frozen (SIGSTOP, a long pause of its VM), stops acting at least a third of the
duration before anyone else may start; ``valid()`` is asked before every claim (fencing), so a
holder that wakes up mid-round stops before its next one.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import Any

from kubectl_clearml.core import glue_policy as policy
from kubectl_clearml.errors import AuthError, ConflictError, KubectlClearmlError, NotFoundError
from kubectl_clearml.glue.clock import Clock, micro_time

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
        self.renew_deadline = duration * 2 / 3
        self.retry_period = duration / 7.5
        self.leading = False
        self._last_renew = -1e18  # monotonic time our last successful renew was sent
        self._next_try = 0.0
        self._observed: tuple[str, ...] | None = None  # the lease record as we last saw it change ...
        self._observed_at = 0.0  # ... and when, by our monotonic clock (client-go's observedTime)

    def valid(self) -> bool:
        """May we act as the leader now? Only within ``renew_deadline`` of our last successful renewal."""
        return self.leading and self.clock.monotonic() - self._last_renew < self.renew_deadline

    def ensure(self) -> bool:
        """Acquire or renew when due (every retry period); True while we hold the lease and it is valid."""
        now = self.clock.monotonic()
        if now < self._next_try:
            return self.valid()
        self._next_try = now + self.retry_period
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
            LOG.warning("lease %s: %s%s", self.name, exc.one_line(), "" if self.valid() else "; standing down")
            self.leading = self.valid()
        return self.valid()

    def _try(self) -> bool:
        wall = self.clock.wall()  # written into the record for people to read; never compared
        now = self.clock.monotonic()
        try:
            lease = self.kube.get("leases", self.name, self.namespace)
        except NotFoundError:
            lease = None
        spec = (lease or {}).get("spec") or {}
        record = policy.lease_record(spec)
        if record != self._observed:
            self._observed, self._observed_at = record, now
        decision = policy.decide_lease(spec, self.identity, now, self._observed_at)
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
        self._observed, self._observed_at = policy.lease_record(new_spec), now
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
