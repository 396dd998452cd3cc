"""The ClearML emulator's transport: envelope, paths and versions, bodies, query strings, authentication."""

from __future__ import annotations

import base64
import json

import requests

from tests.sandbox.clearml_http import Wire


def test_envelope_has_the_server_shape_and_status_equals_result_code(clearml):
    wire = Wire(clearml)
    response = wire.raw("v2.23/queues.get_all", {}, headers={"X-ClearML-Trx": "trx-42"})
    body = response.json()
    assert response.status_code == 200
    assert response.headers["server"] == "clearml"
    assert response.headers["Content-Type"] == "application/json"
    meta = body["meta"]
    assert meta["trx"] == "trx-42"
    assert len(meta["id"]) == 32
    assert meta["endpoint"] == {"name": "queues.get_all", "requested_version": "2.23", "actual_version": "2.4"}
    assert (meta["result_code"], meta["result_subcode"], meta["result_msg"]) == (200, 0, "OK")
    assert meta["error_stack"] is None and meta["error_data"] == {}
    assert [q["name"] for q in body["data"]["queues"]] == ["default"]


def test_unversioned_path_means_the_max_version_and_trailing_slash_is_fine(clearml):
    wire = Wire(clearml)
    meta = wire.raw("tasks.get_all/", {}).json()["meta"]
    assert meta["endpoint"]["requested_version"] == "2.34"
    assert meta["endpoint"]["actual_version"] == "1.0"
    assert meta["result_code"] == 200


def test_legacy_versions_below_2_1_are_reported_as_floats(clearml):
    task = Wire(clearml).call("tasks.create", {"name": "legacy", "type": "training"})["id"]
    meta = Wire(clearml).raw("v1.5/tasks.enqueue", {"task": task}).json()["meta"]
    assert meta["result_code"] == 200
    assert meta["endpoint"]["requested_version"] == 1.5 and meta["endpoint"]["actual_version"] == 1.5


def test_version_below_the_endpoint_minimum_is_404(clearml):
    code, subcode, message = Wire(clearml).error("v2.3/queues.get_all")
    assert (code, subcode) == (404, 0)
    assert message == "Unable to find endpoint for name queues.get_all and version 2.3"


def test_unknown_endpoint_is_404_and_malformed_path_is_400(clearml):
    wire = Wire(clearml)
    assert wire.error("queues.no_such_thing")[:2] == (404, 0)
    code, subcode, message = wire.error("not-a-path")
    assert (code, subcode) == (400, 0)
    assert message == "Invalid request path /not-a-path"


def test_get_with_a_json_body_and_unknown_keys_ignored(clearml):
    wire = Wire(clearml)
    queue_id = clearml.state.create_queue("gpu-a100")
    data = wire.call("v2.23/queues.get_by_id", {"queue": queue_id, "method": "get", "surprise": [1, 2]}, method="GET")
    assert data["queue"]["name"] == "gpu-a100"


def test_query_string_arguments_are_merged_and_converted(clearml):
    wire = Wire(clearml)
    clearml.state.create_queue("alpha")
    clearml.state.create_queue("beta", system_tags=["k8s-glue"])
    names = [q["name"] for q in wire.call("queues.get_all?search_hidden=true&only_fields[]=name")["queues"]]
    assert names == ["default", "alpha", "beta"]
    paged = wire.call("queues.get_all?search_hidden=true&page=1&page_size=2&order_by=name")["queues"]
    assert [q["name"] for q in paged] == ["default"]


def test_content_type_is_ignored_and_invalid_json_is_400(clearml):
    wire = Wire(clearml)
    response = wire.raw(
        "queues.get_all", None, data=json.dumps({"name": "^default$"}), headers={"Content-Type": "text/plain"}
    )
    assert [q["name"] for q in response.json()["data"]["queues"]] == ["default"]
    bad = wire.raw("queues.get_all", None, data="{not json")
    assert bad.status_code == 400 and bad.json()["meta"]["result_subcode"] == 0
    encoded = wire.raw("queues.get_all", None, data="{}", headers={"Content-Encoding": "gzip"})
    assert encoded.status_code == 415


