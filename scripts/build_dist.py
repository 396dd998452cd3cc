#!/usr/bin/env python3
"""Build the krew archive: a zipapp ``kubectl-clearml`` (python3 >= 3.10 is the only requirement) plus the
``kubectl_complete-clearml`` shim, packed as a reproducible ``.tar.gz``; write its uri and sha256 into
``plugins.yaml``.

The zipapp carries pure-Python dependencies only, so one archive serves linux and darwin on amd64 and
arm64: the Kubernetes client is pinned to the last pure-Python generation (35.x; 36+ needs pydantic-core,
a compiled extension), and optional C speed-ups (PyYAML's libyaml binding, ruamel's clib,
charset-normalizer's mypyc build) are left out, since each falls back to its pure-Python code.

Usage: python scripts/build_dist.py [--out dist] [--manifest plugins.yaml] [--base-url URL]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PURE_PINS = ["kubernetes>=35,<36", "charset-normalizer", "PyYAML"]
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib")
DEFAULT_BASE_URL = "https://github.com/kubectl-clearml/kubectl-clearml/releases/download"
COMPLETE_SHIM = """#!/bin/sh
# kubectl (>= 1.26) runs this for `kubectl clearml <TAB>`; put it on your PATH next to kubectl-clearml.
exec kubectl-clearml __complete "$@"
"""


def version() -> str:
    text = (ROOT / "kubectl_clearml" / "__init__.py").read_text()
    match = re.search(r'__version__ = "([^"]+)"', text)
    if not match:
        raise SystemExit("cannot find __version__")
    return match.group(1)


def stage(staging: Path) -> None:
    """pip-install the project and its dependencies into a directory, then strip compiled extensions."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(staging),
         "--no-binary", "charset-normalizer", str(ROOT), *PURE_PINS],
        check=True,
    )
    for path in list(staging.rglob("*")):
        # direct_url.json records the checkout's path (file:///home/...): it would differ per machine.
        if path.is_file() and (path.name.endswith(COMPILED_SUFFIXES) or path.name == "direct_url.json"):
            path.unlink()
        elif path.is_dir() and path.name in ("__pycache__", "bin"):
            shutil.rmtree(path, ignore_errors=True)
    # ruamel.yaml.clib is only an accelerator; without its .so it is an empty shell that would shadow nothing.
    for leftover in staging.glob("ruamel.yaml.clib*"):
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()


ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
ZIPAPP_MAIN = b"# -*- coding: utf-8 -*-\nimport kubectl_clearml.cli.main\nkubectl_clearml.cli.main.main()\n"


def build_zipapp(staging: Path, target: Path) -> None:
    """What ``zipapp.create_archive`` makes, but byte-for-byte reproducible: entries sorted, with a fixed
    time and mode, so a rebuild from the same tag and pins gives the sha256 in plugins.yaml. (zipapp
    stamps each entry with its file's mtime, i.e. the time pip installed it: a new sha256 every build.)"""
    entries: list[tuple[str, bytes | None]] = [("__main__.py", ZIPAPP_MAIN)]
    for path in sorted(staging.rglob("*")):
        name = path.relative_to(staging).as_posix()
        # Directory entries too: zipimport finds namespace packages (ruamel.yaml) only through them.
        entries.append((name + "/", None) if path.is_dir() else (name, path.read_bytes()))
    with open(target, "wb") as out:
        out.write(b"#!/usr/bin/env python3\n")
        with zipfile.ZipFile(out, "w") as archive:
            for name, data in entries:
                info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
                if data is None:
                    info.external_attr = (0o40755 << 16) | 0x10  # a directory (MS-DOS flag too)
                    archive.writestr(info, b"")
                else:
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    archive.writestr(info, data)
    target.chmod(0o755)


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def build_archive(zipapp_path: Path, archive: Path) -> str:
    """A tar.gz with fixed mtimes and owners, so the same inputs give the same sha256."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        _add(tar, "kubectl-clearml", zipapp_path.read_bytes(), 0o755)
        _add(tar, "kubectl_complete-clearml", COMPLETE_SHIM.encode(), 0o755)
        _add(tar, "LICENSE", (ROOT / "LICENSE").read_bytes(), 0o644)
    with open(archive, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return hashlib.sha256(archive.read_bytes()).hexdigest()


def write_manifest(manifest: Path, uri: str, sha256: str, tag: str) -> None:
    text = manifest.read_text()
    text = re.sub(r"(?m)^(\s*version:\s*).*$", rf"\g<1>{tag}", text, count=1)
    text = re.sub(r"(?m)^(\s*uri:\s*).*$", rf"\g<1>{uri}", text)
    text = re.sub(r"(?m)^(\s*sha256:\s*).*$", rf'\g<1>"{sha256}"', text)
    manifest.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "dist"))
    parser.add_argument("--manifest", default=str(ROOT / "plugins.yaml"))
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = "v" + version()
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "staging"
        stage(staging)
        zipapp_path = out / "kubectl-clearml"
        build_zipapp(staging, zipapp_path)
    archive = out / "kubectl-clearml.tar.gz"
    sha256 = build_archive(zipapp_path, archive)
    write_manifest(Path(args.manifest), f"{args.base_url}/{tag}/kubectl-clearml.tar.gz", sha256, tag)
    size_mb = os.path.getsize(archive) / 1e6
    print(f"{archive} {size_mb:.1f} MB sha256 {sha256}")


if __name__ == "__main__":
    main()
