"""Concurrency, fault injection, request accounting and stop/restart of the ClearML emulator."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import requests

from kubectl_clearml.sandbox.clearml import ClearmlEmulator
from tests.sandbox.clearml_http import Wire


def test_many_threads_popping_one_queue_get_each_task_exactly_once(clearml):
    qid = clearml.state.queue("default")["id"]
    tasks = [clearml.state.create_task(f"task-{i:03d}", queue="default") for i in range(200)]
    popped: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        wire = Wire(clearml)
        while True:
            data = wire.call("queues.get_next_task", {"queue": qid})
            if not data:
                return
            with lock:
                popped.append(data["entry"]["task"])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert Counter(popped) == Counter(tasks)
    assert clearml.state.queue_entries("default") == []


def test_request_log_counts_per_endpoint(clearml):
    wire = Wire(clearml)
    wire.call("queues.get_all")
    wire.call("queues.get_all")
    wire.error("tasks.get_by_id", {"task": "nope"})
    assert clearml.requests.by_endpoint() == {"auth.login": 1, "queues.get_all": 2, "tasks.get_by_id": 1}
    [failure] = clearml.requests.calls("tasks.get_by_id")
    assert (failure.status, failure.subcode, failure.payload) == (400, 101, {"task": "nope"})
    clearml.reset()
    assert clearml.requests.total == 0


def test_injected_500_is_a_clearml_envelope(clearml):
    wire = Wire(clearml)
    rule = clearml.inject(r"^queues\.get_all$", error_rate=1.0, kinds=("500",), seed=1)
    response = wire.raw("queues.get_all", {})
    assert response.status_code == 500
    assert response.json()["meta"]["result_code"] == 500
    assert wire.call("tasks.get_all")["tasks"] == []  # other endpoints are untouched
    assert rule.injected == 1


def test_injected_502_and_504_look_like_a_proxy(clearml):
    wire = Wire(clearml)
    clearml.inject("queues.get_all", error_rate=1.0, kinds=("502",), times=1)
    clearml.inject("queues.get_all", error_rate=1.0, kinds=("504",), times=1)
    first, second = wire.raw("queues.get_all", {}), wire.raw("queues.get_all", {})
    assert (first.status_code, second.status_code) == (502, 504)
    assert first.headers["Content-Type"] == "text/html" and b"502 Bad Gateway" in first.content
    assert wire.raw("queues.get_all", {}).status_code == 200  # times=1 each: both rules are spent


def test_drop_before_processing_has_no_effect(clearml):
    wire = Wire(clearml)
    clearml.inject("queues.create", error_rate=1.0, kinds=("drop",), times=1)
    with pytest.raises(requests.ConnectionError):
        wire.raw("queues.create", {"name": "never-made"})
    assert clearml.state.queue_by_name("never-made") is None


def test_drop_after_processing_loses_the_answer_but_not_the_effect(clearml):
    wire = Wire(clearml)
    task = clearml.state.create_task("popped-then-lost", queue="default")
    clearml.inject("get_next_task", error_rate=1.0, kinds=("drop_after",), times=1)
    with pytest.raises(requests.ConnectionError):
        wire.raw("queues.get_next_task", {"queue": clearml.state.queue("default")["id"]})
    assert task not in clearml.state.queue_entries("default")


def test_timeout_holds_the_request_past_the_client_timeout(clearml):
    wire = Wire(clearml)
    clearml.hang_seconds = 1.0
    try:
        clearml.inject("tasks.get_all", error_rate=1.0, kinds=("timeout",), times=1)
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout):
            wire.raw("tasks.get_all", {}, timeout=(2, 0.3))
        assert time.monotonic() - started < 1.5
    finally:
        clearml.hang_seconds = 10.0


def test_latency_is_added_to_matching_requests(clearml):
    wire = Wire(clearml)
    clearml.inject("queues.get_all", error_rate=0.0, latency=0.15)
    started = time.monotonic()
    wire.call("queues.get_all")
    assert time.monotonic() - started >= 0.15


def test_error_rate_is_reproducible_with_a_seed(clearml):
    def outcomes(seed: int) -> list[int]:
        clearml.clear_faults()
        wire = Wire(clearml)
        clearml.inject("queues.get_all", error_rate=0.5, kinds=("500",), seed=seed)
        return [wire.raw("queues.get_all", {}).status_code for _ in range(40)]

    first, again = outcomes(7), outcomes(7)
    assert first == again
    assert 5 < first.count(500) < 35


def test_503_and_unknown_kinds_are_refused(clearml):
    with pytest.raises(ValueError, match="never 503"):
        clearml.inject("x", kinds=("503",))
    with pytest.raises(ValueError):
        clearml.inject("x", error_rate=2.0)


def test_restart_keeps_state_tokens_and_port(clearml):
    wire = Wire(clearml)
    task = clearml.state.create_task("survivor", queue="default")
    port = clearml.port
    clearml.stop()
    with pytest.raises(requests.ConnectionError):
        wire.raw("queues.get_all", {})
    clearml.start()
    assert clearml.port == port
    [queue] = wire.call("queues.get_all", {"name": "^default$"})["queues"]  # the old token still works
    assert [e["task"] for e in queue["entries"]] == [task]


def test_restart_helper_and_context_manager(tmp_path):
    with ClearmlEmulator(credentials={"AK": "SK"}) as emulator:
        emulator.state.create_queue("kept")
        emulator.restart()
        assert Wire(emulator).call("queues.get_all", {"name": "kept"})["queues"][0]["name"] == "kept"
        conf = emulator.write_clearml_conf(tmp_path)
        text = conf.read_text()
        assert f'api_server: "{emulator.url}"' in text and 'secret_key: "SK"' in text
        assert conf.stat().st_mode & 0o077 == 0
    assert not emulator.running
