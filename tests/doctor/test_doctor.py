"""`kubectl clearml doctor` end to end over HTTP against the emulators.

The default world is healthy but for the task the reference glue stranded in k8s_scheduler; the troubles world
(seeds/troubles.py) breaks each check doctor has (one test per check below); a permission-restricted identity
gets `skipped (forbidden: ...)`, never a crash.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.helpers import run_cli

RBAC = "rbac.authorization.k8s.io/v1"


def doctor(world, *args: str, env: dict[str, str] | None = None):
    env = env or world.env
    return run_cli(["doctor", *args], env=env, home=env.get("HOME"))


def checks(result) -> dict[str, dict]:
    document = json.loads(result.stdout)
    assert document["kind"] == "DoctorReport" and document["apiVersion"] == "kubectl-clearml.doctor/v1"
    assert document["summary"] == {s: sum(c["status"] == s for c in document["checks"])
                                   for s in ("ok", "warn", "fail", "skipped")}
    for check in document["checks"]:
        assert set(check) == {"id", "group", "status", "detail", "hint", "objects"}
        assert check["id"].startswith(check["group"] + ".")
        assert (check["status"] == "ok") == (check["hint"] == "") or check["status"] == "skipped"
    return {c["id"]: c for c in document["checks"]}


@pytest.fixture
def troubles(make_world):
    return make_world(troubles=True)


def test_healthy_world_fails_only_the_stranded_task_and_runs_under_two_seconds(world):
    started = time.monotonic()
    result = doctor(world, "-o", "json")
    elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.stderr
    found = checks(result)
    assert [c for c, v in found.items() if v["status"] == "fail"] == ["queues.stranded"]
    for check in ("install.found", "install.deployment", "install.pod", "credentials.login",
                  "credentials.same-server", "credentials.default-keys", "rbac.agent", "rbac.self", "queues.exist", "queues.unserved",
                  "templates.valid", "templates.lint", "templates.references", "templates.namespace",
                  "capacity.fit", "capacity.pending-pods", "shm.failures"):
        assert found[check]["status"] == "ok", found[check]
    assert found["shm.multi-gpu"]["status"] == "warn" and found["shm.multi-gpu"]["objects"] == ["2xGPU"]
    assert found["queues.stranded"]["objects"] == [world.world.task_ids["stranded-by-reference-glue"]]
    assert elapsed < 8.0, f"doctor took {elapsed:.2f}s"  # 0.6-1.3 s measured; generous for a loaded CI box
    assert result.stderr == ""  # no progress line when stderr is not a terminal


def test_exit_zero_when_nothing_fails_and_the_table(world):
    state = world.clearml.state
    with state.lock:
        state.queues[world.world.queue_ids["k8s_scheduler"]]["entries"].clear()
    result = doctor(world)
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "install" and lines[1].split()[:2] == ["ok", "install.found"]
    assert lines[-1].startswith("21 checks: ") and " 0 fail, 0 skipped " in lines[-1]


@pytest.mark.parametrize(("check", "status", "words"), [
    ("credentials.login", "fail", "refuses the agent's keys"),
    ("rbac.agent", "fail", "service account clearml-agent-sa may not delete pods"),
    ("queues.unserved", "fail", "pending tasks in queue(s) no agent serves: cpu-batch (1 pending)"),
    ("templates.references", "fail", "missing in namespace clearml: secret/registry-team-green (queues green)"),
    ("capacity.fit", "warn", "2xGPU: WAITING FOR GPUS (needs 2 nvidia.com/gpu per pod, at most 1 free"),
    ("shm.failures", "fail", "/dev/shm failures in queue(s) 2xGPU: pod clearml-id-"),
])
def test_each_failing_check_in_the_troubles_world(troubles, check, status, words):
    group = check.split(".")[0]
    found = checks(doctor(troubles, "--group", group, "-o", "json"))
    assert found[check]["status"] == status, found[check]
    assert words in found[check]["detail"]
    assert found[check]["hint"]


def test_a_pod_stuck_on_a_taint(troubles):
    deadline = time.monotonic() + 20
    while True:
        found = checks(doctor(troubles, "--group", "capacity", "-o", "json"))["capacity.pending-pods"]
        if found["status"] == "fail" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert found["status"] == "fail"
    assert "1 node(s) had untolerated taint {dedicated: system}" in found["detail"]
    assert found["objects"][0] == "pod/clearml-id-" + troubles.world.task_ids["render-on-system-node"]


def test_install_not_found_fails_and_the_rest_is_skipped(world):
    result = doctor(world, "-n", "research", "-o", "json")
    assert result.exit_code == 1
    found = checks(result)
    assert found["install.found"]["status"] == "fail"
    assert "no ClearML agent install found" in found["install.found"]["detail"]
    assert found["templates.valid"]["status"] == "skipped"
    assert found["templates.valid"]["detail"].startswith("skipped (no agent configuration")
    with_values = checks(doctor(world, "-n", "research", "-f", str(world.sandbox.values_file), "-o", "json"))
    assert with_values["install.found"]["status"] == "fail"  # values files need no install: the rest is judged
    assert with_values["templates.lint"]["status"] == "ok" and with_values["shm.multi-gpu"]["status"] == "warn"


def test_default_keys_and_a_crash_looping_agent(world):
    store = world.kube.store
    pod = next(p for p in store.list("pods", "clearml") if p["metadata"]["name"].startswith("clearml-agent-"))
    status = pod["status"]
    status["containerStatuses"][0].update(ready=False, restartCount=7, state={"waiting": {
        "reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
        lastState={"terminated": {"exitCode": 1, "reason": "Error"}})
    store.update_pod_status("clearml", pod["metadata"]["name"], status)
    found = checks(doctor(world, "--group", "install", "-o", "json"))
    assert found["install.pod"]["status"] == "fail"
    assert found["install.pod"]["detail"].endswith("is crash-looping (7 restarts, last exit: Error)")
    assert "--previous" in found["install.pod"]["hint"]


def restricted_env(world, tmp_path) -> dict[str, str]:
    """A viewer that may read the agent's namespace and nothing else (no nodes, no access reviews of others)."""
    kube = world.kube
    user = "system:serviceaccount:clearml:viewer"
    kube.store.add({"apiVersion": RBAC, "kind": "Role", "metadata": {"name": "viewer", "namespace": "clearml"},
                    "rules": [{"apiGroups": ["", "apps"], "verbs": ["get", "list", "watch"],
                               "resources": ["pods", "pods/log", "deployments", "configmaps", "secrets"]}]})
    kube.store.add({"apiVersion": RBAC, "kind": "RoleBinding", "metadata": {"name": "viewer", "namespace": "clearml"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "viewer"},
                    "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": "clearml"}]})
    path = kube.write_kubeconfig(tmp_path / "viewer.kubeconfig", namespace="clearml", user_token="viewer-token",
                                 user=user)
    return {**world.env, "KUBECONFIG": path}


