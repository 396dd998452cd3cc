"""Protobuf request bodies (``application/vnd.kubernetes.protobuf``) for the kinds kubectl sends that way.

kubectl >= 1.32 creates namespaces, configmaps, secrets, services, deployments and debug pods, evicts pods
(drain) and asks access reviews (auth can-i) with its typed clients, which send protobuf: the ``k8s\\x00`` magic, then a ``runtime.Unknown`` envelope (typeMeta = 1, raw = 2) whose ``raw`` is
the object. The wire format is small (varints, length-delimited fields); what needs care is the field
numbering, copied here as numbers from ``k8s.io/api`` ``generated.proto`` (v1.32). No Python package ships
those generated descriptors, and ``protobuf`` itself would need them written out as .proto files: a table of
field numbers is the smaller, checkable thing. A field number the table lacks is refused (415, naming it)
rather than dropped, so a body is never stored half-read.
"""

from __future__ import annotations

import base64
from typing import Any

from kubectl_clearml.sandbox.kube import status as st

MAGIC = b"k8s\x00"

# message -> field number -> (JSON name, type). Types: "string", "bytes", "int", "bool", "time", "quantity",
# "intorstr", a message name, "[]<type>" (repeated), "map:<type>" (map<string, type>).
MESSAGES: dict[str, dict[int, tuple[str, str]]] = {
    "Unknown": {1: ("typeMeta", "TypeMeta"), 2: ("raw", "raw"), 3: ("contentEncoding", "string"),
                4: ("contentType", "string")},
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "ObjectMeta": {1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
                   4: ("selfLink", "string"), 5: ("uid", "string"), 6: ("resourceVersion", "string"),
                   7: ("generation", "int"), 8: ("creationTimestamp", "time"), 9: ("deletionTimestamp", "time"),
                   10: ("deletionGracePeriodSeconds", "int"), 11: ("labels", "map:string"),
                   12: ("annotations", "map:string"), 13: ("ownerReferences", "[]OwnerReference"),
                   14: ("finalizers", "[]string")},
    "OwnerReference": {1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"),
                       5: ("apiVersion", "string"), 6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool")},
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec"), 3: ("status", "NamespaceStatus")},
    "NamespaceSpec": {1: ("finalizers", "[]string")},
    "NamespaceStatus": {1: ("phase", "string")},
    "ConfigMap": {1: ("metadata", "ObjectMeta"), 2: ("data", "map:string"), 3: ("binaryData", "map:bytes"),
                  4: ("immutable", "bool")},
    "Secret": {1: ("metadata", "ObjectMeta"), 2: ("data", "map:bytes"), 3: ("type", "string"),
               4: ("stringData", "map:string"), 5: ("immutable", "bool")},
    "ServiceAccount": {1: ("metadata", "ObjectMeta"), 2: ("secrets", "[]ObjectReference"),
                       3: ("imagePullSecrets", "[]LocalObjectReference"), 4: ("automountServiceAccountToken", "bool")},
    "ObjectReference": {1: ("kind", "string"), 2: ("namespace", "string"), 3: ("name", "string"),
                        4: ("uid", "string"), 5: ("apiVersion", "string")},
    "LocalObjectReference": {1: ("name", "string")},
    "PriorityClass": {1: ("metadata", "ObjectMeta"), 2: ("value", "int"), 3: ("globalDefault", "bool"),
                      4: ("description", "string"), 5: ("preemptionPolicy", "string")},
    "Service": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ServiceSpec"), 3: ("status", "Empty")},
    "ServiceSpec": {1: ("ports", "[]ServicePort"), 2: ("selector", "map:string"), 3: ("clusterIP", "string"),
                    4: ("type", "string"), 5: ("externalIPs", "[]string"), 7: ("sessionAffinity", "string"),
                    11: ("externalName", "string"), 18: ("clusterIPs", "[]string")},
    "ServicePort": {1: ("name", "string"), 2: ("protocol", "string"), 3: ("port", "int"),
                    4: ("targetPort", "intorstr"), 5: ("nodePort", "int")},
    # authorization.k8s.io/v1 (kubectl auth can-i): the reviews' specs; their answers go back as JSON.
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SelfSubjectAccessReviewSpec"),
                                3: ("status", "Empty")},
    "SubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SubjectAccessReviewSpec"),
                            3: ("status", "Empty")},
    "LocalSubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SubjectAccessReviewSpec"),
                                 3: ("status", "Empty")},
    "SelfSubjectRulesReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SelfSubjectRulesReviewSpec"),
                               3: ("status", "Empty")},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes"),
                                    2: ("nonResourceAttributes", "NonResourceAttributes")},
    "SubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes"),
                                2: ("nonResourceAttributes", "NonResourceAttributes"), 3: ("user", "string"),
                                4: ("groups", "[]string"), 6: ("uid", "string")},
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "string")},
    "ResourceAttributes": {1: ("namespace", "string"), 2: ("verb", "string"), 3: ("group", "string"),
                           4: ("version", "string"), 5: ("resource", "string"), 6: ("subresource", "string"),
                           7: ("name", "string")},
    "NonResourceAttributes": {1: ("path", "string"), 2: ("verb", "string")},
    "Eviction": {1: ("metadata", "ObjectMeta"), 2: ("deleteOptions", "DeleteOptions")},
    "DeleteOptions": {1: ("gracePeriodSeconds", "int"), 2: ("preconditions", "Preconditions"),
                      3: ("orphanDependents", "bool"), 4: ("propagationPolicy", "string"), 5: ("dryRun", "[]string")},
    "Preconditions": {1: ("uid", "string"), 2: ("resourceVersion", "string")},
    "Deployment": {1: ("metadata", "ObjectMeta"), 2: ("spec", "DeploymentSpec"), 3: ("status", "Empty")},
    "DeploymentSpec": {1: ("replicas", "int"), 2: ("selector", "LabelSelector"), 3: ("template", "PodTemplateSpec"),
                       4: ("strategy", "DeploymentStrategy"), 5: ("minReadySeconds", "int"),
                       6: ("revisionHistoryLimit", "int"), 7: ("paused", "bool"), 9: ("progressDeadlineSeconds", "int")},
    "DeploymentStrategy": {1: ("type", "string"), 2: ("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "intorstr"), 2: ("maxSurge", "intorstr")},
    "LabelSelector": {1: ("matchLabels", "map:string"), 2: ("matchExpressions", "[]LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: ("key", "string"), 2: ("operator", "string"), 3: ("values", "[]string")},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "Pod": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec"), 3: ("status", "Empty")},
    "PodSpec": {1: ("volumes", "[]Volume"), 11: ("hostNetwork", "bool"), 12: ("hostPID", "bool"),
                13: ("hostIPC", "bool"), 21: ("automountServiceAccountToken", "bool"),
                22: ("tolerations", "[]Toleration"), 30: ("enableServiceLinks", "bool"),
                2: ("containers", "[]Container"), 3: ("restartPolicy", "string"),
                4: ("terminationGracePeriodSeconds", "int"), 6: ("dnsPolicy", "string"),
                7: ("nodeSelector", "map:string"), 8: ("serviceAccountName", "string"),
                9: ("serviceAccount", "string"), 10: ("nodeName", "string"), 19: ("schedulerName", "string"),
                20: ("initContainers", "[]Container"), 24: ("priorityClassName", "string")},
    "Container": {1: ("name", "string"), 2: ("image", "string"), 3: ("command", "[]string"), 4: ("args", "[]string"),
                  5: ("workingDir", "string"), 6: ("ports", "[]ContainerPort"), 7: ("env", "[]EnvVar"),
                  8: ("resources", "ResourceRequirements"), 9: ("volumeMounts", "[]VolumeMount"),
                  13: ("terminationMessagePath", "string"), 16: ("stdin", "bool"), 17: ("stdinOnce", "bool"),
                  18: ("tty", "bool"),
                  14: ("imagePullPolicy", "string"), 20: ("terminationMessagePolicy", "string")},
    "VolumeMount": {1: ("name", "string"), 2: ("readOnly", "bool"), 3: ("mountPath", "string"),
                    4: ("subPath", "string")},
    "Volume": {1: ("name", "string"), 2: ("", "inline:VolumeSource")},  # VolumeSource is inlined in JSON
    "VolumeSource": {1: ("hostPath", "HostPathVolumeSource"), 2: ("emptyDir", "EmptyDirVolumeSource"),
                     6: ("secret", "SecretVolumeSource"), 19: ("configMap", "ConfigMapVolumeSource")},
    "HostPathVolumeSource": {1: ("path", "string"), 2: ("type", "string")},
    "EmptyDirVolumeSource": {1: ("medium", "string"), 2: ("sizeLimit", "quantity")},
    "SecretVolumeSource": {1: ("secretName", "string"), 3: ("defaultMode", "int"), 4: ("optional", "bool")},
    "ConfigMapVolumeSource": {1: ("", "inline:LocalObjectReference"), 3: ("defaultMode", "int"),
                              4: ("optional", "bool")},
    "Toleration": {1: ("key", "string"), 2: ("operator", "string"), 3: ("value", "string"), 4: ("effect", "string"),
                   5: ("tolerationSeconds", "int")},
    "ContainerPort": {1: ("name", "string"), 2: ("hostPort", "int"), 3: ("containerPort", "int"),
                      4: ("protocol", "string"), 5: ("hostIP", "string")},
    "EnvVar": {1: ("name", "string"), 2: ("value", "string")},
    "ResourceRequirements": {1: ("limits", "map:quantity"), 2: ("requests", "map:quantity")},
    "Time": {1: ("seconds", "int"), 2: ("nanos", "int")},
    "Quantity": {1: ("string", "string")},
    "IntOrString": {1: ("type", "int"), 2: ("intVal", "int"), 3: ("strVal", "string")},
    "MapEntry": {},  # key = 1, value = 2: read by _map_entry
    "Empty": {},
}
KINDS = {"Namespace", "ConfigMap", "Secret", "Deployment", "ServiceAccount", "PriorityClass", "Eviction",
         "Service", "Pod", "SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview",
         "SelfSubjectRulesReview"}


# Non-pointer numbers and booleans with `omitempty`: a zero is "unset". (Pointers, e.g. replicas, are only
# written when set, so a zero there is meant.)
_OMIT_ZERO = frozenset({"generation", "minReadySeconds", "paused", "hostPort", "immutable", "globalDefault",
                        "nodePort", "hostNetwork", "hostPID", "hostIPC", "stdin", "stdinOnce", "tty", "readOnly"})


def _is_zero(value: Any) -> bool:
    return value == 0 if isinstance(value, int) else len(value) == 0 or not any(bytes(value))


class _Unsupported(Exception):
    pass


def is_protobuf(body: bytes) -> bool:
    return body[:4] == MAGIC


def decode_object(body: bytes) -> dict[str, Any]:
    """A protobuf create body as the JSON object it encodes; 415 for kinds or fields not modelled here."""
    try:
        envelope = _message(memoryview(body)[4:], "Unknown")
        type_meta = envelope.get("typeMeta") or {}
        kind = type_meta.get("kind", "")
        if kind not in KINDS:
            raise _Unsupported(f"protobuf bodies of kind {kind or '(none)'} are not modelled by the sandbox")
        obj = _message(memoryview(envelope.get("raw", b"")), kind)
    except _Unsupported as error:
        raise st.ApiError(415, f"{error}: send application/json", "UnsupportedMediaType", {}) from None
    except (IndexError, ValueError, UnicodeDecodeError):
        raise st.ApiError(400, "error decoding the protobuf request body", "BadRequest", {}) from None
    obj["apiVersion"] = type_meta.get("apiVersion", "")
    obj["kind"] = kind
    return obj


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: memoryview) -> list[tuple[int, int, Any]]:
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value = data[pos:pos + length]
            if len(value) != length:
                raise ValueError("truncated field")
            pos += length
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"wire type {wire}")
        out.append((number, wire, value))
    return out


