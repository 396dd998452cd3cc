"""These tests drive Deployments with their own stand-in controller (controller.py), written before the
sandbox had a Deployment controller; the sandbox's own stays off here so the two never fight over pods."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def world(make_world: Callable[..., Any]) -> Any:
    return make_world(controllers=False)
