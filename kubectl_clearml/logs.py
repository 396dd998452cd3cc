"""Logging set-up with secret redaction.

Adapters register every secret value they load (secret keys, tokens, Secret data); the filter replaces
them in every log record, so ``-v`` output is safe to paste into an issue.
"""

from __future__ import annotations

import logging
import sys
import threading

from kubectl_clearml.core.secrets import redact_text

_secrets: set[str] = set()
_lock = threading.Lock()

LOG = logging.getLogger("kubectl_clearml")


def register_secret(value: str | None) -> None:
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def known_secrets() -> frozenset[str]:
    with _lock:
        return frozenset(_secrets)


def redact(text: str) -> str:
    return redact_text(text, known_secrets())


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            # -v prints tracebacks; the exception's text can quote a secret just like a message can. The
            # formatter reuses exc_text when it is set, so redact it here, once.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def configure(verbosity: int, fmt: str = "text") -> None:
    """verbosity 0: warnings; 1: info; 2+: debug (including HTTP calls of the adapters)."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("kubectl_clearml")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        import json

        payload = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            payload.update(extra)
        return redact(json.dumps(payload, default=str))
