"""The verbs of the Kubernetes emulator: list, watch, get, create, update, patch, delete, log, binding, eviction.

Transport-free: a :class:`Request` comes in, a :class:`Response` (a body, or a stream of chunks) goes out.
Deny rules are checked before anything is read or changed.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable
from typing import Any

import jsonpatch

from kubectl_clearml.core.merge import StrategicMergeError, json_merge_patch, strategic_merge
from kubectl_clearml.core.selectors import (
    SelectorError,
    field_value,
    labels_match,
    parse_field_selector,
    parse_label_selector,
)
from kubectl_clearml.sandbox.kube import admission, decoding, deletion, objects, streams, tables
from kubectl_clearml.sandbox.kube import status as st
from kubectl_clearml.sandbox.kube.discovery import SUBRESOURCE_VERBS, Route, discovery_document, route
from kubectl_clearml.sandbox.kube.resources import FIELD_DEFAULTS, Resource
from kubectl_clearml.sandbox.kube.store import Obj, Store, copy_json
from kubectl_clearml.sandbox.kube.wire import (
    Request,
    Response,
    dumps,
    error_response,
    int_param,
    json_response,
    parse_bool,
)

PATCH_TYPES = {
    "application/strategic-merge-patch+json": "strategic",
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
}

Authorizer = Callable[[str, Resource, "str | None", "str | None", "str | None", str], "st.ApiError | None"]


class Api:
    def __init__(self, store: Store, authorize: Authorizer, stopping: threading.Event, host: Callable[[], str],
                 strict_namespaces: bool = True) -> None:
        self.store = store
        self.authorize = authorize
        self.stopping = stopping
        self.host = host
        self.strict_namespaces = strict_namespaces
        # A pod on a node is deleted gracefully (deletionTimestamp, then its kubelet removes it) when a
        # simulated kubelet runs (the sandbox's cluster sets this); without one it would never go away.
        self.graceful_pods = False
        self.bookmark_seconds = 60.0  # BOOKMARK events after this long without one (allowWatchBookmarks)

    def handle(self, request: Request) -> Response:
        try:
            if request.method == "GET":
                document = discovery_document(request.path.rstrip("/") or "/", self.host())
                if document is not None:
                    return json_response(200, document)
                if request.path.startswith("/openapi/"):
                    raise st.ApiError(404, "the server could not find the requested resource", "NotFound", {})
            target = route(request.path)
            return self._dispatch(request, target)
        except st.ApiError as error:
            return error_response(error)

    # ---- dispatch ----------------------------------------------------------------------------------
    def _dispatch(self, request: Request, target: Route) -> Response:
        method, name, sub = request.method, target.name, target.subresource
        if method == "GET" and name is None:
            verb = "watch" if parse_bool(request.query.get("watch")) else "list"
        else:
            verb = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
                method, "")
        if not _allowed(verb, name, sub):
            raise st.ApiError(405, f"the server does not allow this method on the requested resource ({method})",
                              "MethodNotAllowed", {})
        denied = self.authorize(verb, target.resource, sub, target.namespace, name, request.user)
        if denied is not None:
            raise denied
        dry_run = request.query.get("dryRun") == "All"
        as_table = tables.wants_table(request.accept)
        if verb == "list":
            return self._list(target, request.query, as_table)
        if verb == "watch":
            return self._watch(target, request.query, as_table)
        assert name is not None or verb == "create"
        if verb == "get":
            return self._get(target, request.query, as_table)
        if verb == "delete":
            options = decoding.delete_options(request.body)
            return self._delete(target, dry_run or "All" in (options.get("dryRun") or ()), options)
        warnings: list[str] = []

        def admit(obj: Obj) -> Obj:
            if target.subresource != "scale":
                warnings.extend(_admit(target.resource, obj, request.query.get("fieldValidation") or "Warn"))
            return obj

        if verb == "create":
            response = self._create(target, decoding.json_body(request.body), dry_run, admit)
        elif verb == "update":
            body = decoding.json_body(request.body)
            response = self._write(target, lambda current: admit(_checked_body(target, body, current)), dry_run)
        else:
            patch_type = PATCH_TYPES.get(request.content_type.split(";")[0].strip())
            if patch_type is None:
                raise st.ApiError(415, "the body of the request was in an unknown format - accepted media types "
                                  "include: " + ", ".join(PATCH_TYPES), "UnsupportedMediaType", {})
            patch = decoding.json_body(request.body)
            response = self._write(target, lambda current: admit(_patched(target, current, patch, patch_type)),
                                   dry_run)
        response.warnings = warnings
        return response

    # ---- reads -------------------------------------------------------------------------------------
    def _filter(self, resource: Resource, query: dict[str, str]) -> Callable[[Obj], bool] | None:
        try:
            labels = parse_label_selector(query.get("labelSelector"))
            fields = parse_field_selector(query.get("fieldSelector"), resource.field_allowed)
        except SelectorError as error:
            raise st.ApiError(400, str(error), "BadRequest", {}) from None
        if not labels and not fields:
            return None
        # A list tests every stored object: read each selected field once (status.phase!=Succeeded,
        # status.phase!=Failed reads the phase once), with a plain-dict fast path.
        wanted: dict[str, list[tuple[str, bool]]] = {}
        for requirement in fields:
            wanted.setdefault(requirement.field, []).append((requirement.value, requirement.negate))
        tests = [(_field_reader(path), tuple(checks)) for path, checks in wanted.items()]

        def keep(obj: Obj) -> bool:
            if labels and not labels_match(labels, (obj.get("metadata") or {}).get("labels")):
                return False
            for read, checks in tests:
                found = read(obj)
                for value, negate in checks:
                    if (found == value) == negate:
                        return False
            return True

        return keep

    def _list(self, target: Route, query: dict[str, str], as_table: bool = False) -> Response:
        resource = target.resource
        keep = self._filter(resource, query) or _keep_all
        limit = max(int_param(query.get("limit"), "limit"), 0) or None  # a negative limit is no limit
        start, token_rv = _decode_continue(query.get("continue"))
        if as_table:
            objs, last, rv = self.store.page(resource.plural, target.namespace, start, limit, keep)
        else:
            encoded, last, rv = self.store.page_json(resource.plural, target.namespace, start, limit, keep)
        meta: dict[str, Any] = {"resourceVersion": str(token_rv or rv)}
        if last is not None:
            meta["continue"] = _encode_continue(last, token_rv or rv)
            if keep is _keep_all:
                meta["remainingItemCount"] = self.store.count_after(resource.plural, target.namespace, last)
        if as_table:
            return json_response(200, tables.table(resource, objs, meta, include=query.get("includeObject")))
        head = dumps({"kind": f"{resource.kind}List", "apiVersion": resource.group_version, "metadata": meta})
        # Items carry no kind/apiVersion on a real apiserver (the store caches each item's bytes so).
        return Response(200, b"".join((head[:-1], b',"items":[', b",".join(encoded), b"]}")))

    def _get(self, target: Route, query: dict[str, str], as_table: bool = False) -> Response:
        obj = self._read(target)
        if target.subresource == "log":
            return self._log(target, obj, query)
        if target.subresource == "scale":
            return json_response(200, objects.scale_of(obj))
        if as_table and target.subresource is None:
            meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            return json_response(200, tables.table(target.resource, [obj], meta,
                                                   include=query.get("includeObject")))
        return json_response(200, obj)

    def _read(self, target: Route) -> Obj:
        assert target.name is not None
        obj = self.store.read(target.resource.plural, target.namespace, target.name)
        if obj is None:
            raise st.not_found(target.resource, target.name)
        return obj

    # ---- writes ------------------------------------------------------------------------------------
    def _create(self, target: Route, body: Any, dry_run: bool, admit: Callable[[Obj], Obj]) -> Response:
        resource = target.resource
        if target.subresource == "binding":
            return self._bind(target, body)
        if target.subresource == "eviction":  # no PodDisruptionBudgets here: an eviction is a delete
            options = (body or {}).get("deleteOptions") or {} if isinstance(body, dict) else {}
            deletion.delete(self.store, Route(resource, target.namespace, target.name, None),
                            dry_run or "All" in (options.get("dryRun") or ()), options, graceful_pods=self.graceful_pods)
            return json_response(201, st.success(resource, target.name or ""))
        if not isinstance(body, dict):
            raise st.ApiError(400, "the request body must be a JSON object", "BadRequest", {})
        decoding.decode(resource, body)
        _check_kind(resource, body)
        admit(body)
        meta = body.setdefault("metadata", {})
        if resource.namespaced:
            if meta.get("namespace") and meta["namespace"] != target.namespace:
                raise st.ApiError(400, "the namespace of the provided object does not match the namespace sent "
                                  "on the request", "BadRequest", {})
            meta["namespace"] = target.namespace
            if self.strict_namespaces and self.store.read("namespaces", None, target.namespace or "") is None:
                raise st.ApiError(404, f'namespaces "{target.namespace}" not found', "NotFound",
                                  {"name": target.namespace, "kind": "namespaces"})
        else:
            meta.pop("namespace", None)
        for key in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation"):
            meta.pop(key, None)
        objects.prepare_create(resource, body)
        if resource.plural == "pods":
            self._admit_priority(body)
        created = self.store.insert(resource, body, dry_run=dry_run)
        return json_response(201, created)

    def _admit_priority(self, pod: Obj) -> None:
        """The Priority admission plugin: a named PriorityClass must exist (403), its value becomes the pod's."""
        spec = pod["spec"]
        name = spec.get("priorityClassName")
        if not name:
            spec.setdefault("priority", 0)
            return
        found = self.store.read("priorityclasses", None, name)
        if found is None:
            raise st.ApiError(403, f'pods "{pod["metadata"].get("name") or pod["metadata"].get("generateName")}" '
                              f"is forbidden: no PriorityClass with name {name} was found", "Forbidden",
                              {"name": pod["metadata"].get("name", ""), "kind": "pods"})
        spec["priority"] = int(found.get("value") or 0)
        if found.get("preemptionPolicy"):
            spec.setdefault("preemptionPolicy", found["preemptionPolicy"])

    def _bind(self, target: Route, body: Any) -> Response:
        node = ((body or {}).get("target") or {}).get("name") if isinstance(body, dict) else None
        if not node:
            raise st.invalid(target.resource, target.name or "", [("target.name", "Required value")])

        def bind(pod: Obj) -> Obj:
            spec = pod.setdefault("spec", {})
            if spec.get("nodeName"):
                raise st.ApiError(409, f'pod {target.name} is already assigned to node "{spec["nodeName"]}"',
                                  "Conflict", {"name": target.name, "kind": "pods"})
            spec["nodeName"] = node
            conditions = [c for c in pod.setdefault("status", {}).get("conditions", []) if c.get("type") != "PodScheduled"]
            conditions.append({"type": "PodScheduled", "status": "True"})
            pod["status"]["conditions"] = conditions
            return pod

        assert target.name is not None
        self.store.modify(target.resource, target.namespace, target.name, bind)
        return json_response(201, st.success(target.resource, target.name))

    def _write(self, target: Route, change: Callable[[Obj], Obj], dry_run: bool) -> Response:
        """Update or patch: ``change`` maps the current object (or its Scale) to the wanted one."""
        resource, sub = target.resource, target.subresource
        assert target.name is not None
        if sub == "scale":
            def rescale(deployment: Obj) -> Obj:
                before = copy_json(deployment.get("spec"))
                scale = change(objects.scale_of(deployment))
                _check_version(resource, target.name or "", deployment, scale)
                deployment.setdefault("spec", {})["replicas"] = (scale.get("spec") or {}).get("replicas", 0)
                if deployment.get("spec") != before:
                    deployment["metadata"]["generation"] = int(deployment["metadata"].get("generation", 1)) + 1
                return deployment

            stored = self.store.modify(resource, target.namespace, target.name, rescale, dry_run=dry_run)
            return json_response(200, objects.scale_of(stored))

        def update(current: Obj) -> Obj:
            wanted = change(copy_json(current))
            _check_version(resource, target.name or "", current, wanted)
            return objects.prepare_update(resource, sub, current, wanted)

        return json_response(200, self.store.modify(resource, target.namespace, target.name, update, dry_run=dry_run))

    def _delete(self, target: Route, dry_run: bool, options: dict[str, Any]) -> Response:
        return deletion.delete(self.store, target, dry_run, options, graceful_pods=self.graceful_pods)

    # ---- streams -----------------------------------------------------------------------------------
    def _watch(self, target: Route, query: dict[str, str], as_table: bool = False) -> Response:
        keep = self._filter(target.resource, query) or (lambda _: True)
        return streams.watch(self.store, self.stopping, target, keep, query, as_table, self.bookmark_seconds)

    def _log(self, target: Route, pod: Obj, query: dict[str, str]) -> Response:
        return streams.pod_log(self.store, self.stopping, target, pod, query)