def test_a_restricted_identity_gets_skipped_forbidden_never_a_crash(world, tmp_path):
    result = doctor(world, "-o", "json", env=restricted_env(world, tmp_path))
    assert result.exit_code == 1, result.stderr  # the stranded task still fails; nothing crashed
    found = checks(result)
    assert found["rbac.agent"]["status"] == "skipped"
    assert found["rbac.agent"]["detail"].startswith("skipped (forbidden: cannot create subjectaccessreviews")
    assert found["rbac.self"]["status"] == "warn"
    assert "list nodes" in found["rbac.self"]["detail"] and "create subjectaccessreviews" in found["rbac.self"]["detail"]
    assert found["capacity.fit"]["status"] == "skipped"
    assert found["capacity.fit"]["detail"].startswith("skipped (forbidden: cannot list nodes")
    assert found["install.found"]["status"] == "ok" and found["credentials.login"]["status"] == "ok"
    assert found["templates.valid"]["status"] == "skipped"  # a dry-run we may not make is no "ok"
    assert found["templates.valid"]["detail"].startswith("skipped (forbidden: cannot create pod")
    assert "persistentvolumeclaims not checked" in found["templates.references"]["detail"]


def test_doctor_usage_errors_keep_their_codes_and_yaml_is_the_json_schema(world):
    import yaml

    assert doctor(world, "-o", "wide").exit_code == 2
    assert doctor(world, "--group", "nope").exit_code == 2
    document = yaml.safe_load(doctor(world, "--group", "rbac", "-o", "yaml").stdout)
    assert document["kind"] == "DoctorReport" and [c["id"] for c in document["checks"]] == ["rbac.agent", "rbac.self"]


