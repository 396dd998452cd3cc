"""Fixtures for the Kubernetes API emulator.

``kube_server`` (session): one running emulator. ``kube`` (function): the same emulator reset to a fresh
cluster (objects, logs, deny rules, faults and request log), restarted if a test stopped it.
``kubeconfig`` (function): a kubeconfig file for ``kube`` in the test's temporary directory.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubectl_clearml.sandbox.kube import KubeEmulator


@pytest.fixture(scope="session")
def kube_server() -> Iterator[KubeEmulator]:
    emulator = KubeEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def kube(kube_server: KubeEmulator) -> Iterator[KubeEmulator]:
    if not kube_server.running:
        kube_server.start()
    kube_server.reset()
    yield kube_server
    if not kube_server.running:
        kube_server.start()
    kube_server.clear_faults()


@pytest.fixture
def kubeconfig(kube: KubeEmulator, tmp_path: object) -> str:
    import pathlib

    assert isinstance(tmp_path, pathlib.Path)
    return kube.write_kubeconfig(tmp_path / "kubeconfig", namespace="default", context="sandbox")