# ---- helpers ----------------------------------------------------------------------------------------


def _keep_all(_: Obj) -> bool:
    return True


def _admit(resource: Resource, obj: Obj, field_validation: str) -> list[str]:
    """Unknown fields (Strict: 400; otherwise dropped, and reported under Warn) and quantities."""
    strict = field_validation == "Strict"
    unknown = admission.unknown_fields(resource, obj, drop=not strict)
    if unknown and strict:
        raise admission.strict_error(resource, unknown)
    admission.canonicalise_quantities(resource, obj)
    return [f'unknown field "{field}"' for field in unknown] if field_validation == "Warn" else []


_MISSING = object()


def _field_reader(path: str) -> Callable[[Obj], str]:
    """``field_value(obj, path, FIELD_DEFAULTS)``, walking plain dicts without the generic Mapping checks."""
    parts = path.split(".")
    default = FIELD_DEFAULTS.get(path, "")

    def read(obj: Obj) -> str:
        current: Any = obj
        for part in parts:
            if type(current) is not dict:
                return field_value(obj, path, FIELD_DEFAULTS)  # anything unusual: the reference reading
            current = current.get(part, _MISSING)
            if current is _MISSING:
                return default
        if type(current) is str:
            return current
        if current is None:
            return default
        if isinstance(current, bool):
            return "true" if current else "false"
        return str(current)

    return read


