"""`shm-fix --live --apply` beside a real `kubectl patch` loop on the same ConfigMap (a GitOps controller,
a colleague): every run succeeds, re-planning on each 409, and neither side's change is lost (issue 21
item 13). Before: a 409 was retried once, then exit 5 (5 of 6 runs beside a loop at ~4 edits/s)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading

import yaml

from kubectl_clearml.adapters.live_patch import history
from kubectl_clearml.core.shm import current_provision
from tests.helpers import run_cli

NS = "clearml"
CM = "clearml-agent-pt"


def test_fixes_beside_a_kubectl_patch_loop_all_land_and_clobber_nothing(world):
    kubectl = shutil.which("kubectl")
    assert kubectl, "the real kubectl is the concurrent writer"
    env = {**os.environ, **world.env}
    stop = threading.Event()
    written: list[int] = []

    def touch_loop() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            patch = json.dumps({"metadata": {"labels": {"touched": str(n)}}})
            done = subprocess.run([kubectl, "-n", NS, "patch", "configmap", CM, "--type", "merge", "-p", patch],
                                  env=env, capture_output=True, text=True, timeout=30)
            if done.returncode == 0:
                written.append(n)

    writer = threading.Thread(target=touch_loop, daemon=True)
    writer.start()
    try:
        results = [run_cli(["shm-fix", "2xGPU", "--size", size, "--live", "--apply", "-n", NS], env=world.env,
                           home=str(world.kubeconfig.parent)) for size in ("4Gi", "16Gi")]
    finally:
        stop.set()
        writer.join(timeout=60)
    for result in results:
        assert result.exit_code == 0, result.stderr
    cm = world.kube.store.get("configmaps", CM, NS)
    assert written and cm["metadata"]["labels"]["touched"] == str(written[-1])  # the loop's last edit kept
    assert current_provision(yaml.safe_load(cm["data"]["template.yaml"])["2xGPU"]).size_limit == "16Gi"
    assert len(history(cm)) == 2  # each fix is a step --rollback can undo