def test_an_unreachable_or_refusing_api_server_is_doctors_own_error(world, tmp_path):
    closed = tmp_path / "closed.kubeconfig"
    closed.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                      "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
                      "users: [{name: u, user: {token: t}}]\n"
                      "contexts: [{name: c, context: {cluster: c, user: u, namespace: clearml}}]\n")
    unreachable = doctor(world, env={**world.env, "KUBECONFIG": str(closed)})
    assert unreachable.exit_code == 5, unreachable.stderr
    refused = tmp_path / "refused.kubeconfig"
    refused.write_text(closed.read_text().replace("http://127.0.0.1:1", world.kube.url).replace("token: t",
                                                                                               "token: unknown"))
    unauthorized = doctor(world, env={**world.env, "KUBECONFIG": str(refused)})
    assert unauthorized.exit_code == 4, unauthorized.stderr
    assert "unauthorized" in unauthorized.stderr


def test_progress_goes_to_a_terminal_only(world):
    import os
    import pty
    import subprocess
    import sys

    exe = os.path.join(os.path.dirname(sys.executable), "kubectl-clearml")
    main, terminal = pty.openpty()
    try:
        process = subprocess.run([exe, "doctor", "--group", "install"], env={**os.environ, **world.env},
                                 stdout=subprocess.PIPE, stderr=terminal, timeout=60)
        os.close(terminal)
        terminal = -1
        seen = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(main)
        if terminal != -1:
            os.close(terminal)
    assert process.returncode == 0, process.stdout
    assert b"doctor: reading the agent install..." in seen
    assert b"doctor:" not in process.stdout  # the report itself has no progress in it


def test_values_files_a_template_the_server_rejects_and_a_lint_error(world, tmp_path):
    import yaml

    values = yaml.safe_load(world.sandbox.values_file.read_text())
    values["agentk8sglue"]["queues"]["red"]["templateOverrides"] = {
        # A number where the apiserver wants a string: `cannot unmarshal number into Go struct field` (400).
        "env": [{"name": "WORKERS", "value": 4}],
        "nodeSelectr": {"pool": "cpu"}}
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    result = doctor(world, "-f", str(path), "--group", "templates", "-o", "json")
    assert result.exit_code == 1, result.stderr
    found = checks(result)
    assert found["templates.valid"]["status"] == "fail" and found["templates.valid"]["objects"] == ["red"]
    assert found["templates.valid"]["detail"].startswith("red: ")
    assert found["templates.lint"]["status"] == "fail"
    assert "nodeSelectr: unknown key (did you mean 'nodeSelector'?)" in found["templates.lint"]["detail"]


def test_an_agent_server_that_cannot_be_reached_fails_the_login(world):
    def point_elsewhere(deployment):
        for env in deployment["spec"]["template"]["spec"]["containers"][0]["env"]:
            if env["name"] == "CLEARML_API_HOST":
                env["value"] = "http://127.0.0.1:1"

    world.kube.store.update("deployments", "clearml-agent", "clearml", point_elsewhere)
    credentials = checks(doctor(world, "--group", "credentials", "-o", "json"))
    found = credentials["credentials.login"]
    assert found["status"] == "fail"
    assert found["detail"].startswith("http://127.0.0.1:1 is not reachable from here")
    other = credentials["credentials.same-server"]
    assert other["status"] == "warn" and other["objects"] == [world.clearml.url, "http://127.0.0.1:1"]
    assert "--from-agent" in other["hint"]


def test_queue_narrows_the_queue_checks_and_an_unknown_queue_is_not_found(world):
    found = checks(doctor(world, "--queue", "2xGPU", "--group", "templates", "--group", "capacity", "-o", "json"))
    assert found["templates.valid"]["detail"] == "1 queue template(s) pass the server's dry-run"
    assert found["capacity.fit"]["detail"] == "every queue's pod fits now (1 queues)"
    unknown = doctor(world, "--queue", "2xgpu-typo")
    assert unknown.exit_code == 3
    assert "queue '2xgpu-typo' is not in the agent's configuration" in unknown.stderr