def _message(data: memoryview, name: str) -> dict[str, Any]:
    table = MESSAGES[name]
    obj: dict[str, Any] = {}
    for number, _wire, value in _fields(data):
        if number not in table:
            if _is_zero(value):  # gogo-protobuf writes every non-pointer field; a zero one is JSON's omitted one
                continue
            raise _Unsupported(f"protobuf field {number} of {name} is not modelled by the sandbox")
        field, ftype = table[number]
        if ftype.startswith("[]"):
            obj.setdefault(field, []).append(_value(value, ftype[2:]))
        elif ftype.startswith("map:"):
            key, item = _map_entry(value, ftype[4:])
            obj.setdefault(field, {})[key] = item
        elif ftype.startswith("inline:"):
            obj.update(_message(value, ftype[7:]))
        else:
            decoded = _value(value, ftype)
            if decoded is not None and decoded != "" and not (field in _OMIT_ZERO and not decoded):
                obj[field] = decoded
    return obj


def _map_entry(data: memoryview, ftype: str) -> tuple[str, Any]:
    key, item = "", _value(memoryview(b""), ftype)
    for number, _wire, value in _fields(data):
        if number == 1:
            key = bytes(value).decode()
        elif number == 2:
            item = _value(value, ftype)
    return key, item


def _value(value: Any, ftype: str) -> Any:
    if ftype == "string":
        return bytes(value).decode()
    if ftype == "raw":
        return bytes(value)
    if ftype == "bytes":
        return base64.b64encode(bytes(value)).decode()  # JSON carries []byte as base64
    if ftype == "int":
        return value - (1 << 64) if value >= 1 << 63 else value
    if ftype == "bool":
        return bool(value)
    if ftype == "quantity":
        return _message(value, "Quantity").get("string", "0")
    if ftype == "intorstr":
        parsed = _message(value, "IntOrString")
        return parsed.get("strVal", "") if parsed.get("type") == 1 else parsed.get("intVal", 0)
    if ftype == "time":
        return None  # timestamps are the server's to set
    return _message(value, ftype)
