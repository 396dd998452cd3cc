"""The protobuf bodies kubectl >= 1.32 sends for access reviews (``auth can-i``), decoded to their JSON shape.

client-go's typed clients send ``application/vnd.kubernetes.protobuf``: the magic ``k8s\\0`` then a
``runtime.Unknown`` (field 2 ``raw`` holds the object's own message). Only the review kinds are decoded here,
from their field numbers in k8s.io/api/authorization/v1/generated.proto (v0.32): the wire format is small
enough to read by hand (varints and length-delimited fields), so no protobuf dependency for six messages.
Answers go back as JSON, which client-go accepts (it asked for protobuf *or* JSON).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

MAGIC = b"k8s\x00"

# message -> field number -> (json name, nested message or "string" / "strings")
_RESOURCE_ATTRIBUTES = {1: ("namespace", "string"), 2: ("verb", "string"), 3: ("group", "string"),
                        4: ("version", "string"), 5: ("resource", "string"), 6: ("subresource", "string"),
                        7: ("name", "string")}
_NON_RESOURCE_ATTRIBUTES = {1: ("path", "string"), 2: ("verb", "string")}
_SELF_SPEC = {1: ("resourceAttributes", _RESOURCE_ATTRIBUTES), 2: ("nonResourceAttributes", _NON_RESOURCE_ATTRIBUTES)}
_SUBJECT_SPEC = {**_SELF_SPEC, 3: ("user", "string"), 4: ("groups", "strings"), 6: ("uid", "string")}
_RULES_SPEC = {1: ("namespace", "string")}
_OBJECT_META = {1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string")}
SPECS = {"selfsubjectaccessreviews": _SELF_SPEC, "subjectaccessreviews": _SUBJECT_SPEC,
         "localsubjectaccessreviews": _SUBJECT_SPEC, "selfsubjectrulesreviews": _RULES_SPEC}


class ProtoError(ValueError):
    pass


def is_protobuf(body: bytes) -> bool:
    return body[:4] == MAGIC


def decode_review(body: bytes, plural: str) -> dict[str, Any]:
    """A review's protobuf body as the dict its JSON form would be (metadata and spec)."""
    raw = b""
    for number, value in _fields(body[len(MAGIC):]):
        if number == 2 and isinstance(value, bytes):  # runtime.Unknown.raw
            raw = value
    message = {1: ("metadata", _OBJECT_META), 2: ("spec", SPECS[plural])}
    return _decode(raw, message)


def _decode(data: bytes, schema: dict[int, tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema or not isinstance(value, bytes):
            continue  # fields we do not model (extra, selectors) and varints
        name, kind = schema[number]
        if kind == "string":
            out[name] = value.decode()
        elif kind == "strings":
            out.setdefault(name, []).append(value.decode())
        else:
            out[name] = _decode(value, kind)
    return out


def _fields(data: bytes) -> Iterator[tuple[int, bytes | int]]:
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _varint(data, position)
            yield number, value
        elif wire_type == 2:
            length, position = _varint(data, position)
            if position + length > len(data):
                raise ProtoError("truncated length-delimited field")
            yield number, data[position:position + length]
            position += length
        elif wire_type == 1:
            position += 8
        elif wire_type == 5:
            position += 4
        else:
            raise ProtoError(f"unsupported wire type {wire_type}")


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data):
            raise ProtoError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
