"""Shared by the issue-15 tests."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def ctrl_c_on_second_sleep(monkeypatch):
    """A --watch loop sleeps between refreshes: the second sleep is the user's Ctrl-C. Returns the sleeps."""
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", sleep)
    return sleeps
