"""Pods that run for real: a pod whose image is kubectl-clearml's own starts ``kubectl-clearml ARGS`` here.

So ``glue install`` in the sandbox is not a picture of a Deployment: its pod runs our glue as a local process,
as the image's entrypoint would, with what a kubelet gives a container:
- env: values, ``secretKeyRef``/``configMapKeyRef`` read from the store, the downward API's pod name/namespace;
- volumes: ConfigMaps and Secrets written to files (re-written when they change, as the kubelet syncs them) and
  every argument under a mount path pointed at them (``--template /root/template/template.yaml``);
- the API as the pod's service account: a token of its own, registered with the emulator's authenticator, so
  RBAC applies to exactly what the Role grants. It comes as a kubeconfig: client in-cluster configuration is
  HTTPS-only and the emulator speaks HTTP (the one difference from a cluster, said in the README);
- ``--metrics-port`` moved to a free port (every replica runs on this one machine).
Its output is the pod's log; its exit code ends the pod; a graceful delete sends it SIGTERM.
"""

from __future__ import annotations

import base64
import fnmatch
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubectl_clearml.sandbox.cluster.store import ClusterStore, Obj

GLUE_IMAGES = ("kubectl-clearml:*", "*/kubectl-clearml:*", "kubectl-clearml", "*/kubectl-clearml")
MAX_LOG_LINES = 5000


