"""Where the ClearML server and credentials come from.

Precedence per field (as the ClearML SDK and agent do): flags > environment (``CLEARML_*``, then the
legacy ``TRAINS_*``; an empty value counts as unset) > clearml.conf (``--clearml-config``,
``CLEARML_CONFIG_FILE``/``TRAINS_CONFIG_FILE``, else ``~/clearml.conf``, else ``~/trains.conf``) > the live
agent's Secret (``--from-agent``, filled in by the CLI, which has the Kubernetes connection).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.errors import NotConfiguredError, UsageError
from kubectl_clearml.logs import register_secret


@dataclass(frozen=True)
class Credentials:
    api_host: str
    access_key: str
    secret_key: str
    verify: bool | str = True
    source: str = ""  # every place a field came from, joined
    origins: Mapping[str, str] = field(default_factory=dict)  # field name -> where that field came from

    def source_of(self, name: str) -> str:
        """Where one field (``api_host``, ``access_key``, ``secret_key``, ``verify``) came from."""
        return self.origins.get(name) or self.source

    def __repr__(self) -> str:  # never print the secret, even in a debugger or a traceback
        return f"Credentials(api_host={self.api_host!r}, access_key={self.access_key[:4]!r}…, source={self.source!r})"


@dataclass
class PartialCredentials:
    api_host: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    verify: bool | str | None = None
    sources: tuple[str, ...] = ()
    origins: dict[str, str] = field(default_factory=dict)  # per field, when it differs from sources[0]

    def origin(self, name: str) -> str | None:
        if getattr(self, name) is None:
            return None
        return self.origins.get(name) or (self.sources[0] if self.sources else None)

    def fill(self, other: PartialCredentials) -> PartialCredentials:
        """Keep our values; take the other's only where we have none."""
        used = any(
            getattr(self, f) is None and getattr(other, f) is not None for f in ("api_host", "access_key", "secret_key")
        )
        merged = PartialCredentials(
            api_host=self.api_host or other.api_host,
            access_key=self.access_key or other.access_key,
            secret_key=self.secret_key or other.secret_key,
            verify=self.verify if self.verify is not None else other.verify,
            sources=self.sources + (other.sources if used else ()),
        )
        for name in FIELDS:
            where = self.origin(name) if getattr(self, name) is not None else other.origin(name)
            if where:
                merged.origins[name] = where
        return merged

    @property
    def complete(self) -> bool:
        return bool(self.api_host and self.access_key and self.secret_key)


FIELDS = ("api_host", "access_key", "secret_key", "verify")


def _first(env: Mapping[str, str], *names: str) -> str | None:
    return _first_named(env, *names)[1]


def _first_named(env: Mapping[str, str], *names: str) -> tuple[str | None, str | None]:
    for name in names:
        value = env.get(name)
        if value:
            return name, value
    return None, None


def _parse_bool(value: Any) -> bool | str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    return str(value)  # a CA bundle path


def from_env(env: Mapping[str, str]) -> PartialCredentials:
    found = PartialCredentials()
    for name, variables in (
        ("api_host", ("CLEARML_API_HOST", "TRAINS_API_HOST")),
        ("access_key", ("CLEARML_API_ACCESS_KEY", "TRAINS_API_ACCESS_KEY")),
        ("secret_key", ("CLEARML_API_SECRET_KEY", "TRAINS_API_SECRET_KEY")),
        ("verify", ("CLEARML_API_HOST_VERIFY_CERT", "TRAINS_API_HOST_VERIFY_CERT")),
    ):
        variable, value = _first_named(env, *variables)
        if variable is not None:
            setattr(found, name, _parse_bool(value) if name == "verify" else value)
            found.origins[name] = f"env {variable}"
    if found.api_host or found.access_key or found.secret_key:
        found.sources = ("environment",)
    return found


def config_file_path(flag: str | None, env: Mapping[str, str]) -> tuple[str | None, bool]:
    """The clearml.conf to read and whether the user named it explicitly (then it must exist)."""
    named = flag or _first(env, "CLEARML_CONFIG_FILE", "TRAINS_CONFIG_FILE")
    if named:
        return os.path.expanduser(named), True
    home = env.get("HOME") or os.path.expanduser("~")
    for name in ("clearml.conf", "trains.conf"):
        candidate = os.path.join(home, name)
        if os.path.isfile(candidate):
            return candidate, False
    return None, False