def _allowed(verb: str, name: str | None, subresource: str | None) -> bool:
    """Collections take list/watch/create; objects get/update/patch/delete; subresources their own verbs."""
    if subresource is not None:
        return verb in SUBRESOURCE_VERBS[subresource]
    return verb in (("list", "watch", "create") if name is None else ("get", "update", "patch", "delete"))


def _encode_continue(key: tuple[str, str], rv: int) -> str:
    raw = dumps({"v": "sandbox/1", "rv": rv, "start": list(key)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_continue(token: str | None) -> tuple[tuple[str, str] | None, int]:
    if not token:
        return None, 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        namespace, name = data["start"]
        return (str(namespace), str(name)), int(data["rv"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise st.ApiError(400, f"continue key is not valid: {token!r}", "BadRequest", {}) from None


def _check_kind(resource: Resource, body: Obj) -> None:
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if (kind and kind != resource.kind) or (api_version and api_version != resource.group_version):
        raise st.ApiError(400, f"the object provided is unrecognized ({api_version}, Kind={kind}): the server "
                          f"expects {resource.group_version}, Kind={resource.kind}", "BadRequest", {})


def _checked_body(target: Route, body: Any, current: Obj) -> Obj:
    if not isinstance(body, dict):
        raise st.ApiError(400, "the request body must be a JSON object", "BadRequest", {})
    if target.subresource == "scale":
        decoding.decode(target.resource, body, decoding.SCALE)
        return body
    decoding.decode(target.resource, body)
    _check_kind(target.resource, body)
    name = (body.get("metadata") or {}).get("name")
    if name != target.name:
        raise st.ApiError(400, f"the name of the object ({name}) does not match the name on the URL "
                          f"({target.name})", "BadRequest", {})
    return body


def _check_version(resource: Resource, name: str, current: Obj, wanted: Obj) -> None:
    """A resourceVersion in the request must be the current one (update, or a patch that carries one)."""
    asked = (wanted.get("metadata") or {}).get("resourceVersion")
    if asked and str(asked) != current["metadata"].get("resourceVersion"):
        raise st.conflict(resource, name)


def _patched(target: Route, current: Obj, patch: Any, patch_type: str) -> Obj:
    try:
        if patch_type == "json":
            if not isinstance(patch, list):
                raise st.ApiError(400, "json patch must be a JSON array of operations", "BadRequest", {})
            result = jsonpatch.JsonPatch(patch).apply(current)
        elif not isinstance(patch, dict):
            raise st.ApiError(400, "a merge patch must be a JSON object", "BadRequest", {})
        elif patch_type == "merge":
            result = json_merge_patch(current, patch)
        else:
            result = strategic_merge(current, patch)
    except (AttributeError, TypeError) as error:  # a patch of the wrong type: Go's result would not decode
        raise decoding.patch_invalid(patch, f"cannot apply the patch: {error}") from None
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException):
        raise _patch_rejected() from None
    except StrategicMergeError as error:
        raise st.ApiError(400, str(error), "BadRequest", {}) from None
    if not isinstance(result, dict):
        raise st.ApiError(422, "the patched object is not a JSON object", "Invalid", {})
    decoding.decode_patched(target.resource, result, patch,
                            decoding.SCALE if target.subresource == "scale" else None)
    return result


def _patch_rejected() -> st.ApiError:
    """A JSON patch that does not apply: the apiserver's NewGenericServerResponse(422, ...), which keeps
    neither the patch library's message nor a cause (kubectl shows only the generic sentence)."""
    return st.ApiError(422, "the server rejected our request due to an error in our request", "Invalid", {})
