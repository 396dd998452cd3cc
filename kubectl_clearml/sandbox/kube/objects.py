"""What the apiserver does to objects beyond storing them: defaults, validation, status rules, Scale.

Only the behaviour this project can meet is modelled: pod and deployment defaulting, the pod fields an
update may change, status reset on create, Secret ``stringData``, and the ``autoscaling/v1`` Scale view.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from kubectl_clearml.core.selectors import SelectorError, format_label_selector, labels_match, match_labels_selector
from kubectl_clearml.sandbox.kube import admission
from kubectl_clearml.sandbox.kube import status as st
from kubectl_clearml.sandbox.kube.resources import Resource

Obj = dict[str, Any]

# Pod spec fields an update may change (the apiserver's ValidatePodUpdate, simplified).
_POD_MUTABLE = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds", "schedulingGates")
_POD_UPDATE_MESSAGE = (
    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
    "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
    "negative)"
)


def prepare_create(resource: Resource, obj: Obj) -> None:
    """Defaults and status rules applied to a new object (in place), then validation."""
    obj["apiVersion"] = resource.group_version
    obj["kind"] = resource.kind
    meta = obj["metadata"]
    name = meta.get("name") or meta.get("generateName") or ""
    if not meta.get("name") and not meta.get("generateName"):
        raise st.invalid(resource, "", [("metadata.name", "Required value: name or generateName is required")])
    problems = admission.name_problems(resource, meta)
    if problems:
        raise st.invalid(resource, name, problems)
    if resource.plural == "pods":
        _default_pod_spec(obj.setdefault("spec", {}))
        admission.default_requests_from_limits(obj["spec"])
        validate_pod(resource, name, obj)
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj["spec"])}
    elif resource.plural in ("deployments", "replicasets"):
        meta["generation"] = 1
        _default_deployment(resource, name, obj)
        obj.pop("status", None)
    elif resource.plural == "namespaces":
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    elif resource.plural == "secrets":
        fold_string_data(obj)
        obj.setdefault("type", "Opaque")
    elif resource.plural == "services":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
            # The service IP allocator (the default 10.96.0.0/12 range), stable per name.
            digest = hashlib.sha256(f"{meta.get('namespace')}/{meta['name']}".encode()).digest()
            spec["clusterIP"] = f"10.{96 + digest[0] % 16}.{digest[1]}.{digest[2] % 254 + 1}"
            spec["clusterIPs"] = [spec["clusterIP"]]
        for port in spec.get("ports") or ():
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))


def prepare_update(resource: Resource, subresource: str | None, current: Obj, new: Obj) -> Obj:
    """The object to store for an update of ``current`` to ``new`` (main resource or ``status``)."""
    meta = new.setdefault("metadata", {})
    for key in ("name", "namespace", "uid", "creationTimestamp", "generation"):
        if key in current["metadata"]:
            meta[key] = current["metadata"][key]
        else:
            meta.pop(key, None)
    new["apiVersion"], new["kind"] = resource.group_version, resource.kind
    if subresource == "ephemeralcontainers":
        return _with_ephemeral_containers(resource, current, new)
    if subresource == "status":
        result = dict(current)
        result["status"] = new.get("status", {})
        result["metadata"] = {**current["metadata"], **{k: v for k, v in meta.items() if k in ("labels", "annotations")}}
        return result
    if resource.has_status:
        if "status" in current:
            new["status"] = current["status"]
        else:
            new.pop("status", None)
    if resource.plural == "pods":
        _check_pod_update(resource, current, new)
    if resource.plural in ("deployments", "replicasets") and new.get("spec") != current.get("spec"):
        meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
    if resource.plural == "secrets":
        fold_string_data(new)
    return new


def _with_ephemeral_containers(resource: Resource, current: Obj, new: Obj) -> Obj:
    """``pods/ephemeralcontainers`` (kubectl debug): only ``spec.ephemeralContainers`` changes, by additions."""
    before = (current.get("spec") or {}).get("ephemeralContainers") or []
    after = (new.get("spec") or {}).get("ephemeralContainers") or []
    if after[:len(before)] != before:
        raise st.invalid(resource, current["metadata"]["name"], [(
            "spec.ephemeralContainers", "Forbidden: existing ephemeral containers may not be changed")])
    for container in after[len(before):]:
        _default_container(container)
    result = dict(current)
    result["spec"] = {**(current.get("spec") or {}), "ephemeralContainers": after}
    return result


def fold_string_data(secret: Obj) -> None:
    """``stringData`` is write-only: the apiserver merges it into ``data`` as base64."""
    string_data = secret.pop("stringData", None) or {}
    if string_data:
        data = secret.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def qos_class(spec: Obj) -> str:
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    resources = [c.get("resources") or {} for c in containers]
    if not any((r.get("requests") or r.get("limits")) for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                return "Burstable"
    return "Guaranteed"


def validate_pod(resource: Resource, name: str, pod: Obj) -> None:
    spec = pod.get("spec") or {}
    causes: list[tuple[str, str]] = []
    containers = spec.get("containers") or []
    if not containers:
        causes.append(("spec.containers", "Required value"))
    seen: set[str] = set()
    for field in ("containers", "initContainers"):
        for index, container in enumerate(spec.get(field) or []):
            where = f"spec.{field}[{index}]"
            if not container.get("name"):
                causes.append((f"{where}.name", "Required value"))
            elif container["name"] in seen:
                causes.append((f"{where}.name", f'Duplicate value: "{container["name"]}"'))
            seen.add(container.get("name", ""))
            if not container.get("image"):
                causes.append((f"{where}.image", "Required value"))
    causes.extend(admission.container_problems(spec))
    if causes:
        raise st.invalid(resource, name, causes)


def scale_of(deployment: Obj) -> Obj:
    meta = deployment["metadata"]
    selector = ""
    try:
        selector = format_label_selector(match_labels_selector((deployment.get("spec") or {}).get("selector")))
    except SelectorError:
        pass
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": (deployment.get("spec") or {}).get("replicas", 1)},
        "status": {"replicas": (deployment.get("status") or {}).get("replicas", 0), "selector": selector},
    }


def _default_pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or []:
            _default_container(container)


def _default_container(container: Obj) -> None:
    image = str(container.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
    container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    for port in container.get("ports") or ():
        port.setdefault("protocol", "TCP")


def _default_deployment(resource: Resource, name: str, obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    if resource.plural == "deployments":
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxSurge", "25%")
            rolling.setdefault("maxUnavailable", "25%")
    if not spec.get("selector"):
        raise st.invalid(resource, name, [("spec.selector", "Required value")])
    template = spec.get("template") or {}
    _default_pod_spec(template.setdefault("spec", {}))
    causes = [("spec.template." + field, message) for field, message in admission.container_problems(template["spec"])]
    try:
        selector = match_labels_selector(spec["selector"])
    except SelectorError:
        selector = None
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector is not None and not labels_match(selector, labels):
        shown = "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items())) + "}"
        causes.append(("spec.template.metadata.labels",
                       f"Invalid value: {shown}: `selector` does not match template `labels`"))
    if causes:
        raise st.invalid(resource, name, causes)


def _check_pod_update(resource: Resource, current: Obj, new: Obj) -> None:
    def comparable(spec: Obj) -> Obj:
        spec = {k: v for k, v in spec.items() if k not in _POD_MUTABLE}
        for field in ("containers", "initContainers"):
            if field in spec:
                spec[field] = [{k: v for k, v in c.items() if k != "image"} for c in spec[field]]
        return spec

    if comparable(current.get("spec") or {}) != comparable(new.get("spec") or {}):
        raise st.invalid(resource, current["metadata"]["name"], [("spec", _POD_UPDATE_MESSAGE)])
