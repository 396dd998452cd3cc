#!/usr/bin/env python3
"""Build the krew archive: a zipapp ``kubectl-clearml`` (python3 >= 3.10 is the only requirement) plus the
``kubectl_complete-clearml`` shim, packed as a reproducible ``.tar.gz``; write its uri and sha256 into
``plugins.yaml``.

The zipapp carries pure-Python dependencies only, so one archive serves linux and darwin on amd64 and
arm64: the Kubernetes client is pinned to the last pure-Python generation (35.x; 36+ needs pydantic-core,
a compiled extension), and optional C speed-ups (PyYAML's libyaml binding) are left out, since each falls
back to its pure-Python code. Every dependency is pinned in scripts/dist-requirements.txt and no build
backend runs, so the same tree gives the same sha256 on any machine.

On its first run the archive unpacks itself into ~/.cache/kubectl-clearml/<build> (scripts/zipapp_main.py):
importing from the zip recompiled every module on every run (the Kubernetes client: ~2 s); from plain
files Python keeps their bytecode, so later runs start as fast as a pip install.

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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PINS = ROOT / "scripts" / "dist-requirements.txt"  # every bundled dependency, pinned exactly
FLOOR_PYTHON = "3.10"  # the archive's requirement: pins are resolved for it
NOT_PURE = {"pyyaml": "manylinux2014_x86_64"}  # no pure wheel: this one wheel on every builder, .so dropped
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib")
# pip's per-install records: WHEEL names the builder's platform tag, RECORD hashes, INSTALLER/REQUESTED
# say how pip was run, direct_url.json holds a local path. METADATA (click reads versions
# from it) and licenses stay.
INSTALL_RECORDS = ("RECORD", "WHEEL", "INSTALLER", "REQUESTED", "direct_url.json")
PACKAGE_DATA = (".py", ".yaml", ".json", "py.typed")  # what pyproject's package-data ships
DEFAULT_BASE_URL = "https://github.com/kubectl-clearml/kubectl-clearml/releases/download"
COMPLETE_SHIM = """#!/bin/sh
# kubectl (>= 1.26) runs this for `kubectl clearml <TAB>`; put it on your PATH next to kubectl-clearml.
exec kubectl-clearml __complete "$@"
"""


class BuildError(Exception):
    """A build step failed: one line on stderr, no traceback."""


def version() -> str:
    text = (ROOT / "kubectl_clearml" / "__init__.py").read_text()
    match = re.search(r'__version__ = "([^"]+)"', text)
    if not match:
        raise BuildError("cannot find __version__ in kubectl_clearml/__init__.py")
    return match.group(1)


def pins() -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in PINS.read_text().splitlines()]
    found = [line for line in lines if line]
    loose = [p for p in found if "==" not in p]
    if loose:
        raise BuildError(f"{PINS.name}: not pinned with ==: {', '.join(loose)}")
    return found


def _pip(target: Path, requirements: list[str], platform: list[str]) -> None:
    # --no-deps: exactly the pins, nothing the resolver picks on the day; --only-binary: no build backend
    # runs (an sdist would be built by whatever setuptools is newest).
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--no-deps", "--only-binary=:all:",
               "--python-version", FLOOR_PYTHON, *platform, "--target", str(target), *requirements]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")] or done.stderr.splitlines()[-1:]
        raise BuildError(f"pip install failed: {' '.join(errors) or 'exit ' + str(done.returncode)}")


def stage(staging: Path) -> None:
    """The pinned dependencies and the package's own files in one directory, without compiled code."""
    pinned = pins()
    pure = [p for p in pinned if p.split("==")[0].lower() not in NOT_PURE]
    _pip(staging, pure, ["--platform", "any", "--implementation", "py", "--abi", "none"])
    for pin in pinned:
        name = pin.split("==")[0].lower()
        if name in NOT_PURE:
            extra = staging.parent / f"extra-{name}"
            _pip(extra, [pin], ["--platform", NOT_PURE[name]])
            for item in extra.iterdir():
                shutil.move(str(item), str(staging / item.name))
    # The package itself, copied: building it would run setuptools (another unpinned input) for files
    # that are copied verbatim anyway.
    source = ROOT / "kubectl_clearml"
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.name.endswith(PACKAGE_DATA):
            dest = staging / "kubectl_clearml" / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
    for path in list(staging.rglob("*")):
        if not path.exists():
            continue
        if path.is_file() and (
            path.name.endswith(COMPILED_SUFFIXES)
            or (path.parent.name.endswith(".dist-info") and path.name in INSTALL_RECORDS)
        ):
            path.unlink()
        elif path.is_dir() and path.name in ("__pycache__", "bin"):
            shutil.rmtree(path, ignore_errors=True)


ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
BOOTSTRAP = ROOT / "scripts" / "zipapp_main.py"  # the archive's __main__.py


