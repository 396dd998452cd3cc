"""Simulated time for the cluster: a monotonic clock running ``time_scale`` times faster than the wall.

The scheduler and kubelet reason in simulated seconds (a pod "runs for 30 s"); tests run the clock at
hundreds of times real speed so a whole pod life takes milliseconds. Timestamps written into objects stay
real UTC wall time, so ages computed by clients against their own clock are never negative.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone


class SimClock:
    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale}")
        self.time_scale = time_scale
        self._start = time.monotonic()

    def now(self) -> float:
        """Simulated seconds since the clock started."""
        return (time.monotonic() - self._start) * self.time_scale

    def real_seconds(self, simulated: float) -> float:
        """How long to really wait for ``simulated`` seconds to pass."""
        return max(0.0, simulated / self.time_scale)


def utc_timestamp() -> str:
    """RFC 3339 UTC with second precision, as the API server writes timestamps."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
