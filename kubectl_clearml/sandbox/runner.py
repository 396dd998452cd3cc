"""Start everything the sandbox needs, in one object: both emulators, the seeded world and the cluster.

``Sandbox(...).start()`` brings up the ClearML and Kubernetes API emulators on 127.0.0.1, seeds the demo
world, starts the simulated scheduler and kubelet, and writes a kubeconfig and a clearml.conf into a
temporary directory; ``env`` is what a client process needs to use them. ``stop()`` undoes it all.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubectl_clearml.core.queues import pod_status_reason
from kubectl_clearml.sandbox import seeds
from kubectl_clearml.sandbox.clearml import ClearmlEmulator
from kubectl_clearml.sandbox.cluster.emulator_store import EmulatorStore
from kubectl_clearml.sandbox.cluster.in_pod_agent import InPodAgent
from kubectl_clearml.sandbox.cluster.loop import Cluster
from kubectl_clearml.sandbox.cluster.processes import ProcessPods
from kubectl_clearml.sandbox.cluster.workload import DEFAULT_FAILING_IMAGES, KubeletSettings
from kubectl_clearml.sandbox.kube import KubeEmulator
from kubectl_clearml.sandbox.world import World, seed_world

KUBE_CONTEXT = "sandbox"
# Environment variables that would beat CLEARML_CONFIG_FILE in a client: unset them for sandbox clients.
CLEARML_ENV_OVERRIDES = (
    "CLEARML_API_HOST",
    "CLEARML_API_ACCESS_KEY",
    "CLEARML_API_SECRET_KEY",
    "CLEARML_WEB_HOST",
    "CLEARML_FILES_HOST",
    "TRAINS_API_HOST",
    "TRAINS_API_ACCESS_KEY",
    "TRAINS_API_SECRET_KEY",
    "TRAINS_CONFIG_FILE",
)


@dataclass
class SandboxOptions:
    flavour: str = "enterprise"  # or "oss"
    time_scale: float = 1.0  # simulated seconds per real second
    port_kube: int = 0  # 0: any free port
    port_clearml: int = 0
    seed: bool = True
    failing_images: tuple[str, ...] = DEFAULT_FAILING_IMAGES
    kubelet: dict[str, Any] = field(default_factory=dict)  # other KubeletSettings fields
    in_pod_agent: bool = True  # task pods report started/completed/failed to ClearML as clearml_agent does
    troubles: bool = False  # lay the troubleshooting scenario over the world (seeds/troubles.py)
    controllers: bool = True  # Deployment/ReplicaSet controllers and garbage collection (off: states stay as set)

    def kubelet_settings(self) -> KubeletSettings:
        return KubeletSettings(failing_images=self.failing_images, **self.kubelet)


class Sandbox:
    """Pass running ``clearml``/``kube`` emulators to reuse them (the test fixtures' session servers):
    they are then seeded but neither started nor stopped here."""

    def __init__(
        self,
        options: SandboxOptions | None = None,
        workdir: str | Path | None = None,
        *,
        clearml: ClearmlEmulator | None = None,
        kube: KubeEmulator | None = None,
    ) -> None:
        self.options = options or SandboxOptions()
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else None
        self._own_clearml = clearml is None
        self._own_kube = kube is None
        self.clearml = clearml or ClearmlEmulator(port=self.options.port_clearml)
        self.kube = kube or KubeEmulator(port=self.options.port_kube)
        self.cluster: Cluster | None = None
        self.store: EmulatorStore | None = None
        self.world: World | None = None
        self.kubeconfig: Path | None = None
        self.clearml_conf: Path | None = None
        self.values_file: Path | None = None

    # ---- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        try:
            if self._own_clearml:
                self.clearml.start()
            if self._own_kube:
                self.kube.start()
            if self.workdir is None:
                self.workdir = Path(tempfile.mkdtemp(prefix="kubectl-clearml-sandbox-"))
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.kubeconfig = Path(
                self.kube.write_kubeconfig(self.workdir / "kubeconfig", namespace=seeds.NAMESPACE, context=KUBE_CONTEXT)
            )
            self.clearml_conf = self.clearml.write_clearml_conf(self.workdir / "clearml.conf")
            store = self.store = EmulatorStore(self.kube.store)
            if self.options.seed:
                self.world = seed_world(store, self.clearml.state, self.endpoint, flavour=self.options.flavour,
                                        troubles=self.options.troubles)
                # The agent's user values, for commands that take `-f values.yaml` (run-glue, shm-fix, ...).
                self.values_file = self.workdir / "values.yaml"
                self.values_file.write_text(yaml.safe_dump(self.world.install.values, sort_keys=False))
            hooks = InPodAgent(self.clearml.state) if self.options.in_pod_agent else None
            self.kube.api.graceful_pods = True  # this cluster's kubelet finishes graceful pod deletions
            # Pods of kubectl-clearml's own image (glue install) run for real, as their service account.
            processes = ProcessPods(store, self.workdir, api_url=self.kube.url, add_token=self.kube.identities.add)
            self.cluster = Cluster(
                store,
                time_scale=self.options.time_scale,
                settings=self.options.kubelet_settings(),
                hooks=hooks,
                processes=processes,
                controllers=self.options.controllers,
            )
            processes.poke = self.cluster.poke
            self.cluster.start()
            self._settle(store)
        except BaseException:
            self.stop()
            raise
        return self

    def _settle(self, store: EmulatorStore, timeout: float = 5.0) -> None:
        """Until the controllers have taken over the seeded Deployments (the seeded pods adopted, the status
        recomputed): a command run right after start sees the healthy install a cluster would show."""
        if not self.options.controllers:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(_rolled_out(d) for d in store.list("deployments")):
                return
            time.sleep(0.01)

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None
        self.kube.api.graceful_pods = False
        if self._own_kube:
            self.kube.stop()
        if self._own_clearml:
            self.clearml.stop()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- what clients need ---------------------------------------------------------------------------
    @property
    def endpoint(self) -> seeds.Endpoint:
        url = self.clearml.url
        return seeds.Endpoint(url, self.clearml.access_key, self.clearml.secret_key, web_host=url, files_host=url)

    @property
    def env(self) -> dict[str, str]:
        """KUBECONFIG and CLEARML_CONFIG_FILE pointing at the sandbox."""
        if self.kubeconfig is None or self.clearml_conf is None:
            raise RuntimeError("the sandbox is not started")
        return {"KUBECONFIG": str(self.kubeconfig), "CLEARML_CONFIG_FILE": str(self.clearml_conf)}

    def client_environment(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` (e.g. os.environ) with the sandbox's files and without variables that would override them."""
        env = {k: v for k, v in base.items() if k not in CLEARML_ENV_OVERRIDES}
        env.update(self.env)
        return env

    def task_pod_rows(self) -> list[list[str]]:
        """One row per ClearML task pod: name, queue, phase and why (for the demo's summary). The queue is
        named as ClearML names it (from the queue-id label): the name label is lower-cased, as the
        reference glue writes it."""
        if self.store is None:
            return []
        names = {qid: name for name, qid in (self.world.queue_ids.items() if self.world else ())}
        rows = []
        for pod in self.store.list("pods"):
            labels = pod["metadata"].get("labels") or {}
            if "clearml-task-id" not in labels:
                continue
            status = pod.get("status") or {}
            reason = pod_status_reason(pod) or "-"  # the REASON `queues show` prints
            queue = names.get(labels.get("clearml-agent-queue", ""), labels.get("clearml-agent-queue-name", "-"))
            rows.append([pod["metadata"]["name"], queue, str(status.get("phase", "-")), reason])
        return rows


def _rolled_out(deployment: dict[str, Any]) -> bool:
    """The controller's own verdict: revision stamped, new ReplicaSet available (what `rollout status` waits on)."""
    conditions = {c.get("type"): c for c in (deployment.get("status") or {}).get("conditions") or ()}
    stamped = "deployment.kubernetes.io/revision" in ((deployment.get("metadata") or {}).get("annotations") or {})
    progressing = (conditions.get("Progressing") or {}).get("reason") == "NewReplicaSetAvailable"
    return stamped and progressing and (conditions.get("Available") or {}).get("status") == "True"
