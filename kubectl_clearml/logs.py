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
        handler.setFormatter(TerminalSafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("kubectl_clearml")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    capture_library_logs(verbosity, fmt)


class LibraryLogHandler(logging.Handler):
    """The root logger's handler: records of the libraries we use, one redacted line each on stderr.

    Without any root handler, the kubernetes client's first ``logging.error()`` (an exec credential plugin
    that failed: "token expired, run aws sso login") runs ``logging.basicConfig()``, and from then on every
    urllib3 retry is printed as well, multi-line noise after our one-line error. So: errors always (they
    explain the 401 that follows), warnings with -v, urllib3's request lines with -vv (the Kubernetes
    calls; headers, hence tokens, are never in them).
    """

    def __init__(self, verbosity: int, fmt: str = "text") -> None:
        super().__init__(logging.DEBUG)
        self.verbosity = verbosity
        self.json = JsonFormatter() if fmt == "json" else None

    def emit(self, record: logging.LogRecord) -> None:
        ours = record.name == "kubectl_clearml" or record.name.startswith("kubectl_clearml.")
        if ours:  # only before -v configured our logger: what logging's last-resort handler printed
            if record.levelno < logging.WARNING:
                return
            text = record.getMessage()
        else:
            wanted = logging.ERROR if self.verbosity <= 0 else logging.WARNING
            http_line = self.verbosity >= 2 and record.name.startswith("urllib3")
            if record.levelno < wanted and not http_line:
                return
            first = (record.getMessage().strip().splitlines() or [""])[0]
            if "kubernetes" in record.pathname.replace("\\", "/").split("/"):
                first = f"kubeconfig user credentials: {first}"  # its exec/auth-provider code logs to root
            if self.json is not None:  # run-glue --log-format json: every line stays one JSON object
                record.msg, record.args = first, None
                text = self.json.format(record)
            elif self.verbosity:
                stamp = logging.Formatter().formatTime(record)
                text = f"{stamp} {record.levelname} {record.name}: {first}"
            else:
                text = f"kubectl clearml: warning: {first}"
        if self.json is None:
            from kubectl_clearml.core.terminal import escape_terminal

            text = escape_terminal(text)
        try:
            sys.stderr.write(redact(text) + "\n")
        except (OSError, ValueError):
            pass


def capture_library_logs(verbosity: int = 0, fmt: str = "text") -> None:
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, LibraryLogHandler)] + [
        LibraryLogHandler(verbosity, fmt)
    ]
    # Records propagate by their own logger's level, not the root's: leave the root level alone.
    logging.getLogger("urllib3").setLevel(logging.DEBUG if verbosity >= 2 else logging.NOTSET)


class TerminalSafeFormatter(logging.Formatter):
    """Text log lines with control characters escaped, line by line (a traceback keeps its lines): task and
    queue names in glue logs come from any ClearML user. JSON lines need nothing: JSON escapes them."""

    def format(self, record: logging.LogRecord) -> str:
        from kubectl_clearml.core.terminal import escape_terminal

        return "\n".join(escape_terminal(line) for line in super().format(record).split("\n"))


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
