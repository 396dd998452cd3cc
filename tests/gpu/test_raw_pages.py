"""The continue token of a raw list page, read without decoding the items (adapters/kube.py)."""

from __future__ import annotations

import json

import pytest

from kubectl_clearml.adapters.kube_http import continue_token
from kubectl_clearml.errors import ServerError


def page(metadata: dict[str, str], *, items_first: bool = False, pretty: bool = False) -> bytes:
    body = {"kind": "PodList", "apiVersion": "v1"}
    items = [{"metadata": {"name": "p", "annotations": {"x": '"metadata": {"continue": "fake"}'}}}]
    ordered = {"items": items, "metadata": metadata} if items_first else {"metadata": metadata, "items": items}
    return json.dumps({**body, **ordered}, indent=2 if pretty else None).encode()


@pytest.mark.parametrize("pretty", [False, True])
def test_token_from_the_metadata_before_the_items(pretty: bool) -> None:
    assert continue_token(page({"resourceVersion": "7", "continue": "abc"}, pretty=pretty), "/api/v1/pods") == "abc"
    assert continue_token(page({"resourceVersion": "7"}, pretty=pretty), "/api/v1/pods") is None
    assert continue_token(page({"continue": ""}), "/api/v1/pods") is None


def test_items_before_metadata_are_decoded_in_full() -> None:
    # The item's own "metadata" must not be mistaken for the list's.
    assert continue_token(page({"continue": "real"}, items_first=True), "/api/v1/pods") == "real"
    assert continue_token(page({}, items_first=True), "/api/v1/pods") is None


def test_not_json_is_a_server_error() -> None:
    with pytest.raises(ServerError) as info:
        continue_token(b"<html>bad gateway</html>", "/api/v1/pods")
    assert info.value.obj == "/api/v1/pods"
