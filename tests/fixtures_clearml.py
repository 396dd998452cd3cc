"""Fixtures for the ClearML API emulator.

``clearml_server`` (session) is one running emulator; ``clearml`` (function) is the same server with
fresh data (only the ``default`` queue), no faults, an empty request log and the real clock.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubectl_clearml.sandbox.clearml import ClearmlEmulator

SANDBOX_ACCESS_KEY = "SANDBOXACCESSKEY01"
SANDBOX_SECRET_KEY = "sandbox-secret-7f3c9a1e5b2d4c6f8a0e"


@pytest.fixture(scope="session")
def clearml_server() -> Iterator[ClearmlEmulator]:
    emulator = ClearmlEmulator(credentials={SANDBOX_ACCESS_KEY: SANDBOX_SECRET_KEY})
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def clearml(clearml_server: ClearmlEmulator) -> Iterator[ClearmlEmulator]:
    clearml_server.reset()
    if not clearml_server.running:  # a previous test stopped it
        clearml_server.start()
    yield clearml_server
    clearml_server.clear_faults()
    if not clearml_server.running:
        clearml_server.start()
