"""The glue tests' shared fixture: a harness over both emulators, in a namespace of its own."""

from __future__ import annotations

import pytest

from tests.glue.glue_harness import Harness


@pytest.fixture
def h(clearml, kube, tmp_path):
    harness = Harness(clearml, kube, tmp_path)
    kube.store.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": harness.namespace}})
    yield harness
    harness.stop_all()
