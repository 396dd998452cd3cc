"""-v logs and tracebacks never show a secret the adapters registered."""

from __future__ import annotations

import logging

import pytest

from kubectl_clearml import logs
from kubectl_clearml.core.secrets import MASK

SECRET = "tb-secret-4f1c9a7e2b"


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger("kubectl_clearml")
    saved = root.handlers[:], root.level, root.propagate
    yield
    root.handlers[:], root.level, root.propagate = saved[0], saved[1], saved[2]


def test_traceback_of_a_logged_exception_is_redacted(capsys):
    # The error boundary logs KubectlClearmlError with its traceback under -v; the exception's text can
    # quote a secret (a server's message echoing what it was sent) just like a log message can.
    logs.register_secret(SECRET)
    logs.configure(1)
    try:
        raise RuntimeError(f"server said: bad key {SECRET}")
    except RuntimeError:
        logging.getLogger("kubectl_clearml.test").exception("failed with %s", SECRET)
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError: server said: bad key" in err
    assert SECRET not in err
    assert err.count(MASK) == 2  # the message and the exception's text
