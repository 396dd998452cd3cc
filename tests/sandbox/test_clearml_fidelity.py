"""Bad field types reach the ClearML emulator as the server's 400/12, never as a 500 from an endpoint.

A 500 is what an SDK retries and what a real server (whose request schemas check types first) does not send
for bad input; and nothing may change.
"""

from __future__ import annotations

import pytest

from tests.sandbox.clearml_http import Wire


@pytest.fixture
def wire(clearml) -> Wire:
    return Wire(clearml)


@pytest.mark.parametrize("endpoint, payload", [
    ("workers.register", {"worker": "w1", "timeout": "soon"}),
    ("workers.register", {"worker": "w1", "timeout": [600]}),
    ("workers.get_all", {"last_seen": {}}),
    ("workers.status_report", {"worker": "w1", "timestamp": "now"}),
    ("workers.register", {"worker": ["w1"]}),
    ("tasks.create", {"name": "train", "type": "training", "script": "train.py"}),
    ("tasks.create", {"name": "train", "type": "training", "execution": ["x"]}),
    ("tasks.create", {"name": "train", "type": "training", "project": ["p"]}),
    ("tasks.get_all", {"page": 0, "page_size": "ten"}),
    ("queues.get_all", {"max_task_entries": True}),
])
def test_a_field_of_the_wrong_type_is_400_12_and_changes_nothing(wire, clearml, endpoint, payload) -> None:
    tasks_before, workers_before = len(clearml.state.tasks), len(clearml.state.workers)
    code, subcode, message = wire.error(endpoint, payload)
    assert (code, subcode) == (400, 12), message
    assert message.startswith("Validation error (field ")
    assert (len(clearml.state.tasks), len(clearml.state.workers)) == (tasks_before, workers_before)


def test_numbers_as_text_and_nulls_are_still_accepted(wire, clearml) -> None:
    wire.call("workers.register", {"worker": "w1", "timeout": "600", "queues": None})
    assert clearml.state.workers["w1"]["register_timeout"] == 600
    wire.call("workers.status_report", {"worker": "w1", "timestamp": 1700000000000.0})
    task = wire.call("tasks.create", {"name": "train", "type": "training", "script": None})["id"]
    assert wire.call("tasks.get_by_id", {"task": task})["task"]["script"]["binary"] == "python"


def test_authentication_is_checked_before_field_types(clearml) -> None:
    anonymous = Wire(clearml, login=False)
    code, subcode, _ = anonymous.error("workers.register", {"worker": "w1", "timeout": "soon"})
    assert (code, subcode) == (401, 20)
