"""Pure decisions of the glue loop (core/glue_policy.py), checked as properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kubectl_clearml.core import glue_policy as policy

STATUSES = ["created", "queued", "in_progress", "stopped", "failed", "completed", "published", "closed"]
TASK_IDS = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)


def pod(phase="Pending", *, waiting=None, message="", unschedulable=None, exit_code=None, deleting=False):
    status: dict = {"phase": phase}
    cs: dict = {"name": "c", "state": {}}
    if waiting:
        cs["state"]["waiting"] = {"reason": waiting, "message": message}
    if exit_code is not None:
        cs["state"]["terminated"] = {"exitCode": exit_code, "reason": "Error" if exit_code else "Completed"}
    status["containerStatuses"] = [cs]
    if unschedulable:
        status["conditions"] = [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": unschedulable}
        ]
    meta: dict = {
        "name": "clearml-id-" + "a" * 32,
        "labels": {"clearml-task-id": "a" * 32, "clearml-agent-queue": "q1"},
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": status}


@given(cluster=st.text(max_size=30), ns=st.text(min_size=1, max_size=30), queues=st.lists(st.text(max_size=10)))
def test_worker_id_is_stable_and_order_free(cluster, ns, queues):
    first = policy.default_worker_id(cluster, ns, queues)
    assert first == policy.default_worker_id(cluster, ns, list(reversed(queues)))
    assert first.startswith("k8s-glue-")
    assert len(first) <= 9 + 40 + 1 + 8


def test_worker_id_differs_per_namespace_and_queues():
    a = policy.default_worker_id("https://c", "ml", ["a"])
    assert a != policy.default_worker_id("https://c", "ml2", ["a"])
    assert a != policy.default_worker_id("https://c", "ml", ["a", "b"])


@given(
    total=st.integers(0, 50),
    in_queue=st.integers(0, 50),
    max_pods=st.none() | st.integers(0, 50),
    limit=st.none() | st.integers(0, 50),
)
def test_free_slots_never_exceeds_any_limit(total, in_queue, max_pods, limit):
    in_queue = min(in_queue, total)
    limits = {} if limit is None else {"q": limit}
    room = policy.free_slots("q", total, {"q": in_queue}, max_pods, limits)
    assert room >= 0
    if max_pods is not None:
        assert total + room <= max(max_pods, total)
    if limit is not None:
        assert in_queue + room <= max(limit, in_queue)
    if max_pods is None and limit is None:
        assert room > 1000


@given(status=st.none() | st.sampled_from(STATUSES), has_pod=st.booleans())
def test_entry_action_launches_only_queued_tasks_without_pods(status, has_pod):
    action = policy.entry_action(status, has_pod)
    assert (action == policy.LAUNCH) == (status == "queued" and not has_pod)
    if status is not None and has_pod:
        assert action == policy.POP_ONLY  # a pod exists: never a second one


def test_create_errors_are_sorted():
    rbac = 'pods is forbidden: User "system:serviceaccount:ml:glue" cannot create resource "pods" in API group ""'
    assert policy.classify_create_error("auth", rbac) == policy.FATAL
    assert policy.classify_create_error("auth", 'admission webhook "x" denied the request: no') == policy.PERMANENT
    assert policy.classify_create_error("auth", "pods is forbidden: exceeded quota: q, requested: cpu=1") == (
        policy.TRANSIENT
    )
    assert policy.classify_create_error("invalid", "spec.containers: Required value") == policy.PERMANENT
    assert policy.classify_create_error("conflict", 'pods "x" already exists') == policy.ALREADY
    assert policy.classify_create_error("server", "etcd timeout") == policy.TRANSIENT
    assert policy.classify_create_error("unreachable", "") == policy.TRANSIENT
    assert policy.classify_create_error("notfound", 'namespaces "clearm" not found') == policy.FATAL


@given(failures=st.integers(0, 100), jitter=st.floats(0, 0.999))
def test_backoff_grows_and_is_capped(failures, jitter):
    delay = policy.backoff_delay(failures, 0.5, 30.0, jitter)
    assert 0 <= delay <= 30.0
    if failures:
        assert delay >= 0.25
        assert delay <= policy.backoff_delay(failures + 1, 0.5, 30.0, 0.999) or delay >= 15.0


def test_pending_reason_is_reported():
    view = policy.pod_view(pod(unschedulable="0/5 nodes are available: 5 Insufficient nvidia.com/gpu."))
    action = policy.decide_pod(view, "queued")
    assert action == policy.PodAction(
        policy.MESSAGE, "pending: 0/5 nodes are available: 5 Insufficient nvidia.com/gpu."
    )
    assert policy.decide_pod(policy.pod_view(pod(waiting="ContainerCreating")), "queued").kind == policy.NOTHING


@given(reason=st.sampled_from(sorted(policy.IMAGE_ERRORS)), status=st.sampled_from(STATUSES))
def test_image_errors_fail_then_delete(reason, status):
    action = policy.decide_pod(policy.pod_view(pod(waiting=reason, message="not found")), status)
    if status == "stopped":
        assert action.kind == policy.ABORT
    elif status in policy.TERMINAL_STATUSES:
        assert action.kind == policy.DELETE
    else:
        assert action.kind == policy.FAIL_AND_DELETE
        assert reason in action.reason


@given(phase=st.sampled_from(["Pending", "Running"]), message=st.sampled_from(["", "stopping", "x"]))
def test_aborted_tasks_lose_their_pod_pending_or_running(phase, message):
    view = policy.pod_view(pod(phase))
    assert policy.decide_pod(view, "stopped", "").kind == policy.ABORT
    running = policy.decide_pod(view, "in_progress", message).kind
    assert (running == policy.ABORT) == (message == "stopping")


@given(phase=st.sampled_from(["Pending", "Running"]), requires_queue=st.booleans(), status=st.sampled_from(STATUSES))
def test_a_dequeued_task_loses_only_a_pod_whose_agent_would_refuse_it(phase, requires_queue, status):
    manifest = pod(phase)
    execute = "exec python -m clearml_agent execute --full-monitoring " + ("--require-queue " if requires_queue else "")
    manifest["spec"] = {"containers": [{"name": "c", "command": ["/bin/bash"], "args": ["-c", execute + "--id x"]}]}
    action = policy.decide_pod(policy.pod_view(manifest), status, "")
    # submit-pod of a created task drops --require-queue: that pod is meant to run it, and stays.
    assert (action.kind == policy.DELETE and "dequeued" in action.reason) == (status == "created" and requires_queue)


@given(code=st.integers(0, 255), status=st.sampled_from(STATUSES))
def test_ended_pod_settles_a_running_task_by_exit_code(code, status):
    view = policy.pod_view(pod("Succeeded" if code == 0 else "Failed", exit_code=code))
    action = policy.decide_pod(view, status)
    if status == "in_progress":
        assert action.kind == (policy.COMPLETE if code == 0 else policy.FAIL)
    elif status == "queued":
        assert action.kind == policy.FAIL
    else:
        assert action.kind == policy.NOTHING
    # Queued again (an entry in its queue): the pod is the previous run's; only in_progress is settled.
    again = policy.decide_pod(view, status, queued_again=True).kind
    assert again == (action.kind if status == "in_progress" else policy.NOTHING)


def test_deleting_pods_are_left_alone():
    assert policy.decide_pod(policy.pod_view(pod(deleting=True)), "stopped").kind == policy.NOTHING


@given(status=st.none() | st.sampled_from(STATUSES))
def test_vanished_pod_never_strands_its_task(status):
    action = policy.decide_vanished(status)
    if status == "queued":
        assert action.kind == policy.REQUEUE
    elif status == "in_progress":
        assert action.kind == policy.FAIL


@given(
    tasks=st.lists(
        st.fixed_dictionaries(
            {
                "id": TASK_IDS,
                "status": st.sampled_from(["queued", "in_progress"]),
                "execution": st.fixed_dictionaries({"queue": st.sampled_from(["q1", "q2", "other"])}),
                "last_worker": st.sampled_from(["", "w:x", "other:x"]),
            }
        ),
        max_size=20,
        unique_by=lambda t: t["id"],
    ),
    data=st.data(),
)
def test_orphans_are_only_ours_and_unaccounted(tasks, data):
    ids = [t["id"] for t in tasks]
    queued = set(data.draw(st.lists(st.sampled_from(ids), unique=True))) if ids else set()
    podded = set(data.draw(st.lists(st.sampled_from(ids), unique=True))) if ids else set()
    found = policy.orphan_candidates(tasks, ["q1", "q2"], queued, podded, "w")
    by_id = {t["id"]: t for t in tasks}
    for tid, status in found.items():
        task = by_id[tid]
        assert tid not in queued and tid not in podded
        assert task["execution"]["queue"] in ("q1", "q2")
        assert status == "queued" or task["last_worker"].startswith("w:")
    # Two sightings are needed before anything is repaired.
    assert policy.confirmed_orphans({}, found) == {}
    assert policy.confirmed_orphans(found, found) == found


@given(
    holder=st.sampled_from(["", "me", "other"]),
    observed=st.floats(0, 200),
    now=st.floats(0, 200),
    renew=st.none() | st.floats(-1e9, 1e9),
)
def test_lease_is_taken_only_when_free_ours_or_unchanged_for_a_whole_duration(holder, observed, now, renew):
    spec = {"holderIdentity": holder, "leaseDurationSeconds": 15, "leaseTransitions": 3, "renewTime": renew}
    decision = policy.decide_lease(spec, "me", now, observed)
    # Whatever renewTime says (another machine's clock): only our own time since the change counts.
    if holder == "other" and observed + 15 > now:
        assert not decision.acquire
    else:
        assert decision.acquire
    if holder == "me":
        assert decision.transitions == 3
    assert policy.decide_lease(None, "me", now, observed).acquire


@given(
    phase=st.sampled_from(["Pending", "Running", "Succeeded", "Failed"]),
    waiting=st.sampled_from([None, "ErrImagePull"]),
)
def test_a_task_deleted_in_clearml_leaves_its_pod_alone(phase, waiting):
    view = policy.pod_view(pod(phase, waiting=waiting, exit_code=0 if phase == "Succeeded" else None))
    assert policy.decide_pod(view, "").kind == policy.NOTHING


# ---- clean-up of finished pods --------------------------------------------------------------------
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@given(parts=st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(sorted(UNITS))), min_size=1, max_size=4))
def test_durations_add_up_their_parts(parts):
    text = "".join(f"{n}{u}" for n, u in parts)
    assert policy.parse_duration(text) == sum(n * UNITS[u] for n, u in parts)
    assert policy.parse_duration(text.upper()) == policy.parse_duration(text)


def test_duration_special_forms():
    assert policy.parse_duration("0") == 0
    assert policy.parse_duration("90") == 90
    assert policy.parse_duration("1.5h") == 5400
    assert policy.parse_duration(" never ") is None


@given(text=st.text(max_size=12))
def test_bad_durations_are_refused_with_the_accepted_forms(text):
    try:
        seconds = policy.parse_duration(text)
    except ValueError as exc:
        assert "30m" in str(exc) and "never" in str(exc)
        return
    assert seconds is None or 0 <= seconds < float("inf")


def test_malformed_durations():
    for text in ("", "-1", "5x", "h", "30 m", "nan", "inf", "1h-5m", "soon"):
        try:
            policy.parse_duration(text)
        except ValueError:
            continue
        raise AssertionError(f"{text!r} accepted")


@given(
    phase=st.sampled_from(["Pending", "Running", "Succeeded", "Failed", "Unknown"]),
    status=st.sampled_from([*STATUSES, "", None]),
    ended=st.one_of(st.none(), st.floats(0, 1e9)),
    now=st.floats(0, 2e9),
    after=st.one_of(st.none(), st.floats(0, 1e6)),
    deleting=st.booleans(),
)
def test_cleanup_only_finished_pods_of_settled_tasks_after_the_keep_time(phase, status, ended, now, after, deleting):
    view = policy.pod_view(pod(phase, exit_code=0 if phase in ("Succeeded", "Failed") else None, deleting=deleting))
    due = policy.cleanup_due(view, status, ended, now, after)
    if due:
        assert view.finished and not deleting
        assert status == "" or status in ("completed", "failed", "stopped", "published", "closed")
        assert after is not None and ended is not None and ended + after <= now
    if status in ("queued", "in_progress", "created", None) or after is None or phase in ("Pending", "Running"):
        assert not due


def test_pod_view_carries_finished_at_and_uid():
    raw = pod("Failed", exit_code=137)
    raw["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"] = "2026-01-01T10:00:00Z"
    raw["metadata"]["uid"] = "u-1"
    view = policy.pod_view(raw)
    assert (view.finished_at, view.uid, view.exit_code) == ("2026-01-01T10:00:00Z", "u-1", 137)
    assert policy.pod_view(pod("Running")).finished_at == ""
