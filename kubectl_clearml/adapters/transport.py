"""Say what went wrong on the wire, from a requests/urllib3 exception chain.

"Cannot reach the server, check your network" misleads when the server was reached but the TLS handshake
failed (a private CA, http vs https) or something other than HTTP answered (a wrong port): those need a
different fix, and retrying them cannot help. Both HTTP adapters (ClearML, Kubernetes) ask here.
"""

from __future__ import annotations

import http.client
import re
import ssl
from collections.abc import Iterator


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (urllib3's ``reason``, causes, contexts, exception args)."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        stack.extend([getattr(item, "reason", None), item.__cause__, item.__context__, *item.args])


def tls_failure(exc: BaseException) -> str | None:
    """The TLS library's reason in a few words when the handshake failed, else None."""
    for item in _chain(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {item.verify_message or item.reason}"
        if isinstance(item, ssl.SSLError):
            text = re.sub(r"^\[SSL: [A-Z_]+\] ", "", str(item.args[1] if len(item.args) > 1 else item))
            return re.sub(r" \(_ssl\.c:\d+\)$", "", text)
    return None


def not_http(exc: BaseException) -> bool:
    """True when the server answered, but not in HTTP (e.g. an SSH or database port)."""
    return any(
        isinstance(item, http.client.BadStatusLine) and not isinstance(item, http.client.RemoteDisconnected)
        for item in _chain(exc)
    )


def timed_out(exc: BaseException) -> bool:
    """True when the connection or the read timed out, however deeply urllib3 wrapped it (MaxRetryError)."""
    return any(isinstance(item, TimeoutError) or "Timeout" in type(item).__name__ for item in _chain(exc))


def innermost_name(exc: BaseException) -> str:
    """The name of the failure a wrapper such as MaxRetryError carries (NewConnectionError, ...)."""
    reason = getattr(exc, "reason", None)
    return innermost_name(reason) if isinstance(reason, BaseException) else type(exc).__name__