def build_zipapp(staging: Path, target: Path) -> str:
    """What ``zipapp.create_archive`` makes, but byte-for-byte reproducible: entries sorted, with a fixed
    time and mode, so a rebuild from the same tag and pins gives the sha256 in plugins.yaml. (zipapp
    stamps each entry with its file's mtime, i.e. the time pip installed it: a new sha256 every build.)
    Returns the build id: a digest of the payload, which names the unpacked copy the bootstrap uses."""
    payload: list[tuple[str, bytes | None]] = []
    digest = hashlib.sha256()
    for path in sorted(staging.rglob("*")):
        name = path.relative_to(staging).as_posix()
        # Directory entries too: zipimport finds namespace packages (ruamel.yaml) only through them.
        data = None if path.is_dir() else path.read_bytes()
        payload.append((name + "/", None) if data is None else (name, data))
        digest.update(name.encode() + b"\0" + (data or b"") + b"\0")
    build_id = digest.hexdigest()[:16]
    main = BOOTSTRAP.read_bytes().replace(b'BUILD_ID = "dev"', f'BUILD_ID = "{build_id}"'.encode())
    # The files travel as one stored payload.zip next to __main__.py: Python reads a zipapp's whole
    # directory before running it, and 2,200 entries cost ~15 ms on every command; two cost nothing.
    inner = io.BytesIO()
    _write_zip(inner, payload, zipfile.ZIP_DEFLATED)
    with open(target, "wb") as out:
        out.write(b"#!/usr/bin/env python3\n")
        _write_zip(out, [("__main__.py", main), (PAYLOAD, inner.getvalue())], zipfile.ZIP_STORED)
    target.chmod(0o755)
    return build_id


PAYLOAD = "payload.zip"


def _write_zip(out: Any, entries: list[tuple[str, bytes | None]], compression: int) -> None:
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            if data is None:
                info.external_attr = (0o40755 << 16) | 0x10  # a directory (MS-DOS flag too)
                archive.writestr(info, b"")
            else:
                info.compress_type = compression
                info.external_attr = 0o644 << 16
                archive.writestr(info, data)


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "dist"))
    parser.add_argument("--manifest", default=str(ROOT / "plugins.yaml"))
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL)
    args = parser.parse_args()
    manifest = Path(args.manifest)
    if not manifest.is_file():
        parser.error(f"--manifest {manifest}: no such file (the krew manifest whose uri and sha256 are updated)")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        tag = "v" + version()
        with tempfile.TemporaryDirectory() as tmp:
            staging = Path(tmp) / "staging"
            stage(staging)
            zipapp_path = out / "kubectl-clearml"
            build_zipapp(staging, zipapp_path)
        archive = out / "kubectl-clearml.tar.gz"
        sha256 = build_archive(zipapp_path, archive)
        write_manifest(manifest, f"{args.base_url}/{tag}/kubectl-clearml.tar.gz", sha256, tag)
    except (BuildError, OSError) as exc:
        print(f"build_dist: error: {exc}", file=sys.stderr)
        return 1
    size_mb = os.path.getsize(archive) / 1e6
    print(f"{archive} {size_mb:.1f} MB sha256 {sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
