"""The ``world`` fixture: both emulators seeded with the demo world, the simulated cluster running fast.

It reuses the session-scoped servers of the ``clearml`` and ``kube`` fixtures (reset per test), so a test
pays only for seeding (a few ms). ``make_world(...)`` builds variants: the open-source chart
(``flavour="oss"``), an unseeded cluster (``seed=False``: add your own nodes), another clock speed or
other failing-image patterns, ``in_pod_agent=False`` (task pods then never report to ClearML), or other
KubeletSettings fields (``default_run_seconds=...``, ``pull_seconds=...``).

Attributes: ``.env`` (KUBECONFIG + CLEARML_CONFIG_FILE, for run_cli or subprocesses), ``.kube`` /
``.clearml`` (the emulators), ``.cluster`` (the simulated scheduler and kubelet), ``.world`` (what was
seeded: ``queue_ids``/``task_ids`` by name, ``install`` with the agent's objects), ``.store`` (the cluster's
view of the kube store), ``.client()`` (an adapters.kube ``Kube`` for the sandbox, namespace ``clearml``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubectl_clearml.sandbox.runner import Sandbox, SandboxOptions

# 200 simulated seconds per real second: a default 30 s pod life takes 0.15 s.
FAST_TIME_SCALE = 200.0


class WorldHandle:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    @property
    def env(self) -> dict[str, str]:
        return self.sandbox.env

    @property
    def kube(self) -> Any:
        return self.sandbox.kube

    @property
    def clearml(self) -> Any:
        return self.sandbox.clearml

    @property
    def cluster(self) -> Any:
        return self.sandbox.cluster

    @property
    def world(self) -> Any:
        return self.sandbox.world

    @property
    def store(self) -> Any:
        return self.sandbox.store

    @property
    def kubeconfig(self) -> Path:
        assert self.sandbox.kubeconfig is not None
        return self.sandbox.kubeconfig

    def client(self, namespace: str | None = None) -> Any:
        from kubectl_clearml.adapters.kube_connect import connect

        return connect(str(self.kubeconfig), namespace=namespace, env={})


@pytest.fixture
def make_world(
    clearml: Any, kube: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., WorldHandle]]:
    started: list[Sandbox] = []

    def make(
        *,
        flavour: str = "enterprise",
        seed: bool = True,
        time_scale: float = FAST_TIME_SCALE,
        failing_images: tuple[str, ...] | None = None,
        in_pod_agent: bool = True,
        troubles: bool = False,
        controllers: bool = True,
        **kubelet: Any,
    ) -> WorldHandle:
        options = SandboxOptions(
            flavour=flavour, time_scale=time_scale, seed=seed, kubelet=kubelet, in_pod_agent=in_pod_agent,
            troubles=troubles, controllers=controllers,
        )
        if failing_images is not None:
            options.failing_images = failing_images
        sandbox = Sandbox(options, tmp_path_factory.mktemp("world"), clearml=clearml, kube=kube)
        started.append(sandbox)
        return WorldHandle(sandbox.start())

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def world(make_world: Callable[..., WorldHandle]) -> WorldHandle:
    return make_world()


@pytest.fixture
def world_oss(make_world: Callable[..., WorldHandle]) -> WorldHandle:
    return make_world(flavour="oss")
