"""Failover of the in-cluster glue (glue install --replicas 2) on the sandbox: how long from deleting the
leader's pod (graceful: SIGTERM, the leader releases its Lease) until the other replica holds the Lease,
and the same for a SIGKILLed leader (no release: the Lease must expire, 15 s).

    python bench/failover.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kubectl_clearml.core.podbuilder import agent_label
from kubectl_clearml.sandbox.runner import Sandbox, SandboxOptions

NS = "clearml"
OURS = "clearml-agent-kc-glue"


def wait(probe, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit("timed out")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sandbox = Sandbox(SandboxOptions(time_scale=50.0), Path(tempfile.mkdtemp())).start()
    env = {**os.environ, **sandbox.env, "HOME": tempfile.mkdtemp()}
    try:
        install = [sys.executable, "-m", "kubectl_clearml", "glue", "install", "-n", NS, "--replicas", "2"]
        subprocess.run(install, env=env, check=True, capture_output=True)
        store = sandbox.kube.store
        lease = f"clearml-glue-{agent_label('clearml-agent')}"

        def holder() -> str | None:
            return ((store.get("leases", lease, NS) or {}).get("spec") or {}).get("holderIdentity")

        def running() -> list[str]:
            return [p["metadata"]["name"] for p in store.list("pods", NS)
                    if p["metadata"]["name"].startswith(OURS) and (p.get("status") or {}).get("phase") == "Running"
                    and not p["metadata"].get("deletionTimestamp")]

        for mode in ("graceful delete", "SIGKILL"):
            times = []
            for _ in range(args.rounds):
                wait(lambda: len(running()) == 2)
                first = wait(holder)
                pod = next(n for n in running() if first.startswith(n))
                start = time.monotonic()
                if mode == "SIGKILL":
                    processes = sandbox.cluster.processes  # type: ignore[union-attr]
                    key = str(store.get("pods", pod, NS)["metadata"]["uid"])
                    os.killpg(processes._running[key].popen.pid, signal.SIGKILL)
                else:
                    subprocess.run(["kubectl", "delete", "pod", pod, "-n", NS, "--wait=false"], env=env,
                                   check=True, capture_output=True)
                wait(lambda old=first: (h := holder()) is not None and h != old)
                times.append(time.monotonic() - start)
                if mode == "SIGKILL":
                    subprocess.run(["kubectl", "delete", "pod", pod, "-n", NS, "--wait=false"], env=env,
                                   capture_output=True)
            print(f"failover after {mode:15}  median {statistics.median(times):5.1f} s  max {max(times):5.1f} s  "
                  f"({args.rounds} rounds; lease 15 s, renewed every 5 s)")
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
