"""ClearML names are chosen by any ClearML user: tables and one-line messages show control characters
escaped (as kubectl does), JSON and YAML keep them exact (issue 21 item 4)."""

from __future__ import annotations

import json

import yaml
from hypothesis import given
from hypothesis import strategies as st

from kubectl_clearml.core.terminal import escape_terminal
from kubectl_clearml.output import Column, View, render
from tests.helpers import run_cli

HOSTILE_QUEUE = "evil\x1b]0;pwned\x07\x1b[2J\nfake-row   9"
HOSTILE_TASK = "train\x1b[8mhidden\u202eelif"


def test_queues_and_queues_show_escape_what_a_clearml_user_named(clearml, tmp_path):
    clearml.state.create_queue(HOSTILE_QUEUE)
    queue = clearml.state.queue_by_name(HOSTILE_QUEUE)
    clearml.state.create_task(HOSTILE_TASK, queue=HOSTILE_QUEUE,
                              container={"image": "python:3.11", "arguments": "", "setup_shell_script": ""})
    env = {**clearml.env(), "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")}
    table = run_cli(["queues", "--no-kube"], env=env)
    show = run_cli(["queues", "show", queue["id"], "--no-kube"], env=env)
    for result in (table, show):
        assert result.exit_code == 0, result.stderr
        assert not any(c in result.stdout + result.stderr for c in "\x1b\x07\u202e"), result.stdout
    assert "evil^[]0;pwned\\x07^[[2J\\nfake-row   9" in table.stdout
    assert not any(line.startswith("fake-row") for line in table.stdout.splitlines())
    assert "train^[[8mhidden\\u202eelif" in show.stdout
    data = json.loads(run_cli(["queues", "--no-kube", "-o", "json"], env=env).stdout)
    assert HOSTILE_QUEUE in [item["name"] for item in data["items"]]
    docs = yaml.safe_load(run_cli(["queues", "show", queue["id"], "--no-kube", "-o", "yaml"], env=env).stdout)
    assert docs["pendingTasks"][0]["name"] == HOSTILE_TASK


def test_errors_and_warnings_are_one_escaped_line(capsys):
    # Server messages reach the error boundary and warn() verbatim (a ClearML "queue X is not empty").
    from kubectl_clearml.cli.main import _fail
    from kubectl_clearml.output import warn

    assert _fail("queue nope\x1b[2J\rX is busy", 5) == 5
    warn("task \x1b]0;title\x07 failed")
    err = capsys.readouterr().err
    assert err == ("kubectl clearml: error: queue nope^[[2J\\rX is busy\n"
                   "kubectl clearml: warning: task ^[]0;title\\x07 failed\n")


@given(st.text())
def test_escaped_text_has_no_control_character_and_keeps_printable_text(text):
    out = escape_terminal(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or 0x202A <= ord(c) <= 0x202E for c in out)
    if text.isprintable() and "\u202e" not in text:
        assert out == text


def test_a_table_cell_is_one_line():
    view = View("queue", [{"name": "a\nb"}], [Column("NAME", "name")])
    assert render(view, "table") == "NAME\na\\nb\n" and render(view, "name") == "queue/a\\nb\n"
    assert json.loads(render(view, "json"))["items"][0]["name"] == "a\nb"


def test_every_error_line_is_redacted_click_usage_errors_too(capsys):
    from kubectl_clearml.cli.main import _fail
    from kubectl_clearml.logs import register_secret

    register_secret("known-secret-Zq77")
    _fail("Invalid value for '--interval': 'known-secret-Zq77' is not a valid float", 2)
    assert "Zq77" not in capsys.readouterr().err


def test_glue_text_logs_and_status_lines_are_terminal_safe(capsys):
    import logging

    from kubectl_clearml import logs
    from kubectl_clearml.output import say

    logs.configure(1, "text")
    try:
        logging.getLogger("kubectl_clearml.glue").warning("launched task %s", HOSTILE_TASK)
        say("pod p (queue q, log): NCCL error \x1b[2J")
    finally:
        logs.configure(0, "text")
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\u202e" not in err
    assert "launched task train^[[8mhidden\\u202eelif" in err and "NCCL error ^[[2J" in err


def test_submit_pod_progress_lines_are_escaped(capsys):
    # --wait prints the pod's events; their messages quote names and text other components chose
    from kubectl_clearml.cli.submit_pod import _say

    _say("Warning  Failed: pull \x1b[2Jx")
    assert capsys.readouterr().err == "Warning  Failed: pull ^[[2Jx\n"


def test_why_shows_a_hostile_task_name_escaped(world):
    task_id = world.clearml.state.create_task(HOSTILE_TASK, queue="1xGPU",
                                              container={"image": "python:3.11", "arguments": "", "setup_shell_script": ""})
    result = run_cli(["why", task_id], env=world.env, home=world.env.get("HOME"))
    assert result.exit_code == 0, result.stderr
    assert not any(c in result.stdout for c in "\x1b\u202e"), result.stdout
    assert "train^[[8mhidden\\u202eelif" in result.stdout
