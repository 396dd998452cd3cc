"""ClearML credential precedence: flags > CLEARML_* env > TRAINS_* env > clearml.conf > agent; masking."""

from __future__ import annotations

import json

import pytest

from kubectl_clearml.adapters.credentials import PartialCredentials, resolve_credentials
from kubectl_clearml.errors import UsageError
from tests.helpers import run_cli

CONF = """
api {
  api_server: "http://conf-host:8008"
  web_server: "http://conf-host:8080"
  credentials { access_key: "CONFACCESSKEY0001", secret_key: "conf-secret-value-123" }
}
"""


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "clearml.conf"
    path.write_text(CONF)
    return path


def test_flags_beat_env_beat_file(tmp_path, conf):
    env = {"HOME": str(tmp_path), "CLEARML_API_HOST": "http://env-host:8008"}
    creds = resolve_credentials(env=env)
    assert creds.api_host == "http://env-host:8008"  # env wins over the file
    assert creds.access_key == "CONFACCESSKEY0001"  # the file fills in what env lacks
    creds = resolve_credentials(api_host="http://flag-host", env=env)
    assert creds.api_host == "http://flag-host"


def test_clearml_env_beats_legacy_trains_env_and_empty_counts_as_unset(tmp_path):
    env = {
        "HOME": str(tmp_path),
        "CLEARML_API_HOST": "",
        "TRAINS_API_HOST": "http://trains-host",
        "CLEARML_API_ACCESS_KEY": "NEWACCESS",
        "TRAINS_API_ACCESS_KEY": "OLDACCESS",
        "TRAINS_API_SECRET_KEY": "legacy-secret",
    }
    creds = resolve_credentials(env=env)
    assert (creds.api_host, creds.access_key, creds.secret_key) == ("http://trains-host", "NEWACCESS", "legacy-secret")


def test_config_file_env_names_the_file(tmp_path, conf):
    other = tmp_path / "elsewhere"
    other.mkdir()
    env = {"HOME": str(other), "CLEARML_CONFIG_FILE": str(conf)}
    assert resolve_credentials(env=env).api_host == "http://conf-host:8008"


def test_home_clearml_conf_is_the_default(tmp_path, conf):
    assert resolve_credentials(env={"HOME": str(tmp_path)}).source == str(conf)


def test_agent_credentials_fill_only_what_is_missing(tmp_path):
    agent = PartialCredentials("http://agent:8008", "AGENTKEY", "agent-secret", sources=("agent",))
    creds = resolve_credentials(access_key="FLAGKEY", env={"HOME": str(tmp_path)}, fallback=agent)
    assert (creds.api_host, creds.access_key, creds.secret_key) == ("http://agent:8008", "FLAGKEY", "agent-secret")
    assert "agent" in creds.source


def test_malformed_conf_is_usage_error(tmp_path):
    bad = tmp_path / "clearml.conf"
    bad.write_text("api { credentials { access_key: \n")
    with pytest.raises(UsageError, match="malformed clearml.conf"):
        resolve_credentials(env={"HOME": str(tmp_path)})
    result = run_cli(["config", "--clearml-config", str(bad)], home=str(tmp_path))
    assert result.exit_code == 2
    assert "malformed clearml.conf" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_named_conf(tmp_path):
    with pytest.raises(UsageError, match="clearml.conf not found"):
        resolve_credentials(config_file=str(tmp_path / "nope.conf"), env={"HOME": str(tmp_path)})


@pytest.mark.parametrize("host", ["ftp://example.com", "example.com:8008", "file:///etc/passwd"])
def test_non_http_url_is_rejected(tmp_path, host):
    result = run_cli(["config", "--api-host", host, "--access-key", "A", "--secret-key", "sekret-1"], home=str(tmp_path))
    assert result.exit_code == 2
    assert "the ClearML API host must be an http(s) URL" in result.stderr


