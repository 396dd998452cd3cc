"""Pure logic of doctor's checks (core/doctor.py) and why's verdicts (core/why.py): plain data, properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kubectl_clearml.core.doctor import (
    GROUPS,
    STATUSES,
    InstallFacts,
    Login,
    Missing,
    Snapshot,
    missing_references,
    run_checks,
    summary,
)
from kubectl_clearml.core.why import Position, TaskFacts, crash_cause, resolve_prefix, verdict

DEPLOYMENT = {"metadata": {"name": "agent"}, "spec": {"replicas": 1},
              "status": {"availableReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]}}
POD = {"metadata": {"name": "agent-1"}, "status": {"phase": "Running", "containerStatuses": [
    {"name": "k8s-glue", "ready": True, "restartCount": 0, "state": {"running": {}}}]}}


def install() -> InstallFacts:
    return InstallFacts("helm-release", "agent", "clearml-agent 5.3.1", "oss", DEPLOYMENT, "agent-sa")


def _maybe(value):
    return st.one_of(st.just(value), st.builds(Missing, st.sampled_from(["forbidden: no", "unavailable: down"])))


snapshots = st.builds(
    Snapshot,
    namespace=st.just("ml"),
    install=_maybe(install()),
    glue_pods=_maybe([POD]),
    served=_maybe(["a", "b"]),
    uses_default_credentials=_maybe(False),
    login=_maybe(Login("http://clearml:8008", "ok")),
    agent_access=_maybe({"create pods": True, "delete pods": False}),
    own_access=_maybe({"list nodes": True}),
    queues=_maybe([{"id": "1", "name": "a", "entries": [{"task": "t1"}]},
                   {"id": "2", "name": "c", "entries": [{"task": "t2"}]},
                   {"id": "3", "name": "k8s_scheduler", "system_tags": ["k8s-glue"], "entries": [{"task": "t3"}]}]),
    workers=_maybe([]),
    task_pods=_maybe([]),
    dry_runs=_maybe({"a": None, "b": "Pod is invalid"}),
    lint=_maybe([]),
    references=_maybe({"a": [], "b": ["secret/x"]}),
    template_namespaces=_maybe({"a": "ml", "b": "other"}),
    gpu_reports=_maybe([]),
    dashboard=_maybe(None),
    shm=_maybe([]),
    shm_findings=_maybe({}),
)


@settings(max_examples=60, deadline=None)
@given(snapshots)
def test_checks_never_raise_and_keep_the_schema(snapshot):
    checks = run_checks(snapshot)
    ids = [c.id for c in checks]
    assert len(ids) == len(set(ids))
    for check in checks:
        assert check.status in STATUSES and check.group in GROUPS and check.id.startswith(check.group + ".")
        assert check.detail
        if check.status == "skipped":
            assert check.detail.startswith("skipped (") and check.hint == ""
        if check.status == "ok":
            assert check.hint == ""
    assert sum(summary(checks).values()) == len(checks)


def test_the_failures_this_snapshot_holds():
    snapshot = Snapshot("ml", install(), glue_pods=[POD], served=["a", "b"], uses_default_credentials=True,
                        login=Login("http://clearml.ml.svc.cluster.local:8008", "unreachable", "timed out"),
                        agent_access={"create pods": True, "delete pods": False},
                        queues=[{"id": "2", "name": "c", "entries": [{"task": "t2"}]}], workers=[],
                        references={"a": [], "b": ["secret/x"]}, template_namespaces={"a": "ml", "b": "other"})
    found = {c.id: c for c in run_checks(snapshot)}
    assert found["credentials.login"].status == "warn"  # cluster-internal: not reachable from a laptop
    assert "(a cluster-internal address)" in found["credentials.login"].detail
    assert found["credentials.default-keys"].status == "fail"
    assert found["rbac.agent"].detail == "service account agent-sa may not delete pods"
    assert found["queues.exist"].objects == ("a", "b")
    assert found["queues.unserved"].objects == ("c",)
    assert found["templates.references"].objects == ("secret/x",)
    assert found["templates.namespace"].detail == "b -> other"
    assert [c.group for c in run_checks(snapshot, ["rbac"])] == ["rbac", "rbac"]


def test_missing_references_reads_every_place_a_pod_names_an_object():
    pod = {"spec": {
        "imagePullSecrets": [{"name": "pull"}],
        "volumes": [{"name": "v1", "secret": {"secretName": "vol-secret"}}, {"name": "v2", "configMap": {"name": "cm"}},
                    {"name": "v3", "persistentVolumeClaim": {"claimName": "data"}}],
        "containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "env-secret"}},
                                                 {"configMapRef": {"name": "opt", "optional": True}}],
                        "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "agent-ac", "key": "k"}}}]}]}}
    existing = {"secret": {"agent-ac"}, "configmap": set()}  # PVCs could not be listed: not judged
    assert missing_references(pod, existing) == ["configmap/cm", "secret/env-secret", "secret/pull",
                                                 "secret/vol-secret"]


@given(st.lists(st.text("0123456789abcdef", min_size=4, max_size=8), max_size=12, unique=True),
       st.text("0123456789abcdef", min_size=1, max_size=5))
def test_resolve_prefix_is_unique_or_lists_every_candidate(ids, prefix):
    task, matching = resolve_prefix(prefix, [{"id": i} for i in ids])
    starting = [i for i in ids if i.startswith(prefix)]
    if task is not None:
        assert task["id"] == prefix or starting == [task["id"]]
    else:
        assert [m["id"] for m in matching] == starting and len(starting) != 1


@given(st.sampled_from(["queued", "in_progress", "failed", "completed", "stopped", "created", "published", "weird"]),
       st.booleans(), st.booleans(), st.sampled_from([None, "Pending", "Running", "Failed", "Succeeded"]))
def test_every_task_gets_a_verdict_line(status, enqueued, served, phase):
    pod = None if phase is None else {"metadata": {"name": "p"}, "status": {"phase": phase}}
    facts = TaskFacts({"id": "t", "status": status}, agent_known=True, served_entry="q" if served else None,
                      position=Position("1", "q", 1, 3, 60.0, False) if enqueued else None, pod=pod)
    found = verdict(facts)
    assert found.line and "\n" not in found.line
    if status in ("completed", "published", "stopped", "failed"):
        assert found.settled


def test_crash_causes_in_order_shm_oom_cuda():
    from kubectl_clearml.core.shm import find_shm_failures

    oom = {"status": {"containerStatuses": [{"state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}}
    assert crash_cause(TaskFacts({"id": "t"}, pod=oom))[0] == "OOMKilled"
    cuda = TaskFacts({"id": "t"}, log_lines=["step 1", "RuntimeError: CUDA error: device-side assert triggered"])
    assert crash_cause(cuda)[0] == "CUDA error: device-side assert triggered"
    shm = find_shm_failures("NCCL WARN Error while creating shared memory segment /dev/shm/nccl-1 (size 9)")
    both = TaskFacts({"id": "t"}, pod=oom, shm_failures=shm, served_entry="2xGPU")
    assert crash_cause(both) == ("NCCL /dev/shm too small", "kubectl clearml shm-fix 2xGPU --live (a Memory-backed "
                                                            "/dev/shm)")
    failed = TaskFacts({"id": "t", "status": "failed"}, pod=oom)
    assert verdict(failed).line == "failed: exit 137 (OOMKilled)"
