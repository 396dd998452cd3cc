"""One seeded demo world for the whole fuzz module: the commands under test only read, so the per-test reset
of the ``world`` fixture (a few hundred ms each over ~60 cases) would buy nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kubectl_clearml.sandbox.runner import Sandbox, SandboxOptions
from tests.fixtures_world import FAST_TIME_SCALE, WorldHandle


@pytest.fixture(scope="module")
def read_only_world(clearml_server: Any, kube_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorldHandle]:
    for server in (clearml_server, kube_server):
        if not server.running:
            server.start()
        server.reset()
    sandbox = Sandbox(
        SandboxOptions(flavour="enterprise", time_scale=FAST_TIME_SCALE),
        tmp_path_factory.mktemp("world"),
        clearml=clearml_server,
        kube=kube_server,
    )
    yield WorldHandle(sandbox.start())
    sandbox.stop()
