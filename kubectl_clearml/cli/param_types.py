"""click parameter types that refuse bad input up front (exit 2): seconds that must be finite (``nan``
passes click's FloatRange, every comparison with nan being false, and then broke sleeps and timeouts as an
internal error, exit 70), and names Kubernetes or Helm have rules for (namespace, release)."""

from __future__ import annotations

import math
from collections.abc import Callable
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


class CheckedName(click.ParamType):  # type: ignore[type-arg]  # generic in click >= 8.2 only
    """A name Kubernetes or Helm has rules for (core.names): refused up front, before it reaches a request
    path or a label selector."""

    def __init__(self, what: str, problem: Callable[[str], str | None]) -> None:
        self.name = what
        self.problem = problem

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        why = self.problem(str(value))
        if why is not None:
            self.fail(f"{value!r} is not a valid {self.name}: {why}", param, ctx)
        return value


def namespace_type() -> CheckedName:
    from kubectl_clearml.core.names import dns_label_problem

    return CheckedName("namespace", dns_label_problem)


def release_type() -> CheckedName:
    from kubectl_clearml.core.names import release_name_problem

    return CheckedName("release name", release_name_problem)
