"""The ClearML client over real TLS: the emulator behind a self-signed certificate (made with the openssl CLI).

The client sends through urllib3 with TLS settings read once (issue 17); these are the cases requests used
to decide per call: the default CA bundle refuses a private CA, verify=PATH and REQUESTS_CA_BUNDLE accept it,
--insecure-skip-tls-verify skips the check, and a bundle that does not exist is a one-line usage error.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from kubectl_clearml.adapters.clearml import ClearmlClient
from kubectl_clearml.adapters.credentials import Credentials
from kubectl_clearml.errors import ExitStatus, UnreachableError, UsageError
from kubectl_clearml.sandbox.clearml import ClearmlEmulator

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI to make a certificate")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "ca.pem", where / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def tls_clearml(certificate):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    emulator = ClearmlEmulator(tls=context).start()
    yield emulator
    emulator.stop()


def client(server, verify, retries=0) -> ClearmlClient:
    creds = Credentials(server.url, server.access_key, server.secret_key, verify, "test")
    return ClearmlClient(creds, retries=retries, sleep=lambda _s: None, timeout=(2.0, 5.0))


def queue_names(c: ClearmlClient) -> list[str]:
    return [q["name"] for q in c.call("queues.get_all", {"name": "^default$"})["queues"]]


def test_a_private_ca_is_refused_by_the_default_bundle_without_retries(tls_clearml, monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    c = client(tls_clearml, True, retries=3)
    with pytest.raises(UnreachableError) as info:
        c.call("queues.get_all")
    assert info.value.what.startswith("TLS handshake with the ClearML API server failed: certificate verify failed")
    assert c.requests_made == 1


def test_the_ca_given_as_a_path_or_in_the_environment_is_trusted(tls_clearml, certificate, monkeypatch):
    assert queue_names(client(tls_clearml, str(certificate[0]))) == ["default"]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    assert queue_names(client(tls_clearml, True)) == ["default"]


def test_insecure_skips_the_check(tls_clearml, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    with pytest.warns(Warning, match="Unverified HTTPS request"):  # urllib3's warning, as with requests
        assert queue_names(client(tls_clearml, False)) == ["default"]


def test_a_ca_bundle_that_does_not_exist_is_a_usage_error(tls_clearml, tmp_path):
    c = client(tls_clearml, str(tmp_path / "missing.pem"))
    with pytest.raises(UsageError) as info:
        c.call("queues.get_all")
    assert info.value.what == f"cannot load the TLS CA bundle: no CA bundle at {tmp_path / 'missing.pem'}"
    assert info.value.exit_status == ExitStatus.USAGE and c.requests_made == 1