@pytest.mark.parametrize(
    "host, message",
    [
        ("http://127.0.0.1:99999", "the ClearML API host is not a valid URL: Port out of range"),
        ("http://clearml:80a8", "the ClearML API host is not a valid URL"),
        ("http://[::1", "the ClearML API host is not a valid URL: Invalid IPv6 URL"),
        ("http://", "the ClearML API host URL has no host name (http://)"),
        ("https://:8008", "the ClearML API host URL has no host name"),
    ],
)
def test_malformed_http_url_is_bad_input_not_unreachable(tmp_path, host, message):
    # Caught before any request: `config --check` would otherwise try the call and exit 5 ("cannot talk").
    args = ["config", "--check", "--api-host", host, "--access-key", "A", "--secret-key", "sekret-1"]
    result = run_cli([*args, "--kubeconfig", str(tmp_path / "absent")], home=str(tmp_path))
    assert result.exit_code == 2, result.stderr
    assert f"kubectl clearml: error: {message}" in result.stderr
    assert "set by flag --api-host" in result.stderr
    assert "Traceback" not in result.stderr


def test_nothing_configured_says_how_to_configure(tmp_path):
    with pytest.raises(UsageError) as info:
        resolve_credentials(env={"HOME": str(tmp_path)})
    assert "CLEARML_API_HOST" in info.value.one_line() and "clearml.conf" in info.value.one_line()


def test_secret_never_printed(tmp_path, conf):
    secret = "conf-secret-value-123"
    for fmt in ("table", "json", "yaml", "wide"):
        result = run_cli(["config", "-o", fmt, "-v"], home=str(tmp_path))
        assert secret not in result.stdout + result.stderr
    doc = json.loads(run_cli(["config", "-o", "json"], home=str(tmp_path)).stdout)
    assert doc["settings"]["clearml.secret_key"] == "********"
    assert doc["settings"]["clearml.access_key"].startswith("CONF")
    assert doc["settings"]["clearml.access_key"] != "CONFACCESSKEY0001"
    assert secret not in repr(resolve_credentials(env={"HOME": str(tmp_path)}))


def test_insecure_flag_disables_verification(tmp_path, conf):
    assert resolve_credentials(env={"HOME": str(tmp_path)}).verify is True
    assert resolve_credentials(env={"HOME": str(tmp_path)}, insecure=True).verify is False
    env = {"HOME": str(tmp_path), "CLEARML_API_HOST_VERIFY_CERT": "false"}
    assert resolve_credentials(env=env).verify is False


def test_tls_setting_of_clearml_conf_applies_when_env_gives_the_keys(tmp_path):
    # The SDK reads api.verify_certificate from clearml.conf whatever supplies the keys; a private CA bundle
    # there must not be dropped because CLEARML_API_* are set (a pod with env keys and a mounted conf).
    ca = tmp_path / "private-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "clearml.conf").write_text(f'api {{ verify_certificate: "{ca}" }}\n')
    env = {"HOME": str(tmp_path), "CLEARML_API_HOST": "https://env:8008", "CLEARML_API_ACCESS_KEY": "ENVACCESS01",
           "CLEARML_API_SECRET_KEY": "env-secret-1"}
    creds = resolve_credentials(env=env)
    assert (creds.api_host, creds.verify) == ("https://env:8008", str(ca))
    assert creds.source_of("verify") == str(tmp_path / "clearml.conf")
    assert creds.source_of("secret_key") == "env CLEARML_API_SECRET_KEY"
    # the environment's own TLS setting still wins over the file's
    assert resolve_credentials(env={**env, "CLEARML_API_HOST_VERIFY_CERT": "false"}).verify is False
    # an unreadable conf nobody named does not break keys that came from the environment
    (tmp_path / "clearml.conf").write_text("api { verify_certificate: \n")
    assert resolve_credentials(env=env).verify is True


@pytest.mark.parametrize(
    "env, origin",
    [
        ({"CLEARML_API_HOST_VERIFY_CERT": "/nonexistent/ca.pem"}, "set by env CLEARML_API_HOST_VERIFY_CERT"),
        ({"REQUESTS_CA_BUNDLE": "/nonexistent/ca.pem"}, "check REQUESTS_CA_BUNDLE"),
    ],
)
def test_a_missing_ca_bundle_is_bad_input_not_an_internal_error(tmp_path, env, origin):
    keys = ["--api-host", "https://127.0.0.1:9", "--access-key", "AKEY0000001", "--secret-key", "sekret-1"]
    result = run_cli(["config", "--check", "--kubeconfig", str(tmp_path / "none"), *keys], env=env, home=str(tmp_path))
    assert result.exit_code == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "/nonexistent/ca.pem" in errors[0] and origin in errors[0], result.stderr
    assert "internal error" not in result.stderr
