"""core/shm_values.py: the overlay, checked by merging it as Helm would, per chart flavour."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubectl_clearml.adapters.values_file import load_values, parse_values
from kubectl_clearml.core.agent_config import config_from_user_values
from kubectl_clearml.core.shm import ShmConflict, current_provision
from kubectl_clearml.core.shm_values import (
    apply_overlay,
    check_queues,
    extra_volumes_supported,
    plan_for_queue,
)
from kubectl_clearml.core.values import merge_user_values

DATA = Path(__file__).parent / "data"


def cfg_of(*layers, flavour=None):
    return config_from_user_values(list(layers), flavour=flavour)


def helm_again(user_layers, overlay, flavour=None):
    """What `helm upgrade -f values.yaml -f overlay.yaml` renders, from scratch (not from cfg.values)."""
    return config_from_user_values([*user_layers, overlay], flavour=flavour)


ENTERPRISE = load_values(str(DATA / "enterprise-values.yaml"))
OSS = load_values(str(DATA / "oss-values.yaml"))


class TestEnterprise:
    def test_extra_volumes_for_one_queue(self):
        cfg = cfg_of(ENTERPRISE)
        fix = plan_for_queue(cfg, "2xGPU", size="16Gi")
        assert fix.target.describe() == "agentk8sglue.queues.2xGPU.templateOverrides.extraVolumes/extraVolumeMounts"
        assert fix.overlay == {
            "agentk8sglue": {
                "queues": {
                    "2xGPU": {
                        "templateOverrides": {
                            "extraVolumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}],
                            "extraVolumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
                        }
                    }
                }
            }
        }
        after = helm_again([ENTERPRISE], fix.overlay)
        t = after.effective_template("2xGPU")
        p = current_provision(t)
        assert (p.kind, p.size_limit) == ("memory", "16Gi")
        # the base's certificate volume is still there
        assert [m["mountPath"] for m in t["spec"]["containers"][0]["volumeMounts"]] == ["/etc/ssl/corp", "/dev/shm"]

    def test_other_queues_untouched(self):
        cfg = cfg_of(ENTERPRISE)
        fix = plan_for_queue(cfg, "2xGPU", size="16Gi")
        after = helm_again([ENTERPRISE], fix.overlay)
        for queue in ("red", "4xGPU", "legacy"):
            assert after.effective_template(queue) == cfg.effective_template(queue)
        assert after.base_template == cfg.base_template

    def test_existing_extra_volumes_are_carried(self):
        fix = plan_for_queue(cfg_of(ENTERPRISE), "4xGPU", size="8Gi")
        overrides = fix.overlay["agentk8sglue"]["queues"]["4xGPU"]["templateOverrides"]
        assert [v["name"] for v in overrides["extraVolumes"]] == ["models", "dshm"]
        assert [m["mountPath"] for m in overrides["extraVolumeMounts"]] == ["/models", "/dev/shm"]
        t = helm_again([ENTERPRISE], fix.overlay).effective_template("4xGPU")
        assert {"name": "models", "mountPath": "/models"} in t["spec"]["containers"][0]["volumeMounts"]

    def test_before_6_11_full_lists_carry_the_base(self):
        assert not extra_volumes_supported("6.10.4") and extra_volumes_supported("6.11.0")
        assert extra_volumes_supported(None) and extra_volumes_supported("6.14.1")
        fix = plan_for_queue(cfg_of(ENTERPRISE), "2xGPU", size="16Gi", extra_supported=False)
        overrides = fix.overlay["agentk8sglue"]["queues"]["2xGPU"]["templateOverrides"]
        assert [v["name"] for v in overrides["volumes"]] == ["certs", "dshm"]
        assert [m["name"] for m in overrides["volumeMounts"]] == ["certs", "dshm"]
        for merge in ("strategic", "replace"):
            t = helm_again([ENTERPRISE], fix.overlay).effective_template("2xGPU", merge)
            assert current_provision(t).size_limit == "16Gi"
            assert any(v["name"] == "certs" for v in t["spec"]["volumes"])

    def test_foreign_mount_needs_force(self):
        cfg = cfg_of(ENTERPRISE)
        with pytest.raises(ShmConflict) as err:
            plan_for_queue(cfg, "legacy", size="8Gi")
        assert "hostPath /dev/shm" in str(err.value) and "sizeLimit 8Gi" in str(err.value)
        fix = plan_for_queue(cfg, "legacy", size="8Gi", force=True)
        overrides = fix.overlay["agentk8sglue"]["queues"]["legacy"]["templateOverrides"]
        # the override's full lists now carry the base's certs and a Memory dshm instead of the hostPath
        assert overrides["volumes"] == [
            {"name": "certs", "secret": {"secretName": "corp-ca"}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}},
        ]
        assert [m["mountPath"] for m in overrides["volumeMounts"]] == ["/etc/ssl/corp", "/dev/shm"]
        for merge in ("strategic", "replace"):
            t = helm_again([ENTERPRISE], fix.overlay).effective_template("legacy", merge)
            assert current_provision(t).size_limit == "8Gi"

    def test_base_for_every_queue(self):
        cfg = cfg_of(ENTERPRISE)
        fix = plan_for_queue(cfg, None, size="512Mi")
        assert fix.target.describe() == "agentk8sglue.basePodTemplate.volumes/volumeMounts"
        after = helm_again([ENTERPRISE], fix.overlay)
        rows = {r.queue: r.provision for r in check_queues(after, after.all_queues())}
        assert {q: p.kind for q, p in rows.items()} == {"red": "memory", "2xGPU": "memory", "4xGPU": "memory", "legacy": "other"}
        assert any("legacy" in n for n in fix.notes)

    def test_size_over_the_memory_limit_is_noted(self):
        fix = plan_for_queue(cfg_of(ENTERPRISE), "red", size="2Gi")
        assert any("memory limit 1Gi" in n for n in fix.notes)

    def test_a_size_not_above_the_runtime_default_is_noted(self):
        small = "not above the container runtime's default 64Mi"
        for size in ("64", "1e3", "64Mi"):  # bytes, bytes, the runtime's own 64Mi: no more shared memory
            assert any(small in n for n in plan_for_queue(cfg_of(ENTERPRISE), "red", size=size).notes)
        assert not any(small in n for n in plan_for_queue(cfg_of(ENTERPRISE), "red", size="512Mi").notes)


class TestOss:
    def test_base_lists_carried_in_full(self):
        cfg = cfg_of(OSS)
        fix = plan_for_queue(cfg, "train-2x", size=None)
        base = fix.overlay["agentk8sglue"]["basePodTemplate"]
        assert [v["name"] for v in base["volumes"]] == ["datasets", "scratch", "dshm"]
        assert base["volumes"][-1]["emptyDir"]["sizeLimit"] == "24Gi"  # half of 48Gi
        assert any("every queue" in n for n in fix.notes)
        after = helm_again([OSS], fix.overlay)
        for queue in after.queues:
            t = after.effective_template(queue)
            assert current_provision(t).size_limit == "24Gi"
            assert [m["mountPath"] for m in t["spec"]["containers"][0]["volumeMounts"]] == ["/datasets", "/scratch", "/dev/shm"]

    def test_enterprise_keys_on_the_oss_chart_are_not_used(self):
        # `queues` on the OSS chart is ignored by the chart: the fix must still go to basePodTemplate
        values = merge_user_values(OSS, {"agentk8sglue": {"queues": {"train-2x": {"templateOverrides": {}}}}})
        fix = plan_for_queue(cfg_of(values, flavour="oss"), "train-2x", size="1Gi")
        assert list(fix.overlay["agentk8sglue"]) == ["basePodTemplate"]


class TestIdempotence:
    @pytest.mark.parametrize("values,queue", [(ENTERPRISE, "2xGPU"), (ENTERPRISE, "4xGPU"), (OSS, "eval"), (ENTERPRISE, None)])
    def test_second_run_changes_nothing(self, values, queue):
        fix = plan_for_queue(cfg_of(values), queue, size="4Gi")
        assert fix.changed
        again = plan_for_queue(cfg_of(values, fix.overlay), queue, size="4Gi")
        assert not again.changed and again.overlay == {}
        no_size = plan_for_queue(cfg_of(values, fix.overlay), queue, size=None)
        assert not no_size.changed and no_size.size == "4Gi"

    def test_equal_sizes_in_other_units(self):
        fix = plan_for_queue(cfg_of(OSS), "eval", size="16Gi")
        assert not plan_for_queue(cfg_of(OSS, fix.overlay), "eval", size="17179869184").changed

    def test_resize_changes_only_the_size(self):
        fix = plan_for_queue(cfg_of(OSS), "eval", size="16Gi")
        resize = plan_for_queue(cfg_of(OSS, fix.overlay), "eval", size="8Gi")
        assert list(resize.overlay["agentk8sglue"]["basePodTemplate"]) == ["volumes"]
        assert resize.before.size_limit == "16Gi"


def test_gpushm_example_reproduced_exactly():
    """The seeds' GPUshm queue (agent-chart.md §7) is what shm-fix writes for a queue without it."""
    from kubectl_clearml.adapters.values_file import apply_overlay_text

    seed = (Path(__file__).parents[2] / "kubectl_clearml/sandbox/seeds/agent-enterprise-values.yaml").read_text()
    cut = seed.index("        extraVolumes:\n")
    before = seed[:cut]
    cfg = cfg_of(parse_values(before))
    fix = plan_for_queue(cfg, "GPUshm", size="32Gi")
    assert fix.overlay == {
        "agentk8sglue": {
            "queues": {
                "GPUshm": {
                    "templateOverrides": {
                        "extraVolumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "32Gi"}}],
                        "extraVolumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
                    }
                }
            }
        }
    }
    assert apply_overlay_text(before, fix.overlay) == seed
    # and the seed itself needs nothing
    assert not plan_for_queue(cfg_of(parse_values(seed)), "GPUshm", size="32Gi").changed