@dataclass
class _Process:
    popen: subprocess.Popen[bytes]
    root: Path
    lines: list[str] = field(default_factory=list)
    files: dict[Path, bytes] = field(default_factory=dict)
    volumes: list[tuple[dict[str, Any], Path]] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ProcessPods:
    def __init__(
        self,
        store: ClusterStore,
        workdir: Path,
        *,
        api_url: str,
        add_token: Callable[[str, str], None],
        images: tuple[str, ...] = GLUE_IMAGES,
        poke: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.workdir = workdir
        self.api_url = api_url
        self.add_token = add_token  # (token, user): the emulator authenticates the pod's requests as its SA
        self.images = images
        self.poke = poke
        self._running: dict[str, _Process] = {}
        self._lock = threading.Lock()

    def claims(self, pod: Obj) -> bool:
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        image = str(containers[0].get("image") or "")
        return any(fnmatch.fnmatchcase(image, p) for p in self.images)

    # ---- start -----------------------------------------------------------------------------------------
    def start(self, key: str, pod: Obj) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        namespace = str(meta.get("namespace") or "default")
        container = (spec.get("containers") or [{}])[0]
        root = self.workdir / "pods" / f"{namespace}_{meta['name']}"
        shutil.rmtree(root, ignore_errors=True)
        (root / "home").mkdir(parents=True)
        process = _Process(popen=None, root=root)  # type: ignore[arg-type]
        mounts = self._mount(pod, container, process)
        args = [self._remap(str(a), mounts) for a in container.get("args") or []]
        if "--metrics-port" in args:
            args[args.index("--metrics-port") + 1] = str(_free_port())
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(root / "home"), "HOSTNAME": str(meta["name"]),
               "KUBECONFIG": str(self._kubeconfig(root, namespace, str(spec.get("serviceAccountName") or "default")))}
        env.update(self._env(pod, container, namespace))
        argv = [sys.executable, "-m", "kubectl_clearml", *args]
        log = open(root / "output.log", "wb")  # noqa: SIM115 - handed to the child, closed on exit
        process.popen = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
                                         start_new_session=True)
        log.close()
        with self._lock:
            self._running[key] = process
        threading.Thread(target=self._wait, args=(key, process), daemon=True).start()

    def _kubeconfig(self, root: Path, namespace: str, account: str) -> Path:
        token = secrets.token_hex(16)
        self.add_token(token, f"system:serviceaccount:{namespace}:{account}")
        path = root / "kubeconfig"
        path.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: pod\n"
            f"clusters: [{{name: c, cluster: {{server: '{self.api_url}'}}}}]\n"
            f"users: [{{name: sa, user: {{token: '{token}'}}}}]\n"
            f"contexts: [{{name: pod, context: {{cluster: c, user: sa, namespace: '{namespace}'}}}}]\n"
        )
        return path

    def _source(self, kind: str, namespace: str, name: str) -> dict[str, str]:
        obj = next((o for o in self.store.list(kind) if o["metadata"].get("name") == name
                    and o["metadata"].get("namespace") == namespace), {})
        if kind == "secrets":
            return {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
        return {str(k): str(v) for k, v in (obj.get("data") or {}).items()}

    def _env(self, pod: Obj, container: Obj, namespace: str) -> dict[str, str]:
        env: dict[str, str] = {}
        for entry in container.get("env") or []:
            name, source = str(entry.get("name")), entry.get("valueFrom") or {}
            if "value" in entry:
                env[name] = str(entry.get("value") or "")
            elif "secretKeyRef" in source or "configMapKeyRef" in source:
                ref = source.get("secretKeyRef") or source.get("configMapKeyRef") or {}
                kind = "secrets" if "secretKeyRef" in source else "configmaps"
                value = self._source(kind, namespace, str(ref.get("name"))).get(str(ref.get("key")))
                if value is not None:
                    env[name] = value
            elif "fieldRef" in source:
                path = str(source["fieldRef"].get("fieldPath"))
                env[name] = str((pod["metadata"]).get(path.split(".", 1)[-1], ""))
        return env

    def _mount(self, pod: Obj, container: Obj, process: _Process) -> list[tuple[str, Path]]:
        volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []}
        mounts: list[tuple[str, Path]] = []
        for mount in container.get("volumeMounts") or []:
            volume = volumes.get(mount.get("name")) or {}
            if not ("configMap" in volume or "secret" in volume):
                continue  # an emptyDir (/tmp) is the process's own file system here
            target = process.root / "volumes" / str(mount.get("name"))
            process.volumes.append((volume, target))
            mounts.append((str(mount.get("mountPath")).rstrip("/"), target))
        self._sync_volumes(str(pod["metadata"].get("namespace") or "default"), process)
        return mounts

    def _sync_volumes(self, namespace: str, process: _Process) -> None:
        for volume, target in process.volumes:
            kind, ref = ("configmaps", volume["configMap"]) if "configMap" in volume else ("secrets", volume["secret"])
            name = ref.get("name") or ref.get("secretName")
            target.mkdir(parents=True, exist_ok=True)
            for key, text in self._source(kind, namespace, str(name)).items():
                path, data = target / key, text.encode()
                if process.files.get(path) != data:
                    tmp = path.with_suffix(".tmp")
                    tmp.write_bytes(data)
                    tmp.replace(path)  # atomic, as the kubelet's symlink swap is
                    process.files[path] = data

    @staticmethod
    def _remap(arg: str, mounts: list[tuple[str, Path]]) -> str:
        for mount_path, target in mounts:
            if arg == mount_path or arg.startswith(mount_path + "/"):
                return str(target) + arg[len(mount_path):]
        return arg

    # ---- running ---------------------------------------------------------------------------------------
    def _wait(self, key: str, process: _Process) -> None:
        process.popen.wait()
        self.poke()

    def sync(self, key: str, pod: Obj) -> None:
        """Keep mounted ConfigMaps and Secrets current (the kubelet re-syncs them)."""
        process = self._running.get(key)
        if process is not None:
            self._sync_volumes(str(pod["metadata"].get("namespace") or "default"), process)

    def exit_code(self, key: str) -> int | None:
        process = self._running.get(key)
        return None if process is None else process.popen.poll()

    def log(self, key: str) -> list[str]:
        process = self._running.get(key)
        if process is None:
            return []
        try:
            text = (process.root / "output.log").read_text(errors="replace")
        except OSError:
            return []
        return text.splitlines()[-MAX_LOG_LINES:]

    def terminate(self, key: str, grace: float = 30.0) -> None:
        """SIGTERM now, SIGKILL after ``grace`` real seconds if it is still running (the kubelet's way)."""
        process = self._running.get(key)
        if process is None or process.popen.poll() is not None:
            return
        os.killpg(process.popen.pid, signal.SIGTERM)

        def kill_late() -> None:
            try:
                process.popen.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(process.popen.pid, signal.SIGKILL)

        threading.Thread(target=kill_late, daemon=True).start()

    def forget(self, key: str) -> None:
        with self._lock:
            process = self._running.pop(key, None)
        if process is not None and process.popen.poll() is None:
            os.killpg(process.popen.pid, signal.SIGKILL)
            process.popen.wait(5)

    def stop_all(self) -> None:
        for key in list(self._running):
            self.terminate(key)
        for key in list(self._running):
            process = self._running.get(key)
            if process is not None:
                try:
                    process.popen.wait(10)
                except subprocess.TimeoutExpired:
                    pass
            self.forget(key)
