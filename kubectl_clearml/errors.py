"""The error tree and exit codes.

Every failure the user can cause or meet is one of these classes. The CLI's single error boundary
(cli/main.py) turns them into one line on stderr and the class's exit status; adapters translate library
exceptions (ApiException, requests errors) into them so nothing foreign escapes.
"""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    OK = 0
    DIFFERENCES = 1  # diff-template and --check modes only
    USAGE = 2  # bad flags, bad input files, invalid values
    NOT_FOUND = 3  # queue, task, agent install, object
    AUTH = 4  # authentication or authorization refused
    UNREACHABLE = 5  # cannot reach a server, or the server failed
    INTERRUPTED = 130


class KubectlClearmlError(Exception):
    """Base of every error we raise on purpose.

    ``what`` says what went wrong, ``obj`` names the object it happened on, ``hint`` what to do next.
    """

    exit_status = ExitStatus.USAGE

    def __init__(self, what: str, obj: str | None = None, hint: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.obj = obj
        self.hint = hint

    def one_line(self) -> str:
        text = self.what
        if self.obj:
            text += f" ({self.obj})"
        if self.hint:
            text += f": {self.hint}"
        # One line, always: server messages may carry newlines.
        return " ".join(text.split())


class UsageError(KubectlClearmlError):
    """Bad flags or bad input (malformed YAML, invalid size, wrong kind of object)."""

    exit_status = ExitStatus.USAGE


class NotConfiguredError(UsageError):
    """Nothing tells us where a server is (no ClearML credentials anywhere): a read command may go on
    without it, unlike a setting the user gave that is wrong."""


class NotBuiltError(UsageError):
    """A subcommand that exists in the command list but is not implemented yet."""


class NotFoundError(KubectlClearmlError):
    exit_status = ExitStatus.NOT_FOUND


class AuthError(KubectlClearmlError):
    """401 or 403 from either server (bad credentials, forbidden verb)."""

    exit_status = ExitStatus.AUTH


class UnreachableError(KubectlClearmlError):
    """Connection refused, DNS failure, timeout, TLS failure: the server could not be talked to."""

    exit_status = ExitStatus.UNREACHABLE


class ServerError(KubectlClearmlError):
    """The server answered, but failed (5xx or a response we cannot parse)."""

    exit_status = ExitStatus.UNREACHABLE


class ConflictError(ServerError):
    """Optimistic concurrency lost (HTTP 409 Conflict / stale resourceVersion) or object already exists."""


class InvalidRequestError(UsageError):
    """The server rejected the request as invalid (HTTP 400/422, ClearML 400/xxx)."""


class ClearmlApiError(KubectlClearmlError):
    """A ClearML API error that carries result code and subcode, mixed into a concrete class below."""

    def __init__(
        self,
        what: str,
        obj: str | None = None,
        hint: str | None = None,
        *,
        code: int = 0,
        subcode: int = 0,
    ) -> None:
        super().__init__(what, obj, hint)
        self.code = code
        self.subcode = subcode


class ClearmlBadCredentials(ClearmlApiError, AuthError):
    pass


class ClearmlTaskNotFound(ClearmlApiError, NotFoundError):
    pass


class ClearmlQueueNotFound(ClearmlApiError, NotFoundError):
    pass


class ClearmlInvalidStatusChange(ClearmlApiError, InvalidRequestError):
    pass


class ClearmlQueueNotEmpty(ClearmlApiError, InvalidRequestError):
    pass


class ClearmlTaskAlreadyQueued(ClearmlApiError, InvalidRequestError):
    pass


class ClearmlTaskNotQueued(ClearmlApiError, InvalidRequestError):
    pass


class ClearmlDuplicateName(ClearmlApiError, InvalidRequestError):
    pass


class ClearmlInvalidRequest(ClearmlApiError, InvalidRequestError):
    pass


class ClearmlServerFailure(ClearmlApiError, ServerError):
    pass
