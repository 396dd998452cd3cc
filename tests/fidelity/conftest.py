"""The fidelity suite: the real clients (kubectl, the typed kubernetes client, the clearml SDK) against the
emulators, one test per item of issue 13. Each test fails on an emulator that lacks the behaviour."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubectl_clearml.sandbox.kube import KubeEmulator

Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


def kubectl_runner(kubeconfig: str, home: Path, *first: str) -> Kubectl:
    """Run the real kubectl against ``kubeconfig`` (``first``: arguments before each command's own)."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    env = {**os.environ, "KUBECONFIG": kubeconfig, "HOME": str(home)}

    def run(*args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", *first, *args], capture_output=True, text=True, env=env, input=stdin,
                              timeout=timeout)

    return run


@pytest.fixture
def kubectl(kube: KubeEmulator, tmp_path: Path) -> Kubectl:
    return kubectl_runner(kube.write_kubeconfig(tmp_path / "kubeconfig"), tmp_path)


def until(what: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll ``what`` until it is truthy or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def manifest(obj: dict[str, Any]) -> str:
    return json.dumps(obj)
