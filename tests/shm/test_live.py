"""`shm-fix --live` against the sandbox: overlay + helm command, --apply (JSON patch, restart), 409, 403,
--dry-run, --rollback, and --check scanning task pods for NCCL / DataLoader shared-memory failures."""

from __future__ import annotations

import json

import pytest
import yaml

from kubectl_clearml.adapters.live_patch import HISTORY_ANNOTATION, RESTARTED_AT, history
from kubectl_clearml.core.agent_config import load_agent_config
from kubectl_clearml.core.shm import current_provision
from kubectl_clearml.core.values import coalesce
from tests.helpers import run_cli

NS = "clearml"
CM = "clearml-agent-pt"
DEPLOY = "clearml-agent"


def shm(world, *args):
    return run_cli(["shm-fix", *args, "-n", NS], env=world.env, home=str(world.kubeconfig.parent))


def configmap(world):
    return world.kube.store.get("configmaps", CM, NS)


def template(world):
    return yaml.safe_load(configmap(world)["data"]["template.yaml"])


def restarted_at(world):
    deployment = world.kube.store.get("deployments", DEPLOY, NS)
    return ((deployment["spec"]["template"].get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT)


def test_live_prints_overlay_and_the_helm_command(world):
    r = shm(world, "2xGPU", "--size", "16Gi", "--live")
    assert r.exit_code == 0, r.stderr
    command = (
        "helm upgrade clearml-agent oci://docker.io/clearml/clearml-enterprise-agent --version 6.14.1 "
        "-n clearml --reuse-values -f overlay.yaml"
    )
    assert command in r.stderr and command in r.stdout
    overlay = yaml.safe_load(r.stdout)
    # --reuse-values: the release's effective values plus the overlay
    from kubectl_clearml.adapters.agent_install import find_install

    release = find_install(world.client(NS)).release
    after = load_agent_config(coalesce(release.effective_values, overlay), chart_name=release.chart_name)
    assert current_provision(after.effective_template("2xGPU")).size_limit == "16Gi"
    assert configmap(world)["metadata"].get("annotations", {}).get(HISTORY_ANNOTATION) is None  # nothing applied


def test_live_on_a_queue_that_has_it_is_a_no_op(world):
    r = shm(world, "GPUshm", "--live")
    assert r.exit_code == 0 and r.stdout == ""
    assert "queue GPUshm: /dev/shm is already emptyDir medium Memory, sizeLimit 32Gi (volume dshm): no change" in r.stderr


def test_apply_patches_the_template_and_restarts_the_agent(world):
    before_text = configmap(world)["data"]["template.yaml"]
    before = template(world)
    r = shm(world, "2xGPU", "--size", "16Gi", "--live", "--apply")
    assert r.exit_code == 0, r.stderr
    after = template(world)
    assert current_provision(after["2xGPU"]).size_limit == "16Gi"
    assert {q: t for q, t in after.items() if q != "2xGPU"} == {q: t for q, t in before.items() if q != "2xGPU"}
    cm = configmap(world)
    assert [step["previous"] for step in history(cm)] == [before_text]
    assert restarted_at(world) is not None
    assert "patched configmap/clearml-agent-pt" in r.stderr and "restarted deployment/clearml-agent" in r.stderr
    assert "the next helm upgrade reverts it" in r.stderr
    # the edit keeps the rest of the text as it was: only lines are added
    import difflib

    diff = list(difflib.ndiff(before_text.splitlines(), cm["data"]["template.yaml"].splitlines()))
    assert [d for d in diff if d.startswith("- ")] == []
    assert sorted(d[2:].strip() for d in diff if d.startswith("+ ")) == sorted([
        "volumes:", "- name: dshm", "emptyDir:", "medium: Memory", "sizeLimit: 16Gi",
        "volumeMounts:", "- name: dshm", "mountPath: /dev/shm",
    ])

    rv = cm["metadata"]["resourceVersion"]
    again = shm(world, "2xGPU", "--size", "16Gi", "--live", "--apply")
    assert again.exit_code == 0 and "no change" in again.stderr
    assert configmap(world)["metadata"]["resourceVersion"] == rv


def test_dry_run_prints_the_json_patch_and_changes_nothing(world):
    rv = configmap(world)["metadata"]["resourceVersion"]
    r = shm(world, "1xGPU", "--size", "2Gi", "--live", "--apply", "--dry-run", "-o", "json-patch")
    assert r.exit_code == 0, r.stderr
    plan = json.loads(r.stdout)
    ops = plan["configmap"]["patch"]
    assert ops[0] == {"op": "replace", "path": "/metadata/resourceVersion", "value": rv}
    new_text = next(o["value"] for o in ops if o["path"] == "/data/template.yaml")
    assert current_provision(yaml.safe_load(new_text)["1xGPU"]).size_limit == "2Gi"
    assert plan["deployment"]["patch"]["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert configmap(world)["metadata"]["resourceVersion"] == rv and restarted_at(world) is None


def test_dry_run_masks_secret_env_values_of_the_live_template(world):
    token = "hf_live0123456789abcdefghij"

    def add_token(cm):
        t = yaml.safe_load(cm["data"]["template.yaml"])
        t["2xGPU"]["spec"]["containers"][0]["env"].append({"name": "HF_TOKEN", "value": token})
        cm["data"]["template.yaml"] = yaml.safe_dump(t, sort_keys=False)

    world.kube.store.update("configmaps", CM, NS, add_token)
    r = shm(world, "2xGPU", "--size", "2Gi", "--live", "--apply", "--dry-run", "-o", "json-patch")
    assert r.exit_code == 0, r.stderr
    assert token not in r.stdout + r.stderr  # in both the new text and the kept previous text
    as_diff = shm(world, "2xGPU", "--size", "2Gi", "--live", "--apply", "--dry-run")
    assert as_diff.exit_code == 0 and token not in as_diff.stdout + as_diff.stderr
    new_text = next(o["value"] for o in json.loads(r.stdout)["configmap"]["patch"] if o["path"] == "/data/template.yaml")
    assert "- name: HF_TOKEN\n        value: ********\n" in new_text and "sizeLimit: 2Gi" in new_text
    assert shm(world, "2xGPU", "--size", "2Gi", "--live", "--apply").exit_code == 0
    assert token in configmap(world)["data"]["template.yaml"]  # masked in the output only
    undo = shm(world, "--rollback", "--dry-run")
    assert undo.exit_code == 0 and token not in undo.stdout + undo.stderr


def test_409s_are_re_read_and_retried(world):
    fault = world.kube.inject("PATCH", rf"/configmaps/{CM}$", status=409, count=3)
    r = shm(world, "2xGPU", "--size", "4Gi", "--live", "--apply")
    assert r.exit_code == 0, r.stderr
    assert fault.fired == 3 and "after 3 409 conflicts, re-read and retried" in r.stderr
    assert current_provision(template(world)["2xGPU"]).size_limit == "4Gi"


def test_409s_until_the_deadline_are_reported_and_change_nothing(world):
    from kubectl_clearml.adapters.live_patch import patch_template
    from kubectl_clearml.errors import ConflictError

    before = configmap(world)
    world.kube.inject("PATCH", rf"/configmaps/{CM}$", status=409, count=1000)
    now = [0.0]
    with pytest.raises(ConflictError, match=r"kept changing .* 409 Conflict each time, over 5s"):
        patch_template(world.client(NS), CM, NS, lambda text: (text + "# x\n", None), deadline=5,
                       clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert configmap(world) == before


def test_a_403_changes_nothing(world):
    before = configmap(world)
    world.kube.deny("patch", "configmaps", NS)
    r = shm(world, "2xGPU", "--size", "4Gi", "--live", "--apply")
    assert r.exit_code == 4
    assert "forbidden" in r.stderr.lower()
    assert configmap(world) == before and restarted_at(world) is None


def test_a_refused_restart_leaves_the_template_untouched(world):
    # Patching the template without the restart would be a half-done fix (the agent reads it at start).
    before = configmap(world)
    world.kube.deny("patch", "deployments", NS)
    r = shm(world, "2xGPU", "--size", "4Gi", "--live", "--apply")
    assert r.exit_code == 4 and "cannot patch deployment clearml-agent" in r.stderr
    assert "patched configmap" not in r.stderr
    assert configmap(world) == before and restarted_at(world) is None


def test_a_refused_restart_leaves_a_rollback_undone(world):
    assert shm(world, "2xGPU", "--size", "4Gi", "--live", "--apply").exit_code == 0
    fixed = configmap(world)
    world.kube.deny("patch", "deployments", NS)
    r = shm(world, "--rollback")
    assert r.exit_code == 4 and "rolled back" not in r.stderr
    assert configmap(world) == fixed


def test_rollback_undoes_each_step_down_to_the_original_text(world):
    original = configmap(world)["data"]["template.yaml"]
    assert shm(world, "2xGPU", "--size", "16Gi", "--live", "--apply").exit_code == 0
    sixteen = configmap(world)["data"]["template.yaml"]
    assert shm(world, "2xGPU", "--size", "8Gi", "--live", "--apply").exit_code == 0
    first_restart = restarted_at(world)
    r = shm(world, "--rollback")
    assert r.exit_code == 0, r.stderr
    assert configmap(world)["data"]["template.yaml"] == sixteen
    assert "1 earlier shm-fix step(s) kept" in r.stderr
    r = shm(world, "--rollback")
    assert r.exit_code == 0, r.stderr
    cm = configmap(world)
    assert cm["data"]["template.yaml"] == original
    assert HISTORY_ANNOTATION not in cm["metadata"]["annotations"]
    assert "rolled back configmap/clearml-agent-pt" in r.stderr and restarted_at(world) is not None
    assert first_restart is not None
    nothing = shm(world, "--rollback")
    assert nothing.exit_code == 3 and "nothing to roll back" in nothing.stderr


def test_rollback_after_fix_edit_fix_goes_back_step_by_step_to_before_the_first_fix(world):
    # Before: the second fix overwrote the one saved text, so the way back ended at "first fix + edit".
    original = configmap(world)["data"]["template.yaml"]
    assert shm(world, "2xGPU", "--size", "16Gi", "--live", "--apply").exit_code == 0

    def edit(cm):
        cm["data"]["template.yaml"] = cm["data"]["template.yaml"].replace("team: red", "team: crimson")

    world.kube.store.update("configmaps", CM, NS, edit)
    edited = configmap(world)["data"]["template.yaml"]
    assert shm(world, "1xGPU", "--size", "8Gi", "--live", "--apply").exit_code == 0
    assert shm(world, "--rollback").exit_code == 0
    assert configmap(world)["data"]["template.yaml"] == edited
    refused = shm(world, "--rollback")  # undoing the first fix now also undoes the edit: say so first
    assert refused.exit_code == 2 and "changed after shm-fix patched it" in refused.stderr
    assert shm(world, "--rollback", "--force").exit_code == 0
    assert configmap(world)["data"]["template.yaml"] == original


def test_a_one_step_history_of_an_older_version_still_rolls_back(world):
    from kubectl_clearml.adapters.live_patch import APPLIED_ANNOTATION, PREVIOUS_ANNOTATION, sha256

    original = configmap(world)["data"]["template.yaml"]
    fixed = original.replace("team: red", "team: fixed")

    def old_fix(cm):
        cm["data"]["template.yaml"] = fixed
        cm["metadata"].setdefault("annotations", {}).update(
            {PREVIOUS_ANNOTATION: original, APPLIED_ANNOTATION: sha256(fixed)})

    world.kube.store.update("configmaps", CM, NS, old_fix)
    assert shm(world, "--rollback").exit_code == 0
    cm = configmap(world)
    assert cm["data"]["template.yaml"] == original
    assert not {PREVIOUS_ANNOTATION, APPLIED_ANNOTATION, HISTORY_ANNOTATION} & set(cm["metadata"]["annotations"])


def test_rollback_refuses_after_a_helm_upgrade_rewrote_the_template(world):
    assert shm(world, "2xGPU", "--size", "16Gi", "--live", "--apply").exit_code == 0

    def helm_upgrade(cm):
        cm["data"]["template.yaml"] = cm["data"]["template.yaml"].replace("team: red", "team: crimson")

    world.kube.store.update("configmaps", CM, NS, helm_upgrade)
    r = shm(world, "--rollback")
    assert r.exit_code == 2 and "changed after shm-fix patched it" in r.stderr
    forced = shm(world, "--rollback", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert "crimson" not in configmap(world)["data"]["template.yaml"]


def test_apply_refuses_a_foreign_mount_without_force(world):
    def host_shm(cm):
        t = yaml.safe_load(cm["data"]["template.yaml"])
        spec = t["2xGPU"]["spec"]
        spec["volumes"] = [{"name": "host-shm", "hostPath": {"path": "/dev/shm"}}]
        spec["containers"][0]["volumeMounts"] = [{"name": "host-shm", "mountPath": "/dev/shm"}]
        cm["data"]["template.yaml"] = yaml.safe_dump(t, sort_keys=False)

    world.kube.store.update("configmaps", CM, NS, host_shm)
    r = shm(world, "2xGPU", "--size", "4Gi", "--live", "--apply")
    assert r.exit_code == 2
    assert "hostPath /dev/shm (volume host-shm)" in r.stderr and "sizeLimit 4Gi" in r.stderr
    assert shm(world, "2xGPU", "--size", "4Gi", "--live", "--apply", "--force").exit_code == 0
    assert current_provision(template(world)["2xGPU"]).size_limit == "4Gi"


def test_unknown_queue_live(world):
    r = shm(world, "nope", "--live")
    assert r.exit_code == 3 and "known queues" in r.stderr


def _add_task_pod(world, name, queue_label, *, log=None, message=None, phase="Failed"):
    status = {"phase": phase}
    if message is not None:
        status["containerStatuses"] = [
            {"name": name, "state": {"terminated": {"exitCode": 1, "reason": "Error", "message": message}}}
        ]
    world.kube.store.add(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": NS,
                "labels": {"CLEARML": "agent-x", "clearml-agent-queue-name": queue_label},
                "creationTimestamp": "2026-01-01T00:00:00Z",
            },
            "spec": {"containers": [{"name": name, "image": "pytorch"}]},
            "status": status,
        }
    )
    if log is not None:
        world.kube.store.set_pod_log(NS, name, log)


def test_check_live_scans_task_pods(world):
    _add_task_pod(
        world, "clearml-id-aaa", "2xgpu",
        log="NCCL INFO Bootstrap\ngpu-a100-1:57:112 [1] NCCL WARN Error while creating shared memory segment "
        "/dev/shm/nccl-3f2a1b (size 9637888)\n",
    )
    _add_task_pod(world, "clearml-id-bbb", "2xgpu", message="Unexpected bus error encountered in worker. This "
                  "might be caused by insufficient shared memory (shm).")
    _add_task_pod(world, "clearml-id-ccc", "1xgpu", log="epoch 1 loss 0.1\n")
    r = shm(world, "--check")
    assert r.exit_code == 1, r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:]}
    assert rows["2xGPU"] == ["2xGPU", "2", "none", "64Mi", "missing", "2"]
    assert rows["1xGPU"] == ["1xGPU", "1", "none", "64Mi", "default", "0"]
    assert rows["GPUshm"] == ["GPUshm", "2", "memory", "32Gi", "ok", "0"]
    assert "pod clearml-id-aaa (queue 2xGPU, log): gpu-a100-1:57:112 [1] NCCL WARN Error while creating" in r.stderr
    assert "pod clearml-id-bbb (queue 2xGPU, termination message): Unexpected bus error" in r.stderr

    j = shm(world, "--check", "2xGPU", "-o", "json")
    item = json.loads(j.stdout)["items"][0]
    assert [f["pattern"] for f in item["findings"]] == ["nccl-shm-create", "torch-dataloader-bus-error"]


