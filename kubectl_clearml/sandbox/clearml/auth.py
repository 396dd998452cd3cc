"""Authentication as the real server does it: Basic keys everywhere, HS256 JWTs from ``auth.login``.

Verifying a token is a dictionary lookup of the tokens we issued (fast, so the emulator answers in well
under a millisecond); a token we did not issue is checked by its signature, so any well-signed, unexpired
token keeps working, as on a real server.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubectl_clearml.sandbox.clearml import errors

API_VERSION = "2.34"
SERVER_VERSION = "2.3.0"
SERVER_BUILD = "sandbox"
DEFAULT_EXPIRATION_SEC = 2592000
COOKIE_NAME = "clearml_token_basic"


@dataclass(frozen=True)
class Identity:
    user: str
    company: str
    user_name: str
    company_name: str
    role: str = "user"

    def as_claim(self) -> dict[str, str]:
        return {
            "user": self.user,
            "company": self.company,
            "role": self.role,
            "user_name": self.user_name,
            "company_name": self.company_name,
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hs256_jwt(claims: Mapping[str, Any], key: bytes) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64(json.dumps(dict(claims), separators=(",", ":")).encode())
    signing_input = f"{header}.{body}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def identity_for(access_key: str) -> Identity:
    """A stable identity per access key: the same key is the same user across restarts."""
    user = hashlib.md5(access_key.encode()).hexdigest()
    return Identity(user=user, company=errors.DEFAULT_COMPANY, user_name="sandbox", company_name="clearml")


class Authenticator:
    def __init__(self, credentials: Mapping[str, str], clock: Callable[[], float]) -> None:
        self.credentials = dict(credentials)
        self.clock = clock
        self.key = uuid.uuid4().bytes + uuid.uuid4().bytes
        self._tokens: dict[str, tuple[Identity, float | None]] = {}
        self._lock = threading.Lock()

    def check_basic(self, value: str) -> Identity:
        try:
            access, _, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise errors.malformed_credentials() from None
        expected = self.credentials.get(access)
        if expected is None or not hmac.compare_digest(expected, secret):
            raise errors.invalid_credentials()
        return identity_for(access)

    def issue(self, identity: Identity, expiration_sec: int | None = None) -> str:
        now = int(self.clock())
        exp = now + int(expiration_sec or DEFAULT_EXPIRATION_SEC)
        claims = {
            "identity": identity.as_claim(),
            "iat": now,
            "exp": exp,
            "env": "sandbox",
            "session_id": uuid.uuid4().hex,
            "api_version": API_VERSION,
            "server_version": SERVER_VERSION,
            "server_build": SERVER_BUILD,
            "feature_set": "basic",
        }
        token = hs256_jwt(claims, self.key)
        with self._lock:
            self._tokens[token] = (identity, float(exp))
        return token

    def check_bearer(self, token: str) -> Identity:
        entry = self._tokens.get(token)
        if entry is None:
            entry = self._decode(token)
        identity, exp = entry
        if exp is not None and self.clock() >= exp:
            raise errors.invalid_token("Signature has expired")
        return identity

    def _decode(self, token: str) -> tuple[Identity, float | None]:
        parts = token.split(".")
        if len(parts) != 3:
            raise errors.invalid_token("Not enough segments")
        signing_input = f"{parts[0]}.{parts[1]}".encode()
        expected = _b64(hmac.new(self.key, signing_input, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            raise errors.invalid_token("Signature verification failed")
        try:
            claims = json.loads(_unb64(parts[1]))
            identity = Identity(**claims["identity"])
        except (ValueError, KeyError, TypeError):
            raise errors.invalid_token("Invalid payload") from None
        exp = claims.get("exp")
        return identity, (float(exp) if exp is not None else None)

    def authenticate(self, authorization: str | None, cookie_token: str | None) -> Identity:
        if not authorization:
            if cookie_token:
                return self.check_bearer(cookie_token)
            raise errors.missing_credentials()
        scheme, _, value = authorization.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            return self.check_basic(value)
        if scheme == "bearer":
            return self.check_bearer(value.strip())
        raise errors.bad_auth_type()