def test_deployment_unavailable_image_pull_missing_queue_worker_and_dashboard(world):
    from kubectl_clearml.adapters.clearml import ClearmlClient
    from kubectl_clearml.adapters.credentials import Credentials
    from tests.glue.glue_harness import wait_for

    # A new agent image that cannot be pulled, rolled out with Recreate: the sandbox's Deployment controller
    # and kubelet take the old pod away and leave the new one in ImagePullBackOff, the Deployment unavailable.
    store = world.kube.store
    bad = "allegroai/clearml-agent-k8s-does-not-exist:nope"

    def roll(d: dict) -> None:
        d["spec"]["strategy"] = {"type": "Recreate"}
        d["spec"]["template"]["spec"]["containers"][0]["image"] = bad

    store.update("deployments", "clearml-agent", "clearml", roll)

    def pulling() -> bool:
        pods = [p for p in store.list("pods", "clearml") if p["metadata"]["name"].startswith("clearml-agent-")
                and not p["metadata"]["name"].startswith("clearml-agent-kc")]
        states = [c.get("state", {}).get("waiting", {}).get("reason") for p in pods
                  for c in (p.get("status") or {}).get("containerStatuses") or []]
        return states == ["ImagePullBackOff"]

    wait_for(pulling, timeout=30, what="the agent's new pod in ImagePullBackOff")
    wait_for(lambda: (store.get("deployments", "clearml-agent", "clearml").get("status") or {})
             .get("availableReplicas", 0) == 0, what="the agent unavailable")
    state = world.clearml.state
    with state.lock:
        del state.queues[world.world.queue_ids["GPUshm"]]
    client = ClearmlClient(Credentials(world.clearml.url, world.clearml.access_key, world.clearml.secret_key))
    client.call("workers.register", {"worker": "clearml-agent", "queues": [world.world.queue_ids["red"]]})
    found = checks(doctor(world, "-o", "json"))
    assert found["install.deployment"]["status"] == "fail"
    assert found["install.deployment"]["detail"] == ("Deployment clearml-agent: 0/1 available (Deployment does not "
                                                     "have minimum availability.)")
    pod_detail = found["install.pod"]["detail"]  # the kubelet's pull back-off alternates the two reasons
    assert found["install.pod"]["status"] == "fail"
    assert ": ImagePullBackOff: Back-off pulling" in pod_detail or ": ErrImagePull: rpc error" in pod_detail
    assert found["queues.exist"]["status"] == "warn"  # createQueues: true, the agent makes it at start
    assert found["queues.exist"]["objects"] == ["GPUshm"] and "createQueues" in found["queues.exist"]["hint"]
    assert found["queues.worker"] == {"id": "queues.worker", "group": "queues", "status": "ok",
                                      "detail": "worker clearml-agent is reporting", "hint": "", "objects": []}
    assert found["capacity.dashboard"]["status"] == "warn"
    assert "reportMax=24) is below the cluster's 28 GPUs" in found["capacity.dashboard"]["detail"]


def test_after_glue_install_the_install_checks_judge_our_glue(world):
    """`glue install` scales the agent to 0 and runs our run-glue Deployment: that is healthy, both is not."""
    from kubectl_clearml.core.glue_install import glue_name

    store = world.kube.store
    store.update("deployments", "clearml-agent", "clearml", lambda d: d["spec"].update(replicas=0))
    from tests.glue.glue_harness import wait_for

    ours = glue_name("clearml-agent")
    labels = {"app.kubernetes.io/name": "kubectl-clearml-glue", "app.kubernetes.io/instance": ours}
    # A Deployment the sandbox's controller and kubelet really run (an image the sandbox does not execute).
    store.add({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": ours, "namespace": "clearml"},
               "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                        "template": {"metadata": {"labels": labels},
                                     "spec": {"serviceAccountName": ours,
                                              "containers": [{"name": "glue", "image": "glue:test"}]}}}})
    wait_for(lambda: (store.get("deployments", ours, "clearml").get("status") or {}).get("availableReplicas") == 1,
             timeout=30, what="our glue available")
    wait_for(lambda: (store.get("deployments", "clearml-agent", "clearml").get("status") or {})
             .get("replicas", 0) == 0, timeout=30, what="the agent's pod gone")
    found = checks(doctor(world, "--group", "install", "--group", "rbac", "-o", "json"))
    assert found["rbac.agent"]["status"] == "fail"  # our glue's service account has no Role in this test
    assert found["rbac.agent"]["objects"] == [f"serviceaccount/{ours}"]
    assert found["install.deployment"]["status"] == "ok"
    assert found["install.deployment"]["detail"] == (f"served by kubectl-clearml's glue {ours}: 1/1 available "
                                                     "(the agent's clearml-agent scaled to 0)")
    assert found["install.pod"]["detail"].startswith(f"pod {ours}-") and " ready" in found["install.pod"]["detail"]
    store.update("deployments", "clearml-agent", "clearml", lambda d: d["spec"].update(replicas=1))
    both = checks(doctor(world, "--group", "install", "-o", "json"))["install.deployment"]
    assert both["status"] == "warn" and "two glues pull from the same queues" in both["detail"]