queue_names = st.sampled_from(["a", "b", "gpu.x", "2xGPU"])
gpu_counts = st.sampled_from([None, 1, 2, "4"])
volume_choice = st.sampled_from(["none", "memory", "hostpath", "extra-memory", "data"])


def override_for(gpus, vol):
    o: dict = {}
    if gpus is not None:
        o["resources"] = {"limits": {"nvidia.com/gpu": gpus}}
    if vol == "memory":
        o["volumes"] = [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}]
        o["volumeMounts"] = [{"name": "dshm", "mountPath": "/dev/shm"}]
    elif vol == "hostpath":
        o["volumes"] = [{"name": "h", "hostPath": {"path": "/dev/shm"}}]
        o["volumeMounts"] = [{"name": "h", "mountPath": "/dev/shm"}]
    elif vol == "extra-memory":
        o["extraVolumes"] = [{"name": "s", "emptyDir": {"medium": "Memory"}}]
        o["extraVolumeMounts"] = [{"name": "s", "mountPath": "/dev/shm"}]
    elif vol == "data":
        o["extraVolumes"] = [{"name": "data", "emptyDir": {}}]
        o["extraVolumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    return o


enterprise_values = st.dictionaries(queue_names, st.tuples(gpu_counts, volume_choice), min_size=1, max_size=4).map(
    lambda qs: {
        "agentk8sglue": {
            "createQueues": True,
            "basePodTemplate": {"resources": {"limits": {"memory": "8Gi"}}},
            "queues": {q: {"templateOverrides": override_for(g, v)} for q, (g, v) in qs.items()},
        }
    }
)


@settings(max_examples=60, deadline=None)
@given(enterprise_values, st.data(), st.sampled_from(["1Gi", "2Gi", "16Gi"]), st.booleans())
def test_property_fix_is_idempotent_and_touches_only_its_queue(values, data, size, extra):
    cfg = cfg_of(values)
    queue = data.draw(st.sampled_from(sorted(cfg.all_queues())))
    fix = plan_for_queue(cfg, queue, size=size, force=True, extra_supported=extra)
    # only the target queue's overrides appear in the overlay
    if fix.changed:
        assert list(fix.overlay) == ["agentk8sglue"] and list(fix.overlay["agentk8sglue"]) == ["queues"]
        assert list(fix.overlay["agentk8sglue"]["queues"]) == [queue]
    after = helm_again([values], fix.overlay)
    assert current_provision(after.effective_template(queue)).kind == "memory"
    for other in cfg.all_queues():
        if other != queue:
            assert after.effective_template(other) == cfg.effective_template(other)
    again = plan_for_queue(after, queue, size=size, force=True, extra_supported=extra)
    assert not again.changed
    assert apply_overlay(cfg, fix.overlay).effective_template(queue) == after.effective_template(queue)


class TestLegacyLayouts:
    def test_chart_2x_pod_template(self):
        values = {"agentk8sglue": {"queue": "gpu", "podTemplate": {"resources": {"limits": {"nvidia.com/gpu": 2, "memory": "8Gi"}}}}}
        cfg = cfg_of(values, flavour="oss")
        fix = plan_for_queue(cfg, "gpu", size=None)
        assert fix.target.describe() == "agentk8sglue.podTemplate.volumes/volumeMounts"
        assert current_provision(helm_again([values], fix.overlay, "oss").effective_template("gpu")).size_limit == "4Gi"

    def test_chart_4x_enterprise_features(self):
        values = {
            "enterpriseFeatures": {
                "enabled": True,
                "queues": {"q2": {"templateOverrides": {"resources": {"limits": {"nvidia.com/gpu": 2}}}}},
            },
            "agentk8sglue": {"basePodTemplate": {"volumes": [{"name": "d", "emptyDir": {}}], "volumeMounts": [{"name": "d", "mountPath": "/d"}]}},
        }
        cfg = cfg_of(values, flavour="enterprise")
        fix = plan_for_queue(cfg, "q2", size="2Gi")
        # 4.x had no extraVolumes: the override's full lists, carrying the base's
        assert fix.target.describe() == "enterpriseFeatures.queues.q2.templateOverrides.volumes/volumeMounts"
        overrides = fix.overlay["enterpriseFeatures"]["queues"]["q2"]["templateOverrides"]
        assert [v["name"] for v in overrides["volumes"]] == ["d", "dshm"]
        t = helm_again([values], fix.overlay, "enterprise").effective_template("q2", "replace")
        assert current_provision(t).size_limit == "2Gi"
