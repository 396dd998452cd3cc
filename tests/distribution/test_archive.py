"""The krew archive works where only python3 is on PATH and nothing is installed."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.distribution.krew_rules import problems

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    manifest = out / "plugins.yaml"
    shutil.copy(ROOT / "plugins.yaml", manifest)
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_dist.py"), "--out", str(out), "--manifest", str(manifest)],
        check=True, capture_output=True, timeout=600,
    )
    unpacked = out / "unpacked"
    with tarfile.open(out / "kubectl-clearml.tar.gz") as tar:
        tar.extractall(unpacked, filter="data")
    bindir = out / "python-only"
    bindir.mkdir()
    (bindir / "python3").symlink_to(sys.executable)
    return out, manifest, unpacked, bindir


def clean_run(built, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    _, _, unpacked, bindir = built
    home = unpacked.parent / "home"
    home.mkdir(exist_ok=True)
    clean = {"PATH": f"{bindir}:{unpacked}", "HOME": str(home), **(env or {})}
    return subprocess.run(
        [str(unpacked / "kubectl-clearml"), *args], capture_output=True, text=True, env=clean, cwd=str(home), timeout=120,
    )


def payload(unpacked):
    """The files of the zipapp: one stored payload.zip beside __main__.py (Python reads the whole directory
    of a zipapp before it runs; two entries cost nothing, 2,200 cost ~15 ms a command)."""
    import io
    import zipfile

    return zipfile.ZipFile(io.BytesIO(zipfile.ZipFile(unpacked / "kubectl-clearml").read("payload.zip")))


def test_manifest_sha256_matches_archive(built):
    out, manifest, _, _ = built
    doc = yaml.safe_load(manifest.read_text())
    assert problems(doc) == []
    digest = hashlib.sha256((out / "kubectl-clearml.tar.gz").read_bytes()).hexdigest()
    assert doc["spec"]["platforms"][0]["sha256"] == digest


def test_archive_holds_executables_and_no_compiled_code(built):
    out, _, unpacked, _ = built
    with tarfile.open(out / "kubectl-clearml.tar.gz") as tar:
        modes = {m.name: m.mode for m in tar.getmembers()}
    assert modes == {"kubectl-clearml": 0o755, "kubectl_complete-clearml": 0o755, "LICENSE": 0o644}
    import zipfile

    names = payload(unpacked).namelist()
    assert zipfile.ZipFile(unpacked / "kubectl-clearml").namelist() == ["__main__.py", "payload.zip"]
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib"))]
    assert "kubectl_clearml/cli/main.py" in names


def test_zipapp_runs_version_and_help_with_only_python3(built):
    from kubectl_clearml import __version__

    result = clean_run(built, "--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"kubectl-clearml {__version__}"), result.stderr
    result = clean_run(built, "--help")
    assert result.returncode == 0 and "Usage: kubectl clearml" in result.stdout


def test_zipapp_completion_entry(built):
    result = clean_run(built, "__complete", "gpu")
    assert result.stdout.splitlines() == ["gpu-report\tGPU capacity, use and fit per node, per...", ":4"] or (
        result.stdout.splitlines()[0].startswith("gpu-report\t")
    )


def test_zipapp_runs_real_commands_against_the_sandbox(built, world):
    # The pure-Python client generation inside the zipapp, talking to both emulators over HTTP.
    result = clean_run(built, "queues", "-n", "clearml", "-o", "json", env=world.env)
    assert result.returncode == 0, result.stderr
    names = {row["name"] for row in json.loads(result.stdout)["items"]}
    assert {"red", "blue", "green", "1xGPU", "2xGPU", "GPUshm"} <= names
    result = clean_run(built, "gpu-report", "--by", "node", "-n", "clearml", env=world.env)
    assert result.returncode == 0, result.stderr
    assert "A100-SXM4-40GB" in result.stdout
    secret = world.clearml.secret_key
    assert secret not in result.stdout + result.stderr


def test_zipapp_errors_are_one_line(built, tmp_path):
    conf = tmp_path / "clearml.conf"
    conf.write_text('api { api_server: "http://127.0.0.1:9", credentials { access_key: "AK", secret_key: "sk-1234" } }')
    result = clean_run(built, "queues", "--no-kube", "--clearml-config", str(conf))
    assert result.returncode == 5
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("kubectl clearml: error: cannot reach")
    assert "sk-1234" not in result.stdout + result.stderr


def test_zipapp_runs_the_whole_sandbox_demo(built):
    # Seeds are package data inside the zip; the demo starts both emulators, runs every command and run-glue.
    result = clean_run(built, "sandbox", "--demo")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "run-glue: 11 launched, 0 failed" in result.stdout
    assert "NCCL WARN Error while creating shared memory segment" in result.stdout + result.stderr


def test_build_is_reproducible(built, tmp_path):
    # Same inputs, same sha256: entries carry a fixed time, not the mtime pip gave each file at build time,
    # and nothing records the build machine's checkout path.
    import importlib.util
    import os
    import zipfile

    _, _, unpacked, _ = built
    infos = zipfile.ZipFile(unpacked / "kubectl-clearml").infolist() + payload(unpacked).infolist()
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert not [i.filename for i in infos if i.filename.endswith("direct_url.json")]

    spec = importlib.util.spec_from_file_location("build_dist", ROOT / "scripts" / "build_dist.py")
    build_dist = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_dist)
    staging = tmp_path / "staging"
    (staging / "pkg").mkdir(parents=True)
    (staging / "pkg" / "a.py").write_text("A = 1\n")
    (staging / "pkg" / "b.py").write_text("B = 2\n")
    build_dist.build_zipapp(staging, tmp_path / "first")
    os.utime(staging / "pkg" / "a.py", (1_000_000_000, 1_000_000_000))
    build_dist.build_zipapp(staging, tmp_path / "second")
    assert (tmp_path / "first").read_bytes() == (tmp_path / "second").read_bytes()
    first = build_dist.build_archive(tmp_path / "first", tmp_path / "first.tar.gz")
    assert first == build_dist.build_archive(tmp_path / "second", tmp_path / "second.tar.gz")


def test_zipapp_unpacks_once_into_its_cache_and_keeps_bytecode(built, tmp_path):
    # Issue 15 item 1: importing from the zip recompiled the Kubernetes client on every run (2.5 s a
    # command). Bytecode is kept in the cache even under PYTHONDONTWRITEBYTECODE, as pip writes .pyc at install.
    cache = tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache), "PYTHONDONTWRITEBYTECODE": "1"}
    assert clean_run(built, "--version", env=env).returncode == 0
    (build,) = (cache / "kubectl-clearml").iterdir()
    assert (build / ".complete").is_file() and (build / "kubectl_clearml" / "cli" / "main.py").is_file()
    assert list((build / "kubectl_clearml" / "cli" / "__pycache__").glob("main.*.pyc"))
    marker = (build / ".complete").stat().st_mtime_ns
    assert clean_run(built, "--version", env=env).returncode == 0
    assert (build / ".complete").stat().st_mtime_ns == marker  # not unpacked again
    # No usable cache (a file where the directory should be): it still runs, unpacked for this run only.
    blocked = tmp_path / "blocked"
    blocked.write_text("")
    result = clean_run(built, "--version", env={"XDG_CACHE_HOME": str(blocked)})
    assert result.returncode == 0 and result.stdout.startswith("kubectl-clearml "), result.stderr


def test_bundled_dependencies_are_exactly_the_pins(built):
    # Issue 15 item 12: every bundled distribution pinned with ==, nothing else bundled, and each pin runs on
    # Python 3.10 (jsonpatch 1.48 and python-dateutil 4, which need 3.11, had slipped in unpinned).

    _, _, unpacked, _ = built
    lines = [ln.split("#")[0].strip() for ln in (ROOT / "scripts" / "dist-requirements.txt").read_text().splitlines()]
    pins = {ln.split("==")[0].lower().replace("-", "_").replace(".", "_"): ln.split("==")[1] for ln in lines if ln}
    names = payload(unpacked).namelist()
    bundled = {}
    for name in names:
        top = name.split("/")[0]
        if top.endswith(".dist-info"):
            dist, _, ver = top.removesuffix(".dist-info").rpartition("-")
            bundled[dist.lower().replace(".", "_")] = ver
    assert bundled == pins
    records = [n for n in names if n.split("/")[-1] in ("RECORD", "WHEEL", "INSTALLER", "direct_url.json")]
    assert records == []  # per-install files that named the builder's platform


def test_build_refuses_a_missing_manifest_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_dist.py"), "--out", str(tmp_path), "--manifest", "/nonexistent"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "--manifest /nonexistent: no such file" in result.stderr