def from_config_file(path: str | None, explicit: bool) -> PartialCredentials:
    if not path:
        return PartialCredentials()
    if not os.path.isfile(path):
        if explicit:
            raise UsageError("clearml.conf not found", path, "check --clearml-config / CLEARML_CONFIG_FILE")
        return PartialCredentials()
    from kubectl_clearml.adapters.clearml_conf import parse_clearml_conf, string_setting

    conf = parse_clearml_conf(path)
    api = conf.get("api", None)
    if api is None or not hasattr(api, "get"):
        return PartialCredentials(sources=())
    found = PartialCredentials(
        api_host=string_setting(conf, "api.api_server", path) or string_setting(conf, "api.host", path),
        access_key=string_setting(conf, "api.credentials.access_key", path),
        secret_key=string_setting(conf, "api.credentials.secret_key", path),
        verify=_parse_bool(api.get("verify_certificate", None)),
    )
    found.sources = (path,)
    return found


def resolve_credentials(
    api_host: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    config_file: str | None = None,
    insecure: bool = False,
    env: Mapping[str, str] | None = None,
    fallback: PartialCredentials | Callable[[], PartialCredentials] | None = None,
) -> Credentials:
    env = os.environ if env is None else env
    flags = PartialCredentials(api_host or None, access_key or None, secret_key or None)
    if flags.api_host or flags.access_key or flags.secret_key:
        flags.sources = ("flags",)
        flags.origins = {
            name: "flag --" + name.replace("_", "-") for name in ("api_host", "access_key", "secret_key") if getattr(flags, name)
        }
    merged = flags
    if fallback is not None and not merged.complete:
        # --from-agent is a flag the user typed: it wins over the environment and clearml.conf (it used to
        # be asked last, so with a clearml.conf present it was ignored without a word). Flags still win.
        merged = merged.fill(fallback() if callable(fallback) else fallback)
    merged = merged.fill(from_env(env))
    if not merged.complete:
        path, explicit = config_file_path(config_file, env)
        merged = merged.fill(from_config_file(path, explicit))
    elif config_file or merged.verify is None:
        # Keys from flags/env, but TLS settings may still be in clearml.conf (api.verify_certificate: a
        # private CA bundle, or false), as the SDK reads them; a broken file the user named is reported.
        path, explicit = config_file_path(config_file, env)
        try:
            merged = merged.fill(from_config_file(path, explicit))
        except UsageError:
            if explicit:
                raise
    host = str(merged.api_host or "").strip().rstrip("/")
    if merged.api_host:  # before "missing keys": given, but wrong
        _check_url(host, str(merged.api_host).strip(), merged.origin("api_host"))
    missing = [
        name
        for name, value in (
            ("server", merged.api_host),
            ("access key", merged.access_key),
            ("secret key", merged.secret_key),
        )
        if not value
    ]
    if missing:
        raise NotConfiguredError(
            "no ClearML " + " / ".join(missing) + " configured",
            hint="pass --api-host/--access-key/--secret-key, set CLEARML_API_HOST/CLEARML_API_ACCESS_KEY/"
            "CLEARML_API_SECRET_KEY, write ~/clearml.conf (clearml-init), or use --from-agent",
        )
    register_secret(merged.secret_key)
    verify: bool | str = False if insecure else (merged.verify if merged.verify is not None else True)
    if isinstance(verify, str):
        bundle = os.path.expanduser(verify)
        if not os.path.exists(bundle):
            raise UsageError(
                "the TLS CA bundle for the ClearML server does not exist",
                verify,
                f"fix the path (set by {merged.origin('verify')}), or use true/false",
            )
        verify = bundle
    origins = {name: where for name in FIELDS if (where := merged.origin(name))}
    origins["verify"] = (
        "flag --insecure-skip-tls-verify" if insecure else origins.get("verify", "default (verify TLS)")
    )
    return Credentials(
        api_host=host,
        access_key=str(merged.access_key),
        secret_key=str(merged.secret_key),
        verify=verify,
        source=", ".join(merged.sources) or "flags",
        origins=origins,
    )


def _check_url(host: str, given: str, origin: str | None) -> None:
    """An http(s) URL with a host and a valid port, else bad input (exit 2) naming where it came from.

    requests would only fail at the first call, with ``InvalidURL`` reported as "cannot talk to the
    server" (exit 5), which sends the user to check a network that is fine.
    """
    from urllib.parse import urlsplit

    hint = "e.g. https://api.clear.ml or http://host:8008" + (f" (set by {origin})" if origin else "")
    if not given.startswith(("http://", "https://")):
        raise UsageError("the ClearML API host must be an http(s) URL", given, hint)
    try:
        parts = urlsplit(host)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise UsageError(f"the ClearML API host is not a valid URL: {exc}", given, hint) from None
    if not parts.hostname:
        raise UsageError("the ClearML API host URL has no host name", given, hint)