def test_check_live_suggests_a_command_for_the_same_namespace(world):
    r = shm(world, "--check", "2xGPU")
    assert r.exit_code == 1
    assert "fix it with 'kubectl clearml shm-fix 2xGPU --live -n clearml'" in r.stderr


def test_check_live_after_apply_passes_for_that_queue_but_reports_old_failures(world):
    _add_task_pod(world, "clearml-id-aaa", "2xgpu", log="NCCL WARN Call to posix_fallocate failed : No space left on device\n")
    assert shm(world, "2xGPU", "--size", "8Gi", "--live", "--apply").exit_code == 0
    r = shm(world, "--check", "2xGPU", "GPUshm")
    lines = [line.split() for line in r.stdout.splitlines()[1:]]
    assert lines[0] == ["2xGPU", "2", "memory", "8Gi", "failing", "1"]
    assert r.exit_code == 1
    assert shm(world, "--check", "GPUshm", "--max-pods", "0").exit_code == 0


@pytest.fixture
def oss(make_world):
    return make_world(flavour="oss")


def test_oss_live_apply_fixes_the_single_template(oss):
    r = shm(oss, "red", "--size", "512Mi", "--live", "--apply")
    assert r.exit_code == 0, r.stderr
    t = template(oss)
    assert current_provision(t).size_limit == "512Mi"
    assert "helm upgrade clearml-agent clearml/clearml-agent --version 5.3.2 -n clearml --reuse-values" in r.stdout
    assert "one pod template per release" in r.stderr


