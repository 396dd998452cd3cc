"""`shm-fix --in-place` as a careful editor: modes and owners kept, symlinks edited through, no planted temp
name followed, concurrent runs refused instead of lost, no temp file left on a full disk, backups never
overwritten, read-only and non-regular files refused (issue 21, items 1, 2, 5-7)."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kubectl_clearml.adapters.values_file import edit_in_place, load_values, parse_values
from kubectl_clearml.errors import UsageError
from tests.helpers import run_cli

DATA = Path(__file__).parent / "data"
SECRET = "glue-secret-Zq81x"
WITH_SECRET = (DATA / "enterprise-values.yaml").read_text() + f"clearml:\n  agentk8sglueSecret: {SECRET}\n"


EXE = os.path.join(os.path.dirname(sys.executable), "kubectl-clearml")  # the venv's entry point


def shm(args, tmp_path):
    return run_cli(["shm-fix", *args], env={"KUBECONFIG": str(tmp_path / "none")}, home=str(tmp_path))


def values_file(tmp_path, text=WITH_SECRET, name="values.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def fix(path, tmp_path, queue="2xGPU"):
    return shm([queue, "--size", "8Gi", "-f", str(path), "--in-place"], tmp_path)


def has_fix(text, queue):
    overrides = parse_values(text)["agentk8sglue"]["queues"][queue].get("templateOverrides", {})
    return any(v.get("name") == "dshm" for v in overrides.get("extraVolumes", []))


def test_mode_and_owner_of_the_original_on_the_backup_and_the_result(tmp_path):
    path = values_file(tmp_path)
    path.chmod(0o600)
    os.chown(path, 4321, 4322)  # the tests run as root, as a CI container does
    r = fix(path, tmp_path)
    assert r.exit_code == 0, r.stderr
    for written in (path, Path(f"{path}.bak")):
        st = written.stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 4321, 4322), written
    assert Path(f"{path}.bak").read_text() == WITH_SECRET and has_fix(path.read_text(), "2xGPU")


def test_duplicate_key_error_shows_no_value(tmp_path):
    first = "glue-secret-first-Zq"
    path = values_file(tmp_path, f"clearml:\n  agentk8sglueSecret: {first}\n" + WITH_SECRET)
    r = fix(path, tmp_path)
    assert r.exit_code == 2
    assert 'duplicate key "clearml"' in r.stderr and f"{path}:" in r.stderr
    assert first not in r.stderr and SECRET not in r.stderr and "Traceback" not in r.stderr


def test_a_symlink_is_edited_through_and_stays_a_link(tmp_path):
    (tmp_path / "shared").mkdir()
    target = values_file(tmp_path / "shared")
    link = tmp_path / "values.yaml"
    link.symlink_to(target)
    r = fix(link, tmp_path)
    assert r.exit_code == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert has_fix(target.read_text(), "2xGPU") and Path(f"{target}.bak").read_text() == WITH_SECRET
    assert f"edited {target} (original kept as {target}.bak)" in r.stderr


def test_a_planted_temp_name_is_never_followed(tmp_path):
    path = values_file(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    planted = [tmp_path / f"values.yaml.tmp-{os.getpid()}", tmp_path / "values.yaml.bak"]
    for name in planted:  # the old temp name (predictable) and the backup name
        name.symlink_to(victim)
    r = fix(path, tmp_path)
    assert r.exit_code == 0, r.stderr
    assert victim.read_text() == "precious\n" and all(p.is_symlink() for p in planted)
    assert not path.is_symlink() and has_fix(path.read_text(), "2xGPU")
    assert Path(f"{path}.bak.1").read_text() == WITH_SECRET  # the planted .bak was skipped, not followed


def test_a_second_run_keeps_the_first_backup(tmp_path):
    path = values_file(tmp_path)
    assert fix(path, tmp_path, "2xGPU").exit_code == 0
    intermediate = path.read_text()
    r = fix(path, tmp_path, "4xGPU")
    assert r.exit_code == 0, r.stderr
    assert Path(f"{path}.bak").read_text() == WITH_SECRET
    assert Path(f"{path}.bak.1").read_text() == intermediate
    assert f"original kept as {path}.bak.1" in r.stderr


def test_a_file_being_edited_is_refused(tmp_path):
    path = values_file(tmp_path)
    with open(path) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        r = fix(path, tmp_path)
    assert r.exit_code == 2 and "another run is editing the values file" in r.stderr
    assert path.read_text() == WITH_SECRET and not Path(f"{path}.bak").exists()


def test_a_file_changed_after_planning_is_refused(tmp_path):
    path = values_file(tmp_path)
    planned_on = load_values(str(path))
    path.write_text(WITH_SECRET.replace("2xGPU", "2xGPU-renamed"))
    overlay = {"agentk8sglue": {"queues": {"2xGPU": {"templateOverrides": {"extraVolumes": []}}}}}
    with pytest.raises(UsageError, match="changed while this run was planning"):
        edit_in_place(str(path), overlay, planned_on=planned_on)
    assert "2xGPU-renamed" in path.read_text()


def test_two_concurrent_runs_never_lose_a_fix(tmp_path):
    # Before: 4 of 5 trials ended with both runs exiting 0 and one queue's fix missing.
    exe = EXE
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")}
    for trial in range(3):
        path = values_file(tmp_path, name=f"v{trial}.yaml")
        runs = {q: subprocess.Popen([exe, "shm-fix", q, "-f", str(path), "--in-place"], env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE) for q in ("2xGPU", "4xGPU")}
        for queue, proc in runs.items():
            _, err = proc.communicate(timeout=60)
            if proc.returncode == 0:
                assert has_fix(path.read_text(), queue), (trial, queue, err)
            else:
                assert proc.returncode == 2 and ("another run is editing" in err or "changed while" in err), err


def test_read_only_file_is_refused_even_for_root(tmp_path):
    path = values_file(tmp_path)
    path.chmod(0o444)
    r = fix(path, tmp_path)
    assert r.exit_code == 2 and "read-only" in r.stderr
    assert path.read_text() == WITH_SECRET and sorted(os.listdir(tmp_path)) == ["values.yaml"]
    dry = shm(["2xGPU", "--size", "8Gi", "-f", str(path), "--in-place", "--dry-run"], tmp_path)
    assert dry.exit_code == 0 and "+" in dry.stdout, dry.stderr  # showing the change writes nothing: allowed


def test_a_pipe_is_refused_not_waited_on(tmp_path):
    # `-f <(helm get values ...) --in-place` used to block for ever re-opening the drained pipe.
    exe = EXE
    read_end, write_end = os.pipe()
    os.write(write_end, WITH_SECRET.encode())
    os.close(write_end)
    proc = subprocess.run([exe, "shm-fix", "2xGPU", "-f", f"/dev/fd/{read_end}", "--in-place"], pass_fds=[read_end],
                          env={**os.environ, "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=60)
    os.close(read_end)
    assert proc.returncode == 2 and "needs a regular file" in proc.stderr, proc.stderr


def test_a_full_disk_leaves_no_temp_file_and_the_original_intact(tmp_path):
    import resource

    path = values_file(tmp_path)
    limit = len(WITH_SECRET.encode()) + 16  # room for the backup, not for the edited file

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    exe = EXE
    proc = subprocess.run([exe, "shm-fix", "2xGPU", "-f", str(path), "--in-place"], preexec_fn=small_files,
                          env={**os.environ, "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "cannot write values file: File too large" in proc.stderr, proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["values.yaml"] and path.read_text() == WITH_SECRET


def test_an_overlay_file_keeps_its_mode_and_is_written_through_its_link(tmp_path):
    path = values_file(tmp_path)
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "overlay.yaml"
    target.write_text("# old overlay\n")
    target.chmod(0o640)
    link = tmp_path / "overlay.yaml"
    link.symlink_to(target)
    (tmp_path / f"overlay.yaml.tmp-{os.getpid()}").symlink_to(tmp_path / "victim")  # the old temp name
    r = shm(["2xGPU", "--size", "8Gi", "-f", str(path), "--output-file", str(link)], tmp_path)
    assert r.exit_code == 0, r.stderr
    assert link.is_symlink() and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert "extraVolumes" in target.read_text() and not (tmp_path / "victim").exists()
