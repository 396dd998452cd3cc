"""Run the Kubernetes API emulator alone: ``python -m kubectl_clearml.sandbox.kube [--port 6443]``."""

from __future__ import annotations

import argparse
import threading

from kubectl_clearml.sandbox.kube.server import KubeEmulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--write-kubeconfig", metavar="PATH", help="write a kubeconfig for this server")
    parser.add_argument("--namespace", default="default", help="the kubeconfig context's namespace")
    parser.add_argument("--strict-namespaces", action=argparse.BooleanOptionalAction, default=True,
                        help="refuse creates in namespaces that do not exist (404), as a real cluster does "
                             "(the default; --no-strict-namespaces accepts them)")
    args = parser.parse_args(argv)
    emulator = KubeEmulator(args.host, args.port, strict_namespaces=args.strict_namespaces).start()
    print(f"Kubernetes API emulator on {emulator.url}", flush=True)
    if args.write_kubeconfig:
        path = emulator.write_kubeconfig(args.write_kubeconfig, namespace=args.namespace)
        print(f"export KUBECONFIG={path}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
