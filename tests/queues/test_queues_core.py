"""The pure queues view: counts, ages, reasons, served/template columns, stranded tasks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kubectl_clearml.core.podbuilder import safe_label_value
from kubectl_clearml.core.queues import (
    AgentTemplates,
    build_rows,
    human_age,
    parse_time,
    stranded_tasks,
    template_summary,
)

NOW = parse_time("2026-01-01T12:00:00+00:00") or 0.0


def pod(name, queue_id, phase, reason=None, queue_name=None, task=None):
    status = {"phase": phase}
    if reason == "Unschedulable":
        status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
    elif reason:
        status["containerStatuses"] = [{"state": {"waiting": {"reason": reason}}}]
    labels = {"clearml-agent-queue": queue_id, "clearml-task-id": task or name}
    if queue_name:
        labels["clearml-agent-queue-name"] = queue_name
    return {"metadata": {"name": f"clearml-id-{task or name}", "labels": labels}, "status": status}


QUEUES = [
    {
        "id": "q1",
        "name": "gpu",
        "entries": [{"task": "t1", "added": "2026-01-01T11:50:00"}, {"task": "t2", "added": "2026-01-01T11:59:00"}],
    },
    {"id": "q2", "name": "cpu", "entries": []},
    {"id": "q3", "name": "k8s_scheduler", "system_tags": ["k8s-glue"], "entries": [{"task": "t9", "added": None}]},
]


def test_rows_count_pending_age_pods_and_reason():
    pods = [
        pod("a", "q1", "Running"),
        pod("b", "q1", "Pending", "Unschedulable"),
        pod("c", "q1", "Pending", "Unschedulable"),
        pod("d", "q1", "Pending", "ImagePullBackOff"),
        pod("e", "q1", "Succeeded"),
    ]
    rows = build_rows(NOW, QUEUES, pods)
    assert [r["name"] for r in rows] == ["gpu", "cpu"]  # the hidden queue needs include_hidden
    gpu = rows[0]
    assert (gpu["pending"], gpu["oldest"], gpu["running"], gpu["podPending"]) == (2, "10m", 1, 3)
    assert gpu["podPendingReason"] == "Unschedulable"
    assert rows[1]["running"] == 0 and rows[1]["oldest"] is None


def test_unknown_sources_give_none_not_zero():
    rows = build_rows(NOW, QUEUES, pods=None, agent=None, workers=None)
    assert rows[0]["running"] is None and rows[0]["served"] is None and rows[0]["workers"] is None


def test_agent_only_mode_lists_served_queues():
    agent = AgentTemplates(served=("red", "blue"), base={"spec": {}}, effective={"red": {"spec": {}}})
    rows = build_rows(NOW, None, None, agent)
    assert [(r["name"], r["served"], r["pending"]) for r in rows] == [("red", True, None), ("blue", True, None)]
    assert rows[0]["template"] == "base"


def test_served_queue_missing_in_clearml_is_listed_as_not_existing():
    agent = AgentTemplates(served=("gpu", "newq"), base={})
    rows = build_rows(NOW, QUEUES, [], agent)
    assert [(r["name"], r["served"], r["exists"]) for r in rows] == [
        ("gpu", True, True),
        ("cpu", False, True),
        ("newq", True, False),
    ]


def test_pods_matched_by_safe_queue_name_when_ids_differ():
    rows = build_rows(
        NOW, [{"id": "new-id", "name": "My_Queue", "entries": []}], [pod("x", "old", "Running", queue_name="my-queue")]
    )
    assert rows[0]["running"] == 1


def test_template_summary():
    base = {"spec": {"containers": [{"resources": {"limits": {"memory": "1Gi"}}}]}}
    two_gpu = {
        "spec": {
            "containers": [
                {
                    "resources": {"limits": {"nvidia.com/gpu": 2, "memory": "2Gi"}},
                    "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
                }
            ],
            "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}],
        }
    }
    assert template_summary(base, base) == "base"
    assert template_summary(two_gpu, base) == "gpu=2 mem=2Gi shm=16Gi"


def test_stranded_tasks_in_hidden_queue_without_pod():
    assert stranded_tasks(QUEUES, []) == [{"queue": "k8s_scheduler", "queueId": "q3", "task": "t9"}]
    assert stranded_tasks(QUEUES, [pod("t9", "q1", "Running", task="t9")]) == []


@given(st.integers(min_value=0, max_value=10**8))
def test_human_age_is_monotonic_in_units(seconds):
    text = human_age(seconds)
    assert text is not None and text[:-1].isdigit() and text[-1] in "smhd"


@given(st.text(max_size=80))
def test_safe_label_value_is_a_valid_label_value(value):
    out = safe_label_value(value)
    assert len(out) <= 63
    assert all(ch.isascii() and (ch.isalnum() or ch == "-") for ch in out)
    assert out == out.lower()


def test_served_queues_resolve_like_the_agent_by_case_and_by_id():
    # The agent takes "GPU" for the queue "gpu" (case-insensitive) and an id-looking entry as the queue's id:
    # served, with that entry's template; no phantom "missing" row for the id.
    gpu_template = {"spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": 2}}}]}}
    agent = AgentTemplates(served=("GPU", "q2"), base={"spec": {}}, effective={"GPU": gpu_template, "q2": {"spec": {}}})
    rows = build_rows(NOW, QUEUES, [], agent)
    assert [(r["name"], r["served"], r["exists"], r["template"]) for r in rows] == [
        ("gpu", True, True, "gpu=2"),
        ("cpu", True, True, "base"),
    ]
