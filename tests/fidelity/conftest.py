"""The fidelity suite: the real clients (kubectl, the typed kubernetes client, the clearml SDK) against the
emulators, one test per item of issue 13. Each test fails on an emulator that lacks the behaviour."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubectl_clearml.sandbox.kube import KubeEmulator

Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def kubectl(kube: KubeEmulator, tmp_path: Path) -> Kubectl:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    config = kube.write_kubeconfig(tmp_path / "kubeconfig")
    env = {**os.environ, "KUBECONFIG": config, "HOME": str(tmp_path)}

    def run(*args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", *args], capture_output=True, text=True, env=env, input=stdin,
                              timeout=timeout)

    return run


def manifest(obj: dict[str, Any]) -> str:
    return json.dumps(obj)
