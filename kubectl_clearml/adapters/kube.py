"""The Kubernetes connection: the official client, built explicitly, returning plain dicts.

Why not the typed ``CoreV1Api`` methods: deserialising 100,000 pods into client models costs seconds and
hundreds of MB, and core/ works on plain dicts anyway. We still go through the official client's
``ApiClient`` (its auth, TLS, proxy and exec-credential handling); only the response decoding is ours.

Every failure leaves this module as one of our errors (errors.py), never as ApiException or a urllib3
exception. Every list is paginated with ``limit``/``continue``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.adapters.kube_http import (
    RawResponse,
    continue_token,
    dry_run_param,
    query_value,
    status_error,
    transport_error,
)
from kubectl_clearml.errors import (
    InvalidRequestError,
    KubectlClearmlError,
    NotFoundError,
    ServerError,
    UnreachableError,
)

LOG = logging.getLogger("kubectl_clearml.kube")

# plural -> (group, version, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "pods": ("", "v1", True),
    "nodes": ("", "v1", False),
    "namespaces": ("", "v1", False),
    "configmaps": ("", "v1", True),
    "secrets": ("", "v1", True),
    "services": ("", "v1", True),
    "serviceaccounts": ("", "v1", True),
    "events": ("", "v1", True),
    "deployments": ("apps", "v1", True),
    "leases": ("coordination.k8s.io", "v1", True),
    "roles": ("rbac.authorization.k8s.io", "v1", True),
    "rolebindings": ("rbac.authorization.k8s.io", "v1", True),
    "clusterroles": ("rbac.authorization.k8s.io", "v1", False),
    "clusterrolebindings": ("rbac.authorization.k8s.io", "v1", False),
    "poddisruptionbudgets": ("policy", "v1", True),
    "persistentvolumeclaims": ("", "v1", True),
    "selfsubjectaccessreviews": ("authorization.k8s.io", "v1", False),
    "subjectaccessreviews": ("authorization.k8s.io", "v1", False),
}

PATCH_CONTENT_TYPES = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
}

DEFAULT_TIMEOUT = (5.0, 60.0)  # connect, read (seconds)


@dataclass
class Kube:
    """A connection to one cluster, with a resolved default namespace."""

    api_client: Any
    namespace: str
    context: str | None
    server: str
    requests_made: int = 0
    _timeout: tuple[float, float] = field(default=DEFAULT_TIMEOUT)

    @property
    def request_timeout(self) -> tuple[float, float]:
        """(connect, read) seconds after which one request is given up (watches and log streams add their own)."""
        return self._timeout

    @request_timeout.setter
    def request_timeout(self, value: float | tuple[float, float]) -> None:
        """A number sets the read timeout (connect: the smaller of it and 5 s); a pair sets both."""
        if isinstance(value, tuple):
            connect_s, read_s = float(value[0]), float(value[1])
        else:
            read_s = float(value)
            connect_s = min(DEFAULT_TIMEOUT[0], read_s)
        if not (connect_s > 0 and read_s > 0):
            raise ValueError(f"request timeouts must be positive, not {value!r}")
        self._timeout = (connect_s, read_s)

    # ---- paths -------------------------------------------------------------------------------------
    def _path(
        self,
        resource: str,
        namespace: str | None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> str:
        try:
            group, version, namespaced = RESOURCES[resource]
        except KeyError:
            raise InvalidRequestError(f"unsupported resource {resource!r}") from None
        path = "/api/v1" if not group else f"/apis/{group}/{version}"
        if namespaced and namespace:
            path += f"/namespaces/{namespace}"
        path += f"/{resource}"
        if name:
            path += f"/{name}"
        if subresource:
            path += f"/{subresource}"
        return path

    def _ns(self, resource: str, namespace: str | None) -> str | None:
        return (namespace or self.namespace) if RESOURCES.get(resource, ("", "", False))[2] else None

    # ---- transport ---------------------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: Any = None,
        what: tuple[str, str, str | None, str | None] = ("get", "", None, None),
    ) -> Any:
        """One HTTP call through the official client's ApiClient; returns a :class:`RawResponse` (unread).

        Works with both client generations: 36+ (``param_serialize`` + ``call_api`` returning a
        RESTResponse) and <= 35 (``call_api(path, method, ..., _preload_content=False)`` returning the
        urllib3 response and raising ApiException on errors). Only the request path differs.
        """
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json", "Content-Type": content_type}
        params = [(k, query_value(v)) for k, v in (query or {}).items() if v is not None]
        self.requests_made += 1
        try:
            if hasattr(self.api_client, "param_serialize"):
                method_, url, hdrs, body_, post = self.api_client.param_serialize(
                    method=method,
                    resource_path=path,
                    query_params=params,
                    header_params=headers,
                    body=body,
                    auth_settings=["BearerToken"],
                )
                rest = self.api_client.call_api(
                    method_,
                    url,
                    header_params=hdrs,
                    body=body_,
                    post_params=post,
                    _request_timeout=timeout or self._timeout,
                )
                response = RawResponse(rest.status, rest.response)
            else:
                raw = self.api_client.call_api(
                    path,
                    method,
                    query_params=params,
                    header_params=headers,
                    body=body,
                    auth_settings=["BearerToken"],
                    _preload_content=False,
                    _return_http_data_only=True,
                    _request_timeout=timeout or self._timeout,
                )
                response = RawResponse(raw.status, raw)
        except ApiException as exc:
            if exc.status:  # the old generation raises for HTTP errors
                raise status_error(exc.status, exc.body or b"", what, self.server) from None
            raise UnreachableError(  # status 0: TLS or protocol failure before any HTTP status
                f"cannot reach the Kubernetes API server: {exc.reason}",
                self.server,
                "check the server URL and certificates in your kubeconfig",
            ) from None
        except Exception as exc:
            if isinstance(exc, KubectlClearmlError):
                raise
            raise transport_error(exc, self.server) from None
        if response.status >= 400:
            raise status_error(response.status, response.read(), what, self.server)
        return response

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        return self._decoded(self._send(method, path, **kw), path)

    def _decoded(self, response: RawResponse, path: str) -> Any:
        data = response.read()
        if not data:
            return {}
        try:
            return json.loads(data)
        except ValueError:
            raise ServerError("the Kubernetes API server sent a response that is not JSON", path) from None

    # ---- verbs -------------------------------------------------------------------------------------
    def version(self) -> Any:
        # Every API server answers /version with gitVersion (no RBAC needed): anything else means another
        # HTTP server listens at the kubeconfig's address (a wrong port), which "not found" would hide.
        try:
            version = self._json("GET", "/version", what=("get", "version", None, None))
        except (NotFoundError, InvalidRequestError, ServerError):
            raise _not_kubernetes(self.server, "GET /version failed") from None
        if not isinstance(version, dict) or "gitVersion" not in version:
            raise _not_kubernetes(self.server, "GET /version has no gitVersion")
        return version

    def get(self, resource: str, name: str, namespace: str | None = None, *, subresource: str | None = None) -> Any:
        ns = self._ns(resource, namespace)
        return self._json("GET", self._path(resource, ns, name, subresource), what=("get", resource, ns, name))

    def list_with_version(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        all_namespaces: bool = False,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
    ) -> tuple[list[dict[str, Any]], str]:
        items: list[dict[str, Any]] = []
        version = ""
        for page in self._pages(resource, namespace, all_namespaces, label_selector, field_selector, page_size):
            items.extend(page.get("items") or [])
            version = (page.get("metadata") or {}).get("resourceVersion", version)
        return items, version

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        all_namespaces: bool = False,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
    ) -> Iterator[dict[str, Any]]:
        for page in self._pages(resource, namespace, all_namespaces, label_selector, field_selector, page_size):
            yield from page.get("items") or []

    def _pages(
        self,
        resource: str,
        namespace: str | None,
        all_namespaces: bool,
        label_selector: str | None,
        field_selector: str | None,
        page_size: int,
    ) -> Iterator[dict[str, Any]]:
        pages = self.list_raw_pages(
            resource,
            namespace,
            all_namespaces=all_namespaces,
            label_selector=label_selector,
            field_selector=field_selector,
            page_size=page_size,
        )
        for raw in pages:
            try:
                yield json.loads(raw)
            except ValueError:
                raise ServerError("the Kubernetes API server sent a response that is not JSON", resource) from None

    def list_raw_pages(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        all_namespaces: bool = False,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
    ) -> Iterator[bytes]:
        """The pages of a list as the JSON bytes the server sent (paginated like :meth:`list`).

        For callers that decode the items elsewhere, e.g. in another thread than the one fetching, so the
        next request goes out before this page is decoded: only the list's metadata is parsed here.
        """
        ns = None if all_namespaces else self._ns(resource, namespace)
        path = self._path(resource, ns)
        token: str | None = None
        while True:
            query = {
                "labelSelector": label_selector,
                "fieldSelector": field_selector,
                "limit": page_size,
                "continue": token,
            }
            raw = bytes(self._send("GET", path, query=query, what=("list", resource, ns, None)).read())
            token = continue_token(raw, path)
            yield raw
            if not token:
                return

    def create(
        self,
        resource: str,
        body: dict[str, Any],
        namespace: str | None = None,
        *,
        dry_run: str | None = None,
        subresource: str | None = None,
        name: str | None = None,
        reply: bool = True,
    ) -> Any:
        """Create the object; the server's copy of it, or None with ``reply=False`` (the glue's pod creates:
        decoding a pod nobody reads was 4% of its CPU per task, issue 17)."""
        ns = self._ns(resource, namespace or (body.get("metadata") or {}).get("namespace"))
        obj_name = name or (body.get("metadata") or {}).get("name")
        path = self._path(resource, ns, name, subresource)
        response = self._send(
            "POST", path, body=body, query={"dryRun": dry_run_param(dry_run)}, what=("create", resource, ns, obj_name)
        )
        if not reply:
            response.read()  # read: the connection goes back to the pool
            return None
        return self._decoded(response, path)

    def replace(
        self,
        resource: str,
        name: str,
        body: dict[str, Any],
        namespace: str | None = None,
        *,
        dry_run: str | None = None,
        subresource: str | None = None,
    ) -> Any:
        ns = self._ns(resource, namespace)
        return self._json(
            "PUT",
            self._path(resource, ns, name, subresource),
            body=body,
            query={"dryRun": dry_run_param(dry_run)},
            what=("update", resource, ns, name),
        )

    def patch(
        self,
        resource: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "strategic",
        dry_run: str | None = None,
        subresource: str | None = None,
    ) -> Any:
        if patch_type not in PATCH_CONTENT_TYPES:
            raise InvalidRequestError(f"unknown patch type {patch_type!r}", hint="use strategic, merge or json")
        ns = self._ns(resource, namespace)
        return self._json(
            "PATCH",
            self._path(resource, ns, name, subresource),
            body=patch,
            content_type=PATCH_CONTENT_TYPES[patch_type],
            query={"dryRun": dry_run_param(dry_run)},
            what=("patch", resource, ns, name),
        )

    def delete(
        self,
        resource: str,
        name: str,
        namespace: str | None = None,
        *,
        ignore_missing: bool = False,
        dry_run: str | None = None,
        uid: str | None = None,
    ) -> None:
        """With ``uid``, only that incarnation is deleted (a newer object of the same name answers 409)."""
        ns = self._ns(resource, namespace)
        try:
            self._json(
                "DELETE",
                self._path(resource, ns, name),
                query={"dryRun": dry_run_param(dry_run)},
                body={"preconditions": {"uid": uid}} if uid else None,
                what=("delete", resource, ns, name),
            )
        except NotFoundError:
            if not ignore_missing:
                raise

    def watch(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        all_namespaces: bool = False,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 60,
    ) -> Iterator[dict[str, Any]]:
        """Watch events (``{"type", "object"}``) until the server ends the stream after timeout_seconds."""
        ns = None if all_namespaces else self._ns(resource, namespace)
        query = {
            "watch": "true",
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "resourceVersion": resource_version,
            "timeoutSeconds": timeout_seconds,
            "allowWatchBookmarks": "true",
        }
        response = self._send(
            "GET",
            self._path(resource, ns),
            query=query,
            timeout=(self._timeout[0], timeout_seconds + 15),
            what=("watch", resource, ns, None),
        )
        raw = response.response
        try:
            buffer = b""
            for chunk in raw.stream(65536, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
            if buffer.strip():
                yield json.loads(buffer)
        except ValueError:
            raise ServerError("the watch stream sent a line that is not JSON", resource) from None
        except Exception as exc:
            if isinstance(exc, KubectlClearmlError):
                raise
            raise transport_error(exc, self.server) from None
        finally:
            raw.release_conn()

    def pod_log(
        self,
        name: str,
        namespace: str | None = None,
        *,
        tail_lines: int | None = None,
        container: str | None = None,
    ) -> str:
        ns = self._ns("pods", namespace)
        response = self._send(
            "GET",
            self._path("pods", ns, name, "log"),
            query={"tailLines": tail_lines, "container": container},
            what=("get", "pods/log", ns, name),
        )
        return bytes(response.read()).decode("utf-8", "replace")

    def stream_pod_log(self, name: str, namespace: str | None = None, *, timeout: float = 3600) -> Iterator[str]:
        ns = self._ns("pods", namespace)
        response = self._send(
            "GET",
            self._path("pods", ns, name, "log"),
            query={"follow": "true"},
            timeout=(self._timeout[0], timeout),
            what=("get", "pods/log", ns, name),
        )
        raw = response.response
        try:
            for line in raw:
                yield bytes(line).decode("utf-8", "replace").rstrip("\n")
        finally:
            raw.release_conn()


def _not_kubernetes(server: str, why: str) -> ServerError:
    return ServerError(
        f"not a Kubernetes API server: {why}",
        server,
        "check the cluster's server URL (host and port) in the kubeconfig",
    )
