"""core/shm.py: /dev/shm provision of a pod template, sizes, the list edit, failure strings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubectl_clearml.core import shm
from kubectl_clearml.core.shm import (
    InvalidSize,
    current_provision,
    default_size,
    find_shm_failures,
    fix_lists,
    fix_pod_template,
    gpu_count,
    size_bytes,
)


def template(volumes=None, mounts=None, limits=None, **spec_extra):
    container = {"name": "task"}
    if mounts is not None:
        container["volumeMounts"] = mounts
    if limits is not None:
        container["resources"] = {"limits": limits}
    spec = {"containers": [container], **spec_extra}
    if volumes is not None:
        spec["volumes"] = volumes
    return {"apiVersion": "v1", "metadata": {"labels": {}}, "spec": spec}


DSHM_32 = {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "32Gi"}}
DSHM_MOUNT = {"name": "dshm", "mountPath": "/dev/shm"}


class TestProvision:
    def test_nothing_mounted_is_the_runtime_default(self):
        p = current_provision(template())
        assert (p.kind, p.size) == ("none", "64Mi")
        assert "64Mi" in p.describe()

    def test_memory_empty_dir_with_size(self):
        p = current_provision(template([DSHM_32], [DSHM_MOUNT]))
        assert (p.kind, p.volume_name, p.size_limit) == ("memory", "dshm", "32Gi")

    def test_memory_without_size_limit(self):
        p = current_provision(template([{"name": "s", "emptyDir": {"medium": "Memory"}}], [{"name": "s", "mountPath": "/dev/shm/"}]))
        assert (p.kind, p.size_limit) == ("memory", None)
        assert "no sizeLimit" in p.describe()

    def test_host_path_is_something_else(self):
        p = current_provision(
            template([{"name": "h", "hostPath": {"path": "/dev/shm"}}], [{"name": "h", "mountPath": "/dev/shm"}])
        )
        assert p.kind == "other"
        assert p.describe() == "hostPath /dev/shm (volume h)"

    def test_disk_empty_dir_is_not_memory(self):
        p = current_provision(template([{"name": "e", "emptyDir": {}}], [{"name": "e", "mountPath": "/dev/shm"}]))
        assert (p.kind, p.source) == ("other", "emptyDir medium node disk")

    def test_host_ipc(self):
        assert current_provision(template(hostIPC=True)).kind == "other"

    def test_mount_of_undeclared_volume(self):
        p = current_provision(template([], [{"name": "ghost", "mountPath": "/dev/shm"}]))
        assert (p.kind, p.volume_name) == ("other", "ghost")

    def test_only_the_task_container_counts(self):
        t = template([DSHM_32], [])
        t["spec"]["containers"].append({"name": "sidecar", "volumeMounts": [DSHM_MOUNT]})
        assert current_provision(t).kind == "none"

    def test_job_template(self):
        job = {"kind": "Job", "spec": {"template": template([DSHM_32], [DSHM_MOUNT])}}
        assert current_provision(job).kind == "memory"


class TestSizes:
    @pytest.mark.parametrize(
        "text,expected",
        [("16Gi", 16 * 2**30), ("512Mi", 512 * 2**20), ("1G", 10**9), ("1e9", 10**9), ("1073741824", 2**30), (2048, 2048)],
    )
    def test_accepted(self, text, expected):
        assert size_bytes(text) == expected

    @pytest.mark.parametrize("text", ["16GB", "-1", "abc", "0", "100m", "", "1.5.5Gi", None, True])
    def test_rejected_with_the_accepted_forms(self, text):
        with pytest.raises(InvalidSize) as err:
            size_bytes(text)
        assert "16Gi" in str(err.value) and "512Mi" in str(err.value)

    @pytest.mark.parametrize(
        "memory,expected",
        [("48Gi", "24Gi"), ("1Gi", "512Mi"), ("3Gi", "1536Mi"), ("200Gi", "32Gi"), ("1G", "476Mi"), (None, "1Gi")],
    )
    def test_default_is_half_the_memory_limit_capped(self, memory, expected):
        limits = {"memory": memory} if memory else {"cpu": "2"}
        assert default_size(template(limits=limits)) == expected

    def test_default_ignores_a_broken_memory_limit(self):
        assert default_size(template(limits={"memory": "lots"})) == "1Gi"


class TestGpuCount:
    @pytest.mark.parametrize(
        "limits,count",
        [({"nvidia.com/gpu": 2}, 2), ({"nvidia.com/gpu": "1"}, 1), ({"nvidia.com/mig-1g.10gb": "2"}, 2), ({}, 0), ({"cpu": 4}, 0)],
    )
    def test_counts(self, limits, count):
        assert gpu_count(template(limits=limits)) == count

    @pytest.mark.parametrize("amount", [float("nan"), float("inf"), "1e400", -1, "lots", [1]])
    def test_amounts_that_are_no_gpu_count_count_none(self, amount):
        assert gpu_count(template(limits={"nvidia.com/gpu": amount})) == 0

    def test_requests_when_no_limits(self):
        t = template()
        t["spec"]["containers"][0]["resources"] = {"requests": {"nvidia.com/gpu": 4}}
        assert gpu_count(t) == 4


class TestFixLists:
    def test_adds_dshm_keeping_the_rest(self):
        vols, mnts = fix_lists([{"name": "data", "emptyDir": {}}], [{"name": "data", "mountPath": "/data"}], "16Gi")
        assert vols == [{"name": "data", "emptyDir": {}}, {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}]
        assert mnts == [{"name": "data", "mountPath": "/data"}, DSHM_MOUNT]

    def test_resizes_an_existing_memory_volume_in_place(self):
        mem = {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}
        vols, mnts = fix_lists([mem, {"name": "x", "emptyDir": {}}], [{"name": "shm", "mountPath": "/dev/shm"}], "8Gi")
        assert vols == [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}}, {"name": "x", "emptyDir": {}}]
        assert mnts == [{"name": "shm", "mountPath": "/dev/shm"}]
        assert mem["emptyDir"]["sizeLimit"] == "1Gi"  # inputs are not mutated

    def test_replaces_a_foreign_mount_and_its_volume(self):
        vols, mnts = fix_lists(
            [{"name": "h", "hostPath": {"path": "/dev/shm"}}, {"name": "d", "emptyDir": {}}],
            [{"name": "h", "mountPath": "/dev/shm"}, {"name": "d", "mountPath": "/d"}],
            "4Gi",
        )
        assert [v["name"] for v in vols] == ["d", "dshm"]
        assert mnts == [{"name": "d", "mountPath": "/d"}, DSHM_MOUNT]

    def test_keeps_a_foreign_volume_still_mounted_elsewhere(self):
        vols, mnts = fix_lists(
            [{"name": "h", "hostPath": {"path": "/dev/shm"}}],
            [{"name": "h", "mountPath": "/dev/shm"}, {"name": "h", "mountPath": "/host-shm"}],
            "4Gi",
        )
        assert [v["name"] for v in vols] == ["h", "dshm"]
        assert [m["mountPath"] for m in mnts] == ["/host-shm", "/dev/shm"]

    def test_fix_pod_template(self):
        fixed = fix_pod_template(template(limits={"memory": "2Gi"}), "1Gi")
        assert current_provision(fixed).size_limit == "1Gi"
        assert fixed["spec"]["containers"][0]["resources"] == {"limits": {"memory": "2Gi"}}


names = st.sampled_from(["a", "b", "dshm", "shm", "data"])
paths = st.sampled_from(["/a", "/b", "/dev/shm", "/dev/shm/", "/data"])
sources = st.sampled_from(
    [{"emptyDir": {}}, {"emptyDir": {"medium": "Memory"}}, {"emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}, {"hostPath": {"path": "/dev/shm"}}]
)
volume_lists = st.lists(st.builds(lambda n, s: {"name": n, **s}, names, sources), max_size=5, unique_by=lambda v: v["name"])
mount_lists = st.lists(st.builds(lambda n, p: {"name": n, "mountPath": p}, names, paths), max_size=5)
sizes = st.sampled_from(["64Mi", "1Gi", "16Gi", "32Gi", "1G"])


@given(volume_lists, mount_lists, sizes)
def test_fix_lists_gives_exactly_one_memory_shm_and_is_idempotent(vols, mnts, size):
    new_vols, new_mnts = fix_lists(vols, mnts, size)
    t = template(new_vols, new_mnts)
    p = current_provision(t)
    assert p.kind == "memory" and shm.same_size(p.size_limit, size)
    assert sum(shm.is_shm_path(m["mountPath"]) for m in new_mnts) == 1
    assert fix_lists(new_vols, new_mnts, size) == (new_vols, new_mnts)
    # mounts elsewhere than /dev/shm survive, in order
    assert [m for m in new_mnts if not shm.is_shm_path(m["mountPath"])] == [
        m for m in mnts if not shm.is_shm_path(m["mountPath"])
    ]
    # volumes are only dropped when they were mounted at /dev/shm and nowhere else
    kept = {v["name"] for v in new_vols}
    for v in vols:
        if v["name"] not in kept:
            assert any(m["name"] == v["name"] and shm.is_shm_path(m["mountPath"]) for m in mnts)
            assert not any(m["name"] == v["name"] for m in new_mnts)
    # volume names stay unique
    assert len(kept) == len(new_vols)


def test_name_clash_picks_a_free_name():
    vols, mnts = fix_lists([{"name": "dshm", "emptyDir": {}}], [{"name": "dshm", "mountPath": "/scratch"}], "1Gi")
    assert [v["name"] for v in vols] == ["dshm", "dshm-2"]
    assert mnts[-1] == {"name": "dshm-2", "mountPath": "/dev/shm"}


def test_unmounted_memory_dshm_is_reused():
    vols, mnts = fix_lists([{"name": "dshm", "emptyDir": {"medium": "Memory"}}], [], "2Gi")
    assert vols == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}]
    assert mnts == [DSHM_MOUNT]


class TestFailureStrings:
    @pytest.mark.parametrize(
        "line,pattern",
        [
            ("node-1:42:42 [0] include/shm.h:28 NCCL WARN Error while creating shared memory segment /dev/shm/nccl-3UmxS1 (size 9637888)", "nccl-shm-create"),
            ("gpu-0:120:180 [1] misc/shmutils.cc:58 NCCL WARN Error: failed to extend /dev/shm/nccl-abc to 9637892 bytes, error: No space left on device (28)", "nccl-shm-extend"),
            ("ip-10-0-0-1:77:77 [0] NCCL WARN Call to posix_fallocate failed : No space left on device", "nccl-posix-fallocate"),
            ("RuntimeError: DataLoader worker (pid 1234) is killed by signal: Bus error. It is possible that dataloader's workers are out of shared memory.", None),
            ("ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm).", "torch-dataloader-bus-error"),
        ],
    )
    def test_each_known_string(self, line, pattern):
        found = find_shm_failures("step 1\n" + line + "\nstep 2\n")
        assert [f.pattern for f in found] == ([pattern] if pattern else [])
        if pattern:
            assert found[0].line == line.strip()

    def test_torch_dist_backend_error(self):
        text = (
            "torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/NCCLUtils.hpp:317, "
            "unhandled system error (run with NCCL_DEBUG=INFO for details), NCCL version 2.21.5\n"
            "ncclSystemError: System call (e.g. socket, malloc) or external library call failed or device error.\n"
            "Last error:\nError while creating shared memory segment /dev/shm/nccl-vzIpS6 (size 9637888)\n"
        )
        assert [f.pattern for f in find_shm_failures(text)] == ["nccl-shm-create"]

    def test_clean_log(self):
        assert find_shm_failures("NCCL INFO Using network Socket\nepoch 1 loss 0.3\n") == []
