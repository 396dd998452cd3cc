"""Fidelity: the official ``clearml`` SDK (2.1.12) as a client of the emulator (reference §12).

Zero retries, so a wrong answer fails at once instead of being retried; HOME points at an empty
directory so no user clearml.conf is read.
"""

from __future__ import annotations

import time

import pytest
from clearml.backend_api.session.client import APIClient, APIError, StrictSession
from clearml.backend_api.session.session import LoginError

NO_RETRIES = {"total": 0, "connect": 0, "read": 0, "redirect": 0, "status": 0, "backoff_factor": 0}


@pytest.fixture
def sdk_env(clearml, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for key, value in clearml.env().items():
        monkeypatch.setenv(key, value)
    for key in ("CLEARML_CONFIG_FILE", "TRAINS_CONFIG_FILE", "CLEARML_AUTH_TOKEN", "CLEARML_API_DEFAULT_REQ_METHOD"):
        monkeypatch.delenv(key, raising=False)
    return clearml


def make_client(emulator, secret: str | None = None) -> APIClient:
    session = StrictSession(
        api_key=emulator.access_key,
        secret_key=secret or emulator.secret_key,
        host=emulator.url,
        http_retries_config=dict(NO_RETRIES),
    )
    return APIClient(session=session)


@pytest.fixture
def sdk(sdk_env) -> APIClient:
    return make_client(sdk_env)


def status_of(sdk: APIClient, task_id: str) -> str:
    status = sdk.tasks.get_by_id(task=task_id).status
    return getattr(status, "value", status)  # the SDK parses it into TaskStatusEnum


def codes_of(call, *args, **kwargs) -> tuple[int, int]:
    with pytest.raises(APIError) as caught:
        call(*args, **kwargs)
    return caught.value.codes


def test_login_then_versioned_bearer_calls(sdk, clearml):
    sdk.queues.get_all()
    login, listing = clearml.requests.entries[0], clearml.requests.entries[1]
    assert (login.endpoint, login.version) == ("auth.login", "2.34")  # sent unversioned
    assert (listing.endpoint, listing.version) == ("queues.get_all", "2.23")
    assert listing.payload.get("method") == "get"  # the SDK's extra key, which the server must ignore


def test_queues_create_get_all_get_by_id_delete(sdk, clearml):
    queue = sdk.queues.create(name="sdk-queue", tags=["team-a"])
    assert len(queue.id) == 32
    found = sdk.queues.get_all(name="^sdk-queue$")
    assert [q.id for q in found] == [queue.id]
    fetched = sdk.queues.get_by_id(queue=queue.id)
    assert fetched.name == "sdk-queue" and fetched.tags == ["team-a"]
    assert fetched.created.year >= 2024  # parsed into a datetime by the SDK
    sdk.queues.delete(queue=queue.id)
    assert codes_of(sdk.queues.get_by_id, queue=queue.id) == (400, 701)


def test_add_task_get_next_task_with_task_info_and_remove_task(sdk, clearml):
    queue = sdk.queues.create(name="sdk-pop")
    first = sdk.tasks.create(name="first", type="training")
    second = sdk.tasks.create(name="second", type="training")
    sdk.queues.add_task(queue=queue.id, task=first.id)
    sdk.queues.add_task(queue=queue.id, task=second.id)
    sdk.queues.remove_task(queue=queue.id, task=second.id)
    popped = sdk.queues.get_next_task(queue=queue.id, get_task_info=True)
    assert popped.entry.task == first.id
    assert popped.task_info["user"] == clearml.state.tasks[first.id]["user"]
    assert sdk.queues.get_next_task(queue=queue.id).entry is None  # empty queue: data {}


def test_task_lifecycle_through_the_sdk(sdk, clearml):
    queue = sdk.queues.create(name="sdk-life")
    task = sdk.tasks.create(name="lifecycle", type="training", container={"image": "python:3.11"})
    sdk.tasks.edit(task=task.id, comment="edited", container={"image": "python:3.12", "arguments": "-e A=1"})
    assert sdk.tasks.get_by_id(task=task.id).container["image"] == "python:3.12"
    enqueued = sdk.tasks.enqueue(task=task.id, queue=queue.id, status_reason="go")
    assert enqueued.queued == 1
    assert status_of(sdk, task.id) == "queued"
    sdk.tasks.dequeue(task=task.id)
    assert status_of(sdk, task.id) == "created"
    sdk.tasks.enqueue(task=task.id, queue=queue.id)
    sdk.queues.get_next_task(queue=queue.id)
    sdk.tasks.started(task=task.id)
    running = sdk.tasks.get_all(id=[task.id], only_fields=["status", "started"])
    assert [getattr(t.status, "value", t.status) for t in running] == ["in_progress"]
    sdk.tasks.stopped(task=task.id)
    sdk.tasks.failed(task=task.id)
    sdk.tasks.reset(task=task.id)
    assert status_of(sdk, task.id) == "created"
    assert sdk.tasks.get_by_id(task=task.id).status_reason == "reset"
    sdk.tasks.started(task=task.id)
    sdk.tasks.completed(task=task.id)
    assert status_of(sdk, task.id) == "completed"


def test_update_writes_status_message_only_via_a_raw_request(sdk, clearml):
    task = sdk.tasks.create(name="raw-update", type="training")
    sdk.tasks.update(task=task.id, comment="hello")
    response = sdk.session.send_request(
        "tasks",
        "update",
        version="2.23",
        method="post",
        json={"task": task.id, "status_message": "K8S glue status: Pending", "status": "failed"},
    )
    assert response.status_code == 200
    stored = clearml.state.task(task.id)
    assert stored["comment"] == "hello"
    assert stored["status_message"] == "K8S glue status: Pending"
    assert stored["status"] == "created"  # status is silently dropped by tasks.update


def test_workers_register_report_get_all_unregister(sdk, clearml):
    queue = sdk.queues.create(name="sdk-workers")
    task = sdk.tasks.create(name="worked", type="training")
    sdk.workers.register(worker="k8s-glue:0", queues=[queue.id])
    sdk.workers.status_report(
        worker="k8s-glue:0", task=task.id, queue=queue.id, queues=[queue.id], timestamp=int(time.time() * 1000)
    )
    workers = sdk.workers.get_all()
    assert [w.id for w in workers] == ["k8s-glue:0"]
    assert workers[0].queues[0].name == "sdk-workers"
    assert workers[0].task.id == task.id
    assert clearml.state.task(task.id)["last_worker"] == "k8s-glue:0"
    sdk.workers.unregister(worker="k8s-glue:0")
    assert list(sdk.workers.get_all()) == []


def test_error_codes_seen_by_the_sdk(sdk, clearml):
    queue = sdk.queues.create(name="sdk-errors")
    task = sdk.tasks.create(name="errors", type="training")
    assert codes_of(sdk.tasks.get_by_id, task="no-such-task") == (400, 101)
    assert codes_of(sdk.tasks.started, task="no-such-task") == (400, 10)
    assert codes_of(sdk.queues.get_by_id, queue="no-such-queue") == (400, 701)
    assert codes_of(sdk.tasks.enqueue, task=task.id, queue="no-such-queue") == (400, 701)
    assert codes_of(sdk.queues.create, name="sdk-errors") == (400, 801)
    assert codes_of(sdk.queues.create, name="ab") == (400, 800)
    assert codes_of(sdk.queues.remove_task, queue=queue.id, task=task.id) == (400, 703)
    assert codes_of(sdk.tasks.stopped, task=task.id) == (400, 110)  # created -> stopped needs force
    sdk.tasks.enqueue(task=task.id, queue=queue.id)
    assert codes_of(sdk.tasks.enqueue, task=task.id, queue=queue.id) == (400, 706)
    assert codes_of(sdk.queues.delete, queue=queue.id) == (400, 702)
    assert codes_of(sdk.tasks.failed, task=task.id) == (400, 110)  # queued -> failed needs force
    with pytest.raises(APIError) as caught:
        sdk.queues.get_next_task(queue="no-such-queue")
    assert str(caught.value).startswith("APIError: code 400/701: Invalid queue id: id=no-such-queue, company=")


def test_bad_credentials_raise_login_error_with_401(sdk_env):
    with pytest.raises(LoginError) as caught:
        make_client(sdk_env, secret="definitely-wrong")
    assert "401" in str(caught.value)
