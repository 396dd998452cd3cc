"""Kubernetes Event objects as the scheduler and kubelet record them (``kubectl describe pod`` shows these)."""

from __future__ import annotations

import itertools
import os
from typing import Any

from kubectl_clearml.sandbox.cluster.clock import utc_timestamp

_serial = itertools.count(1)


def pod_event(
    pod: dict[str, Any],
    reason: str,
    message: str,
    *,
    component: str,
    warning: bool = False,
    host: str | None = None,
) -> dict[str, Any]:
    meta = pod.get("metadata", {})
    name = meta.get("name", "")
    now = utc_timestamp()
    # Real event names are "<object>.<hex>"; the hex only has to be unique.
    suffix = f"{os.getpid():x}{next(_serial):08x}"
    source: dict[str, str] = {"component": component}
    if host:
        source["host"] = host
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{suffix}", "namespace": meta.get("namespace", "default")},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": meta.get("namespace", "default"),
            "name": name,
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "reason": reason,
        "message": message,
        "type": "Warning" if warning else "Normal",
        "source": source,
        "reportingComponent": component,
        "reportingInstance": host or "",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