def test_options_answers_200_with_an_empty_body(clearml):
    response = requests.options(f"{clearml.url}/queues.get_all", timeout=5)
    assert response.status_code == 200 and response.content == b""


# ---- authentication ----------------------------------------------------------------------------------
def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_login_issues_an_hs256_jwt_with_the_claims_clients_read(clearml):
    wire = Wire(clearml)
    header = json.loads(base64.urlsafe_b64decode(wire.token.split(".")[0] + "=="))
    claims = _claims(wire.token)
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert claims["api_version"] == "2.34" and claims["server_version"] == "2.3.0"
    assert claims["feature_set"] == "basic"
    assert claims["exp"] - claims["iat"] == 2592000
    assert set(claims["identity"]) == {"user", "company", "role", "user_name", "company_name"}


def test_basic_auth_works_on_every_endpoint(clearml):
    response = requests.post(
        f"{clearml.url}/queues.get_all", json={}, auth=(clearml.access_key, clearml.secret_key), timeout=5
    )
    assert response.status_code == 200


def test_auth_failures_have_the_real_codes(clearml):
    anon = Wire(clearml, login=False)
    assert anon.error("queues.get_all")[:2] == (401, 20)
    code, subcode, message = anon.error(
        "auth.login", headers={"Authorization": "Basic " + base64.b64encode(b"nope:wrong").decode()}
    )
    assert (code, subcode) == (401, 22)
    assert message == "Unauthorized (invalid credentials) (failed to locate provided credentials)"
    assert anon.error("queues.get_all", headers={"Authorization": "Basic !!!"})[:2] == (401, 21)
    assert anon.error("queues.get_all", headers={"Authorization": "Bearer not-a-jwt"})[:2] == (401, 30)
    assert anon.error("queues.get_all", headers={"Authorization": "Digest abc"})[:2] == (401, 10)
    wrong_secret = (clearml.access_key, clearml.secret_key + "x")
    assert requests.post(f"{clearml.url}/auth.login", auth=wrong_secret, timeout=5).status_code == 401


def test_a_forged_token_is_rejected(clearml):
    wire = Wire(clearml)
    head, body, _sig = wire.token.split(".")
    forged = f"{head}.{body}.{'A' * 43}"
    assert Wire(clearml, login=False).error("queues.get_all", headers={"Authorization": f"Bearer {forged}"})[:2] == (
        401,
        30,
    )


def test_expired_token_is_401_30_by_the_injected_clock(clearml):
    wire = Wire(clearml)
    token = wire.call("auth.login", {"expiration_sec": 60})["token"]
    now = clearml.clock()
    clearml.clock = lambda: now + 61
    code, subcode, message = Wire(clearml, login=False).error(
        "queues.get_all", headers={"Authorization": f"Bearer {token}"}
    )
    assert (code, subcode) == (401, 30)
    assert "expired" in message


def test_login_cookie_authenticates_requests_without_a_header(clearml):
    session = requests.Session()
    login = session.post(f"{clearml.url}/auth.login", auth=(clearml.access_key, clearml.secret_key), timeout=5)
    assert "clearml_token_basic" in login.cookies
    assert session.post(f"{clearml.url}/queues.get_all", json={}, timeout=5).status_code == 200


def test_impersonation_is_refused_for_a_plain_user(clearml):
    wire = Wire(clearml)
    assert wire.error("queues.get_all", headers={"X-ClearML-Impersonate-As": "someone"})[:2] == (400, 6)
    both = {"X-ClearML-Impersonate-As": "a", "X-ClearML-Act-As": "b"}
    assert wire.error("queues.get_all", headers=both)[:2] == (400, 5)
