"""`kubectl clearml run-glue` through the real entry point: bad input, --dry-run, --once, logs, metrics."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest

from kubectl_clearml.glue.metrics import serve
from tests.glue.glue_harness import container_status, wait_for
from tests.helpers import run_cli


@pytest.fixture
def env(h):
    return {"KUBECONFIG": h.kubeconfig, **h.emu.env()}


def glue(args, env, tmp_path):
    return run_cli(["run-glue", "--poll-interval", "0.05", *args], env, home=str(tmp_path))


def test_unknown_queue_is_a_clear_error_and_nothing_moves(h, env, tmp_path):
    h.queue("cpu")
    tid = h.task("job", "cpu")
    result = glue(["--queue", "cpu", "--queue", "nope", "--once"], env, tmp_path)
    assert result.exit_code == 3, result.stderr
    assert "queue 'nope' not found" in result.stderr
    assert "Traceback" not in result.stderr
    assert h.entries("cpu") == [tid]
    assert h.pods() == []
    assert h.emu.state.worker_names() == []


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("foo: bar\n", "not a pod spec"),
        ("- just\n- a list\n", "not a mapping"),
        ("kind: Deployment\nspec: {}\n", "not a Pod"),
    ],
)
def test_template_that_is_not_a_pod_spec_is_refused_before_pulling(h, env, tmp_path, template, expected):
    h.queue("cpu")
    tid = h.task("job", "cpu")
    path = tmp_path / "template.yaml"
    path.write_text(template)
    result = glue(["--queue", "cpu", "--template", str(path), "--once"], env, tmp_path)
    assert result.exit_code == 2, result.stderr
    assert "pod template of queue 'cpu' is not usable" in result.stderr and expected in result.stderr
    assert h.entries("cpu") == [tid] and h.pods() == []


def test_forbidden_to_create_pods_exits_4_and_leaves_the_task_queued(h, env, tmp_path):
    h.queue("cpu")
    tid = h.task("job", "cpu")
    h.kube_emu.deny("create", "pods", h.namespace)
    result = glue(["--queue", "cpu", "--once"], env, tmp_path)
    assert result.exit_code == 4, result.stderr
    assert "forbidden" in result.stderr and "create" in result.stderr
    assert h.entries("cpu") == [tid] and h.status(tid)[0] == "queued" and h.pods() == []


def test_a_glue_namespace_that_does_not_exist_stops_the_glue_and_fails_no_task(h, env, tmp_path):
    """Every create answers 404 there: that is the glue's configuration, not the tasks' fault."""
    h.queue("cpu")
    tids = [h.task(f"job {i}", "cpu") for i in range(3)]
    h.kube_emu.api.strict_namespaces = True
    result = glue(["--queue", "cpu", "--once", "-n", "clearm"], env, tmp_path)
    assert result.exit_code == 3, result.stderr
    assert "namespace 'clearm' not found" in result.stderr.splitlines()[-1], result.stderr
    assert "Traceback" not in result.stderr
    assert h.entries("cpu") == tids
    assert [h.status(t)[0] for t in tids] == ["queued"] * 3
    assert h.emu.state.worker_names() == []


def test_dry_run_prints_the_heads_and_pulls_nothing(h, env, tmp_path):
    h.queue("gpu")
    h.queue("cpu")
    gpu = [h.task(f"gpu job {i}", "gpu") for i in range(2)]
    cpu = h.task("cpu job", "cpu")
    result = glue(["--queue", "gpu", "--queue", "cpu", "--max-pods", "2", "--dry-run"], env, tmp_path)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["QUEUE", "TASK", "NAME", "ACTION"]
    assert f"clearml-id-{gpu[0]}" in result.stdout and f"clearml-id-{gpu[1]}" in result.stdout
    assert any(cpu in line and "wait (pod limit)" in line for line in lines)
    assert h.entries("gpu") == gpu and h.entries("cpu") == [cpu]
    assert h.pods() == []
    assert h.emu.requests.count("queues.get_next_task") == 0


def test_once_drains_the_queues_and_exits(h, env, tmp_path):
    h.queue("cpu")
    tids = [h.task(f"job {i}", "cpu") for i in range(5)]
    result = glue(["--queue", "cpu", "--once", "--log-format", "json"], env, tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "5 launched" in result.stdout
    assert all(h.pod_of(t) for t in tids) and h.entries("cpu") == []
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any("run-glue started" in r["msg"] for r in records)
    assert h.emu.secret_key not in result.stderr + result.stdout
    assert h.emu.state.worker_names() == []  # unregistered on exit


def test_no_secret_in_pod_specs(h, env, tmp_path):
    h.queue("cpu")
    tid = h.task("job", "cpu")
    result = glue(["--queue", "cpu", "--once", "--credentials-secret", "agent-keys"], env, tmp_path)
    assert result.exit_code == 0, result.stderr
    pod = h.pod_of(tid)
    assert h.emu.secret_key not in json.dumps(pod)
    env_vars = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert env_vars["CLEARML_API_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "agent-keys"


def test_metrics_endpoint_in_prometheus_text_format(h):
    h.queue("cpu")
    h.task("job", "cpu")
    engine = h.start(h.engine(["cpu"]))
    server = serve(engine.metrics, 0, host="127.0.0.1")
    try:
        wait_for(lambda: engine.summary.launched == 1)
        port = server.server_address[1]
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        server.shutdown()
    assert "# TYPE clearml_glue_tasks_launched_total counter" in body
    assert 'clearml_glue_tasks_launched_total{queue="cpu"} 1' in body
    assert "clearml_glue_pods_active" in body


@pytest.mark.parametrize("value", ["soon", "-5m", "30 m", ""])
def test_malformed_delete_finished_after_is_a_usage_error(h, env, tmp_path, value):
    h.queue("cpu")
    tid = h.task("job", "cpu")
    result = glue(["--queue", "cpu", "--once", "--delete-finished-after", value], env, tmp_path)
    assert result.exit_code == 2, result.stderr
    assert "--delete-finished-after" in result.stderr and "30m" in result.stderr
    assert "Traceback" not in result.stderr
    assert h.entries("cpu") == [tid] and h.pods() == []


def test_once_with_zero_keep_time_deletes_finished_pods_of_settled_tasks(h, env, tmp_path):
    h.queue("cpu")
    done = h.task("done", "cpu")
    assert glue(["--queue", "cpu", "--once"], env, tmp_path).exit_code == 0
    h.kube_emu.store.update_pod_status(h.namespace, f"clearml-id-{done}", container_status("Succeeded", exit_code=0))
    h.clearml().call("tasks.completed", {"task": done, "force": True})
    kept = glue(["--queue", "cpu", "--once"], env, tmp_path)  # default 1h, and no finishedAt: kept
    assert kept.exit_code == 0, kept.stderr
    assert h.pod_of(done) is not None
    result = glue(["--queue", "cpu", "--once", "--delete-finished-after", "0"], env, tmp_path)
    assert result.exit_code == 0, result.stderr
    assert h.pod_of(done) is None


def test_metrics_port_in_use_is_a_usage_error_before_pulling(h, env, tmp_path):
    h.queue("cpu")
    tid = h.task("job", "cpu")
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = glue(["--queue", "cpu", "--once", "--metrics-port", str(port)], env, tmp_path)
    assert result.exit_code == 2, result.stderr
    assert f"cannot serve metrics on port {port}" in result.stderr and "Traceback" not in result.stderr
    assert h.entries("cpu") == [tid] and h.pods() == []
    assert h.emu.state.worker_names() == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--metrics-port", "99999"], "--metrics-port"),
        (["--worker-id", ""], "the worker id is empty"),
        (["--queue", " "], "an empty queue name"),
    ],
)
def test_malformed_values_are_usage_errors(h, env, tmp_path, args, expected):
    h.queue("cpu")
    tid = h.task("job", "cpu")
    result = glue(["--queue", "cpu", "--once", *args], env, tmp_path)
    assert result.exit_code == 2, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert h.entries("cpu") == [tid] and h.pods() == []


def test_summary_as_json_and_output_formats_checked_before_starting(h, env, tmp_path):
    h.queue("cpu")
    tids = [h.task(f"job {i}", "cpu") for i in range(2)]
    refused = glue(["--queue", "cpu", "--once", "-o", "name"], env, tmp_path)
    assert refused.exit_code == 2 and "unsupported output format 'name'" in refused.stderr
    assert h.pods() == [] and h.entries("cpu") == tids
    result = glue(["--queue", "cpu", "--once", "-o", "json"], env, tmp_path)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"launched": 2, "failed": 0, "finishedPodsDeleted": 0, "transientErrors": 0}
    text = glue(["--queue", "cpu", "--once"], env, tmp_path)
    assert text.stdout == "run-glue: 0 launched, 0 failed, 0 finished pods deleted, 0 transient errors\n"


def test_unreachable_clearml_with_once_fails_after_one_round_of_retries(h, env, tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    h.queue("cpu")
    started = time.monotonic()
    result = glue(["--queue", "cpu", "--once", "--api-host", dead, "--request-timeout", "1"], env, tmp_path)
    assert result.exit_code == 5, result.stderr
    assert f"cannot reach the ClearML API server ({dead})" in result.stderr
    assert 1 <= result.stderr.count("retrying") <= 3  # one round of the client's retries, not ten
    assert time.monotonic() - started < 15
    assert h.pods() == [] and h.emu.secret_key not in result.stderr


@pytest.mark.parametrize("verb", ["get", "create"])
def test_leader_elect_without_rights_on_leases_exits_4_instead_of_standing_by_forever(h, env, tmp_path, verb):
    h.queue("cpu")
    tid = h.task("job", "cpu")
    h.kube_emu.deny(verb, "leases", h.namespace)
    result = glue(["--queue", "cpu", "--once", "--leader-elect"], env, tmp_path)
    assert result.exit_code == 4, result.stderr
    assert f"cannot {verb} lease" in result.stderr and "Traceback" not in result.stderr
    assert h.entries("cpu") == [tid] and h.pods() == []
    assert h.emu.state.worker_names() == []


def test_docker_argument_secrets_never_reach_logs_or_the_task_page(h, env, tmp_path):
    # The token is in no Secret or config the redactor knew about: only its name (HF_TOKEN) says it is one.
    h.queue("cpu")
    create = h.emu.state.create_task
    unparsable = str(create("bad", queue="cpu", container={"image": "x", "arguments": '-e HF_TOKEN=hf_unparsable1 -e X="o'}))
    dropped = str(create("dropped", queue="cpu", container={"image": "x", "arguments": "--label API_TOKEN=hf_dropped22"}))
    result = glue(["--queue", "cpu", "--once", "-v", "--log-format", "json"], env, tmp_path)
    assert result.exit_code == 0, result.stderr
    assert h.status(unparsable)[0] == "failed" and h.pod_of(dropped) is not None
    pages = " ".join(" ".join(h.status(t)) for t in (unparsable, dropped))
    assert "cannot be parsed" in pages and "--label API_TOKEN=********" in pages
    for text in (pages, result.stderr, result.stdout):
        assert "hf_unparsable1" not in text and "hf_dropped22" not in text
