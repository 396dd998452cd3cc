"""Run the ClearML API emulator alone: ``python -m kubectl_clearml.sandbox.clearml [--port 8008]``."""

from __future__ import annotations

import argparse
import threading

from kubectl_clearml.sandbox.clearml.emulator import ClearmlEmulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--write-conf", metavar="PATH", help="write a clearml.conf for this server")
    args = parser.parse_args(argv)
    emulator = ClearmlEmulator(host=args.host, port=args.port).start()
    print(f"ClearML API emulator on {emulator.url} (access key {emulator.access_key})", flush=True)
    if args.write_conf:
        print(f"export CLEARML_CONFIG_FILE={emulator.write_clearml_conf(args.write_conf)}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
