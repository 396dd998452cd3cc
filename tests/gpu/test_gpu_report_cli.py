"""`kubectl clearml gpu-report` end to end over HTTP against the Kubernetes (and ClearML) emulators.

The cluster is seeded through the emulator's backdoor; every expected number is worked out in the comments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gpu.builders import A100, GPU, MIG1, MIG3, MIG_MIXED, gpu_labels, node, pod
from tests.helpers import run_cli

VALUES = {
    "agentk8sglue": {
        "createQueues": True,
        "orchestrationDashboard": {"gpu": {"reportMax": 24}},
        "basePodTemplate": {"resources": {"limits": {"memory": "1Gi"}}},
        "queues": {
            "1xGPU": {"templateOverrides": {"resources": {"limits": {GPU: 1}}}},
            "2xGPU": {"templateOverrides": {"resources": {"limits": {GPU: 2}}}},
            "mig": {"templateOverrides": {"resources": {"limits": {MIG1: 1}}}},
            "h100": {
                "templateOverrides": {
                    "nodeSelector": {"nvidia.com/gpu.product": "H100-SXM5-80GB"},
                    "resources": {"limits": {GPU: 1}},
                }
            },
        },
    }
}


def seed(kube: Any) -> None:
    """a100-1: 8 GPUs, 7 used (5 by a task pod, 2 by a notebook); a100-2: 8, cordoned, 0 used;
    mig: 14 x 1g.5gb (2 used) + 4 x 3g.20gb; t4: 4 GPUs (time-sliced x2 -> 8 slices), 8 used; cpu: none."""
    for obj in [
        node("a100-1", A100, {GPU: 8}),
        node("a100-2", A100, {GPU: 8}, cordoned=True),
        node("mig", MIG_MIXED, {GPU: 0, MIG1: 14, MIG3: 4}),
        node("t4", gpu_labels("Tesla-T4-SHARED", 4, **{"nvidia.com/gpu.replicas": "2"}), {GPU: 8}),
        node("cpu", {}, {}, taints=[{"key": "dedicated", "value": "system", "effect": "NoSchedule"}]),
    ]:
        kube.store.add(obj)
    pods = [
        pod("train", {GPU: 5}, node_name="a100-1", queue="1xgpu"),
        pod("notebook", {GPU: 1}, init_limits={GPU: 2}, node_name="a100-1"),  # max(init 2, app 1) = 2
        pod("old", {GPU: 8}, node_name="a100-2", phase="Succeeded"),  # terminal: not counted
        pod("triton", {MIG1: 2}, node_name="mig"),
        pod("render", {GPU: 8}, node_name="t4"),
        pod("waiting", {GPU: 2}, queue="2xgpu", phase="Pending"),
    ]
    for obj in pods:
        kube.store.add(obj)


@pytest.fixture
def env(kube: Any, tmp_path: Path) -> dict[str, str]:
    kube.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="ml")
    return {"KUBECONFIG": str(tmp_path / "kubeconfig"), "HOME": str(tmp_path)}


@pytest.fixture
def values_file(tmp_path: Path) -> str:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(VALUES))
    return str(path)


def run_json(args: list[str], env: dict[str, str]) -> Any:
    result = run_cli(["gpu-report", *args, "-o", "json"], env=env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_node_view(kube: Any, env: dict[str, str]) -> None:
    seed(kube)
    rows = {(r["name"], r["resource"]): r for r in run_json(["--by", "node"], env)["items"]}
    assert sorted(rows) == [
        ("a100-1", GPU),
        ("a100-2", GPU),
        ("mig", MIG1),
        ("mig", MIG3),
        ("t4", GPU),
    ]  # no CPU node without --all-nodes
    a100 = rows[("a100-1", GPU)]
    assert (a100["allocatable"], a100["requested"], a100["free"]) == (8, 7, 1)
    assert (a100["requestedByClearml"], a100["requestedByOthers"]) == (5, 2)
    assert rows[("a100-2", GPU)]["requested"] == 0  # the Succeeded pod is not counted
    assert rows[("a100-2", GPU)]["flags"] == ["cordoned"]
    assert rows[("mig", MIG1)]["product"] == "A100-SXM4-40GB-MIG-1g.5gb"
    assert (rows[("mig", MIG1)]["free"], rows[("mig", MIG3)]["free"]) == (12, 4)
    assert (rows[("t4", GPU)]["mode"], rows[("t4", GPU)]["product"], rows[("t4", GPU)]["physicalGpus"]) == (
        "time-sliced",
        "Tesla-T4-SHARED",
        4,
    )
    everything = run_json(["--by", "node", "--all-nodes"], env)["items"]
    cpu = next(r for r in everything if r["name"] == "cpu")
    assert (cpu["resource"], cpu["flags"], cpu["taints"]) == (None, ["tainted"], ["dedicated=system:NoSchedule"])


def test_node_table_and_label_selector(kube: Any, env: dict[str, str]) -> None:
    seed(kube)
    result = run_cli(["gpu-report", "--by", "node", "-l", "nvidia.com/gpu.product=A100-SXM4-40GB"], env=env)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "NODE", "PRODUCT", "CAPACITY", "ALLOCATABLE", "REQUESTED", "FREE", "CLEARML", "OTHER", "STATUS",
    ]  # fmt: skip
    assert [line.split()[0] for line in lines[1:]] == ["a100-1", "a100-2", "mig", "mig"]
    assert lines[1].split() == ["a100-1", "A100-SXM4-40GB", "8", "8", "7", "1", "5", "2", "Ready"]
    assert lines[2].split()[-1] == "Ready,cordoned"


def test_product_view_largest_block_skips_cordoned_nodes(kube: Any, env: dict[str, str]) -> None:
    seed(kube)
    rows = {r["product"]: r for r in run_json(["--by", "product"], env)["items"]}
    a100 = rows["A100-SXM4-40GB"]
    # Free 1 (a100-1) + 8 (a100-2, cordoned): 9 in total, but only 1 usable on one node.
    assert (a100["nodes"], a100["allocatable"], a100["requested"], a100["free"]) == (2, 16, 7, 9)
    assert (a100["largestFreeBlock"], a100["largestFreeBlockNode"]) == (1, "a100-1")
    assert rows["A100-SXM4-40GB-MIG-1g.5gb"]["largestFreeBlock"] == 12
    assert rows["Tesla-T4-SHARED"]["free"] == 0


def test_queue_view_from_values_file_without_clearml(kube: Any, env: dict[str, str], values_file: str) -> None:
    seed(kube)
    result = run_cli(["gpu-report", "--by", "queue", "-f", values_file, "-o", "json"], env=env)
    assert result.exit_code == 0, result.stderr
    assert "ClearML unavailable, PENDING shows '-'" in result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)["items"]}
    one = rows["1xGPU"]
    # Eligible: a100-1 and t4 (a100-2 is cordoned, mig has no nvidia.com/gpu, cpu is tainted); 1 fits on a100-1.
    assert (one["verdict"], one["fitNow"], one["eligibleNodes"]) == ("OK", 1, ["a100-1", "t4"])
    assert (one["pendingTasks"], one["runningPods"]) == (None, 1)
    two = rows["2xGPU"]
    assert two["verdict"] == "WAITING FOR GPUS"
    assert (
        two["why"]
        == "needs 2 nvidia.com/gpu per pod, at most 1 free on one eligible node (a100-1); 1 task pod(s) pending"
    )
    assert two["pendingPods"][0]["reason"] == (
        "0/5 nodes are available: 1 node(s) had untolerated taint {dedicated: system}, "
        "1 node(s) were unschedulable, 3 Insufficient nvidia.com/gpu."
    )
    assert (rows["mig"]["verdict"], rows["mig"]["fitNow"], rows["mig"]["gpusPerPod"]) == ("OK", 12, {MIG1: 1})
    h100 = rows["h100"]
    assert h100["verdict"] == "NO ELIGIBLE NODE"
    assert h100["why"] == (
        "0/5 nodes are available: 1 node(s) had untolerated taint {dedicated: system}, "
        "1 node(s) were unschedulable, 3 node(s) didn't match Pod's node affinity/selector."
    )
    table = run_cli(["gpu-report", "--by", "queue", "-f", values_file], env=env)
    header = table.stdout.splitlines()[0].split()
    assert header[:8] == ["QUEUE", "GPUS/POD", "ELIGIBLE", "FIT-NOW", "PENDING", "RUNNING", "POD-PENDING", "VERDICT"]
    mig_row = next(line for line in table.stdout.splitlines() if line.startswith("mig "))
    assert mig_row.split()[:5] == ["mig", "1", "mig-1g.5gb", "1", "12"]


def test_queue_view_with_clearml_pending_counts(kube: Any, clearml: Any, env: dict[str, str], values_file: str) -> None:
    seed(kube)
    clearml.state.create_queue("1xGPU")
    clearml.state.create_queue("2xGPU")
    for name in ("a", "b", "c"):
        clearml.state.create_task(name, queue="1xGPU")
    env = {**env, **clearml.env()}
    rows = {r["name"]: r for r in run_json(["--by", "queue", "-f", values_file], env)["items"]}
    assert rows["1xGPU"]["pendingTasks"] == 3
    assert rows["1xGPU"]["why"] == "room for 1 more pod(s) on 1 of 2 eligible node(s); 3 task(s) queued"
    assert rows["2xGPU"]["pendingTasks"] == 0
    # "mig" and "h100" were never created on the server: nothing can be enqueued there.
    assert rows["mig"]["verdict"] == "MISCONFIGURED"
    assert "does not exist on the ClearML server" in rows["mig"]["why"]


def test_default_report_is_products_queues_and_dashboard(kube: Any, env: dict[str, str], values_file: str) -> None:
    seed(kube)
    result = run_cli(["gpu-report", "-f", values_file, "--no-clearml"], env=env)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.index("PRODUCT") < out.index("QUEUE")
    # Physical GPUs from gpu.count: 8 + 8 + 4 (MIG) + 4 (T4, shared x2) = 24 = reportMax.
    assert (
        "dashboard max GPUs (agentk8sglue.orchestrationDashboard.gpu.reportMax=24) matches the cluster's 24 GPUs" in out
    )
    assert "4 GPU node(s), 24 GPU(s): nvidia.com/gpu 15/24 requested, 9 free" in out
    doc = run_json(["-f", values_file, "--no-clearml"], env)
    assert doc["kind"] == "GpuReport"
    assert doc["cluster"]["physicalGpus"] == 24
    assert doc["cluster"]["dashboardReportMaxGpu"] == 24
    assert {q["name"] for q in doc["queues"]} == {"1xGPU", "2xGPU", "mig", "h100"}


def test_use_is_cluster_wide_and_task_pods_come_from_the_namespace(
    kube: Any, env: dict[str, str], values_file: str
) -> None:
    seed(kube)
    other = pod("elsewhere", {GPU: 1}, node_name="a100-1", queue="1xgpu")
    other["metadata"]["namespace"] = "research"
    kube.store.add(other)
    rows = {r["name"]: r for r in run_json(["--by", "node"], env)["items"] if r["resource"] == GPU}
    assert rows["a100-1"]["requested"] == 8  # 7 + the pod in "research": use is counted in every namespace
    queues = {r["name"]: r for r in run_json(["--by", "queue", "-f", values_file, "--no-clearml"], env)["items"]}
    assert queues["1xGPU"]["runningPods"] == 1  # the kubeconfig's namespace (ml) only
    assert queues["1xGPU"]["verdict"] == "WAITING FOR GPUS"  # a100-1 is now full, t4 too
    everywhere = run_json(["--by", "queue", "-f", values_file, "--no-clearml", "-A"], env)["items"]
    assert next(r for r in everywhere if r["name"] == "1xGPU")["runningPods"] == 2


def test_queue_view_needs_an_agent(kube: Any, env: dict[str, str]) -> None:
    seed(kube)
    result = run_cli(["gpu-report", "--by", "queue", "--no-clearml"], env=env)
    assert result.exit_code == 3
    assert "kubectl clearml: error:" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_output_format_is_a_usage_error(kube: Any, env: dict[str, str]) -> None:
    result = run_cli(["gpu-report", "-o", "csv"], env=env)
    assert result.exit_code == 2
    assert "unsupported output format 'csv'" in result.stderr


def test_output_name_lists_each_object_once(kube: Any, env: dict[str, str], values_file: str) -> None:
    # README: every read command takes -o name. The MIG node has two rows (one per profile) but one name.
    seed(kube)
    nodes = run_cli(["gpu-report", "--by", "node", "-o", "name"], env=env)
    assert nodes.exit_code == 0, nodes.stderr
    assert nodes.stdout.splitlines() == ["node/a100-1", "node/a100-2", "node/mig", "node/t4"]
    queues = run_cli(["gpu-report", "--by", "queue", "-f", values_file, "--no-clearml", "-o", "name"], env=env)
    assert queues.stdout.splitlines() == ["queue/1xGPU", "queue/2xGPU", "queue/h100", "queue/mig"]  # values file order
    both = run_cli(["gpu-report", "-f", values_file, "--no-clearml", "-o", "name"], env=env)
    assert both.stdout.splitlines() == [
        "product/A100-SXM4-40GB",
        "product/A100-SXM4-40GB-MIG-1g.5gb",
        "product/A100-SXM4-40GB-MIG-3g.20gb",
        "product/Tesla-T4-SHARED",
        *queues.stdout.splitlines(),
    ]


def test_no_matching_gpu_node_prints_no_bare_header(kube: Any, env: dict[str, str], values_file: str) -> None:
    seed(kube)
    result = run_cli(["gpu-report", "-f", values_file, "--no-clearml", "-l", "nvidia.com/gpu.product=none"], env=env)
    assert result.exit_code == 0, result.stderr
    assert "PRODUCT" not in result.stdout and "No GPU nodes found." in result.stderr
    assert result.stdout.startswith("QUEUE")
    # -l narrows the view only: the summary is the whole cluster's (issue 15 item 5).
    assert "0 GPU node(s)" not in result.stdout and "narrows the node and product views to 0 of" in result.stderr


def test_a_named_release_that_does_not_exist_is_not_found(kube: Any, env: dict[str, str]) -> None:
    # As in `queues`: a --release the user named is not a note over a report without queues.
    seed(kube)
    result = run_cli(["gpu-report", "--release", "nope", "--no-clearml"], env=env)
    assert result.exit_code == 3, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "kubectl clearml: error: no deployed Helm release named 'nope' (namespace ml): check the name with "
        "'helm list -n ml', or omit --release"
    ]
    found_none = run_cli(["gpu-report", "--no-clearml"], env=env)  # no release asked for: the report, with a note
    assert found_none.exit_code == 0
    assert "kubectl clearml: note: no queue view:" in found_none.stderr


def test_lists_are_paginated_and_terminal_pods_filtered_by_the_server(kube: Any, env: dict[str, str]) -> None:
    seed(kube)
    for i in range(1100):  # 1100 + the 5 live seed pods = 3 pages of 500; the Succeeded one never leaves
        kube.store.add(pod(f"filler-{i:04d}", {GPU: 0}, node_name="cpu"))
    kube.requests.clear()
    rows = {r["name"]: r for r in run_json(["--by", "node"], env)["items"] if r["resource"] == GPU}
    assert rows["a100-2"]["requested"] == 0
    pod_lists = [r for r in kube.requests if r.path == "/api/v1/pods"]
    assert len(pod_lists) == 3
    assert all(r.query.get("limit") == "500" for r in pod_lists)
    assert all(r.query.get("fieldSelector") == "status.phase!=Succeeded,status.phase!=Failed" for r in pod_lists)
    assert [bool(r.query.get("continue")) for r in pod_lists] == [False, True, True]
    node_lists = [r for r in kube.requests if r.path == "/api/v1/nodes"]
    assert [r.query.get("limit") for r in node_lists] == ["500"]


def test_forbidden_cluster_wide_pods_fall_back_to_the_namespace(kube: Any, env: dict[str, str]) -> None:
    seed(kube)
    other = pod("elsewhere", {GPU: 1}, node_name="a100-1")
    other["metadata"]["namespace"] = "research"
    kube.store.add(other)
    kube.deny("list", "pods", "research")  # also forbids the cluster-wide list, as RBAC would
    result = run_cli(["gpu-report", "--by", "node", "-o", "json"], env=env)
    assert result.exit_code == 0, result.stderr
    assert "GPU use counts only the pods of namespace ml, so free GPUs may be overstated" in result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)["items"] if r["resource"] == GPU}
    assert rows["a100-1"]["requested"] == 7  # the pod in "research" could not be seen


def test_a_wrong_clearml_setting_is_bad_input_not_a_note(kube: Any, env: dict[str, str], values_file: str) -> None:
    # ClearML is optional, but a setting the user gave that cannot work is an error (as in `queues`).
    result = run_cli(["gpu-report", "-f", values_file, "--api-host", "ftp://clearml.example.com"], env=env)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        "kubectl clearml: error: the ClearML API host must be an http(s) URL"
    )
    assert result.stdout == ""


def test_wide_queue_table_says_when_a_pending_pod_has_no_scheduler_message(
    kube: Any, env: dict[str, str], values_file: str
) -> None:
    # A task pod not bound yet that would fit now carries no PodScheduled message; the cell said "None".
    seed(kube)
    kube.store.add(pod("fresh", {GPU: 1}, queue="1xgpu", phase="Pending"))
    result = run_cli(["gpu-report", "--by", "queue", "-f", values_file, "--no-clearml", "-o", "wide"], env=env)
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("1xGPU "))
    assert row.endswith("fresh: not scheduled yet")
    assert "None" not in result.stdout


def test_a_queue_the_agent_names_by_id_exists_in_clearml(kube: Any, clearml: Any, env: dict[str, str], tmp_path: Path) -> None:
    # The agent takes an id-looking queue entry as the queue's id; it is not "missing on the ClearML server".
    seed(kube)
    queue_id = clearml.state.create_queue("research")
    clearml.state.create_task("a", queue="research")
    values = tmp_path / "by-id.yaml"
    values.write_text(f"agentk8sglue:\n  queue: {queue_id}\n  basePodTemplate:\n    resources: {{limits: {{{GPU}: 1}}}}\n")
    (row,) = run_json(["--by", "queue", "-f", str(values)], {**env, **clearml.env()})["items"]
    assert (row["name"], row["pendingTasks"], row["verdict"]) == (queue_id, 1, "OK")
