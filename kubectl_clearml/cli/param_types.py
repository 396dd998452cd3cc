"""click parameter types for values that must be finite: ``nan`` passes click's FloatRange (every
comparison with nan is false) and then broke sleeps and timeouts as an internal error (exit 70)."""

from __future__ import annotations

import math
from typing import Any

import click


class Seconds(click.FloatRange):
    """A finite number of seconds of at least ``min``: ``nan`` and ``inf`` are usage errors (exit 2)."""

    name = "seconds"

    def __init__(self, min: float | None = None, max: float | None = None) -> None:
        super().__init__(min=min, max=max)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return number
