"""Bad input is exit 2 with one line naming what is wrong, never exit 70 (issue 21 items 9, 11): clearml.conf
includes (files only, never a URL, no cycles), deep nesting and non-string credentials; nan seconds;
an empty task id or queue."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.helpers import run_cli


def config(tmp_path, conf_text, *args):
    path = tmp_path / "clearml.conf"
    path.write_text(conf_text)
    return run_cli(["config", "--clearml-config", str(path), *args],
                   env={"KUBECONFIG": str(tmp_path / "none")}, home=str(tmp_path)), path


API = 'api { api_server: "http://127.0.0.1:9", credentials { access_key: "AK", secret_key: "sk-1234" } }\n'


def test_url_includes_are_never_fetched(tmp_path):
    fetched = []

    class Silent(BaseHTTPRequestHandler):  # accepts and never answers: pyhocon used to wait for ever
        def do_GET(self):
            fetched.append(self.path)
            time.sleep(30)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/evil.conf"
    try:
        for include in (f'include url("{url}")', f'include "{url}"', f'include required(url("{url}"))',
                        f'api {{\n  include url("{url}")\n}}'):
            started = time.monotonic()
            result, path = config(tmp_path, include + "\n" + API)
            assert time.monotonic() - started < 10
            assert result.exit_code == 2 and "is not followed: only files are included" in result.stderr, result.stderr
            assert str(path) in result.stderr
        assert fetched == []
    finally:
        server.shutdown()


def test_file_includes_resolve_relative_to_the_including_file(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "creds.conf").write_text(API)
    result, _ = config(tmp_path, 'include "conf.d/creds.conf"\n# include url("http://ignored.example")\n')
    assert "clearml.conf" not in result.stderr, result.stderr  # only the missing kubeconfig fails
    assert "clearml.api_host     http://127.0.0.1:9" in result.stdout


@pytest.mark.parametrize("layout", ["self", "pair"])
def test_include_cycles_are_bad_input(tmp_path, layout):
    if layout == "pair":
        (tmp_path / "other.conf").write_text('include "clearml.conf"\n')
    result, _ = config(tmp_path, f'include "{"clearml.conf" if layout == "self" else "other.conf"}"\n' + API)
    assert result.exit_code == 2 and "include cycle" in result.stderr, result.stderr


def test_deep_nesting_and_numeric_keys_are_bad_input_naming_the_key(tmp_path):
    result, path = config(tmp_path, "a {" * 3000 + "}" * 3000 + "\n")
    assert result.exit_code == 2 and "nested too deeply" in result.stderr and str(path) in result.stderr
    (tmp_path / "latin1.conf").write_bytes(b"api { api_server: \"http://h\xe9:9\" }\n")
    result, _ = config(tmp_path, 'include "latin1.conf"\n')
    assert result.exit_code == 2 and "an included file is not UTF-8 text" in result.stderr, result.stderr
    result, _ = config(tmp_path, API.replace('"sk-1234"', "12345678"))
    assert result.exit_code == 2, result.stderr
    assert "api.credentials.secret_key must be a string, not int" in result.stderr and "12345678" not in result.stderr


@pytest.mark.parametrize("args", [
    ["queues", "--watch", "--interval", "nan"],
    ["run-glue", "--queue", "q", "--request-timeout", "nan"],
    ["run-glue", "--queue", "q", "--poll-interval", "inf"],
    ["submit-pod", "t", "--queue", "q", "--timeout", "nan"],
    ["glue", "install", "--timeout", "nan"],
])
def test_nan_and_inf_seconds_are_usage_errors(tmp_path, args):
    result = run_cli(args, env={"KUBECONFIG": str(tmp_path / "none")}, home=str(tmp_path))
    assert result.exit_code == 2 and "is not a finite number of seconds" in result.stderr, result.stderr


@pytest.mark.parametrize("args, message", [
    (["", "--queue", "green"], "the TASK_ID is empty"),
    (["  ", "--queue", "green"], "the TASK_ID is empty"),
    (["abc", "--queue", ""], "--queue is empty"),
])
def test_empty_task_id_or_queue_is_a_usage_error(tmp_path, args, message):
    result = run_cli(["submit-pod", *args, "--template", str(tmp_path / "t.yaml"), "--dry-run=client"],
                     env={"KUBECONFIG": str(tmp_path / "none")}, home=str(tmp_path))
    assert result.exit_code == 2 and message in result.stderr, result.stderr