def test_no_release_secret_argo_cd(world):
    for secret in list(world.kube.store.list("secrets", NS)):
        if secret["metadata"]["name"].startswith("sh.helm.release.v1."):
            world.kube.store.delete("secrets", secret["metadata"]["name"], NS)
    r = shm(world, "2xGPU", "--live")
    assert r.exit_code == 3 and "no Helm release" in r.stderr
    applied = shm(world, "2xGPU", "--size", "1Gi", "--live", "--apply")
    assert applied.exit_code == 0, applied.stderr
    assert current_provision(template(world)["2xGPU"]).size_limit == "1Gi"


def _task_pod_from_live_template(world, queue, name):
    import copy

    pod = copy.deepcopy(template(world)[queue])
    pod["kind"] = "Pod"
    pod["metadata"]["name"] = name
    pod["metadata"]["labels"] = {**pod["metadata"].get("labels", {}), "clearml-agent-queue-name": queue.lower()}
    pod["spec"]["restartPolicy"] = "Never"
    pod["spec"]["containers"][0].update(name=name, image="pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime")
    return world.client(NS).create("pods", pod, NS)


def _wait_phase(world, name, phases, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = world.kube.store.get("pods", name, NS)
        if pod and (pod.get("status") or {}).get("phase") in phases:
            return pod
        time.sleep(0.02)
    raise AssertionError(f"pod {name} never reached {phases}: {world.kube.store.get('pods', name, NS)}")


def test_end_to_end_nccl_failure_detected_then_fixed(world):
    """The simulated kubelet fails multi-GPU pods without a Memory /dev/shm the way NCCL does."""
    _task_pod_from_live_template(world, "2xGPU", "clearml-id-before")
    _wait_phase(world, "clearml-id-before", {"Failed"})
    r = shm(world, "--check", "2xGPU")
    assert r.exit_code == 1
    assert r.stdout.splitlines()[1].split() == ["2xGPU", "2", "none", "64Mi", "missing", "1"]
    assert "pod clearml-id-before (queue 2xGPU, log)" in r.stderr and "NCCL WARN Error while creating shared memory" in r.stderr

    assert shm(world, "2xGPU", "--size", "16Gi", "--live", "--apply").exit_code == 0
    _task_pod_from_live_template(world, "2xGPU", "clearml-id-after")
    _wait_phase(world, "clearml-id-after", {"Succeeded"})
    r = shm(world, "--check", "2xGPU", "-o", "json")
    item = json.loads(r.stdout)["items"][0]
    assert (item["shm"], item["size"], item["failures"]) == ("memory", "16Gi", 1)  # only the old pod
    assert {f["pod"] for f in item["findings"]} == {"clearml-id-before"}


def test_server_dry_run_sends_the_patch_but_changes_nothing(world):
    rv = configmap(world)["metadata"]["resourceVersion"]
    r = shm(world, "2xGPU", "--size", "2Gi", "--live", "--apply", "--dry-run=server")
    assert r.exit_code == 0, r.stderr
    assert "dry run (server)" in r.stderr
    patches = [q for q in world.kube.requests if q.method == "PATCH"]
    assert [(q.path.rsplit("/", 2)[-2], q.query.get("dryRun")) for q in patches] == [
        ("configmaps", "All"), ("deployments", "All")
    ]
    assert configmap(world)["metadata"]["resourceVersion"] == rv and restarted_at(world) is None


def test_check_without_permission_to_list_pods_still_reports_templates(world):
    world.kube.deny("list", "pods", NS)
    r = shm(world, "--check", "2xGPU", "GPUshm")
    assert r.exit_code == 1
    assert "task pods not scanned" in r.stderr and "forbidden" in r.stderr
    assert [line.split() for line in r.stdout.splitlines()[1:]] == [
        ["2xGPU", "2", "none", "64Mi", "missing", "-"],
        ["GPUshm", "2", "memory", "32Gi", "ok", "-"],
    ]
