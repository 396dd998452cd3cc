"""The pod for a ClearML task on a queue: one pure function shared by ``submit-pod`` and ``run-glue``.

Conventions follow the reference glue so existing installs, dashboards and label selectors keep working
(name ``clearml-id-<task id>``; labels ``CLEARML=agent-<md5(worker id)[:8]>``, ``clearml-agent-queue``,
``clearml-agent-queue-name``, ``clearml-task-id``, ``clearml-parent-task-id``; restartPolicy Never; the
task container merged into the template's first container, env merged by name with the task winning).
Where the reference is weak this builder differs:

- credentials reach the pod only as ``secretKeyRef`` env to the agent's Secret; a plain-text
  ``CLEARML_API_ACCESS_KEY``/``CLEARML_API_SECRET_KEY`` from the template or the task is never used;
- ``-e/--env``, ``--shm-size`` and ``--ipc=host`` are translated (core/docker_args.py); every other docker
  argument is returned in ``BuiltPod.dropped`` for the task's status message;
- annotations name the task, its project and the queue; the pod's exit code is the task's (core/pod_script.py).

API (everything is plain data; nothing here does I/O):

    built = build_task_pod(task, QueueRef(id, name), template, GlueSettings(worker_id=..., ...))
    built.manifest        # the Pod as a dict, ready for Kube.create("pods", ...)
    built.name            # metadata.name
    built.namespace       # from the template's metadata.namespace, else settings.namespace, else None
    built.dropped         # docker arguments not applied, as written
    built.notes           # what was translated or overridden, one line each
    built.status_message()  # "" or one line for the task's status message

    build_adhoc_pod(image, command, queue, template, settings, run_id="ab12cd")  # no task: `submit-pod --image`

    agent_label(worker_id) -> "agent-<8 hex>"; safe_label_value(text) -> the reference's label value, made valid
    (both from core/pod_labels.py, with the lookups by queue name and ports mode's first_free_slot)
    pod_name(task_id) / task_id_from_pod_name(name); validate_image(image)

Invalid input (a template that is not a pod, a bad image name, unparsable docker arguments) raises
``errors.UsageError`` with a message fit for the task's status message.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.core import docker_args, shm
from kubectl_clearml.core.pod_config import CONF_PATH, EXTRA_CONF_ENV, PodConfig, apply_pod_config
from kubectl_clearml.core.pod_container import ACCESS_KEY_ENV, CREDENTIAL_ENVS, SECRET_KEY_ENV, merge_task_container

# agent_label and safe_label_value are part of this module's API (the glue and the queue views use them)
from kubectl_clearml.core.pod_labels import SERIAL_LABELS
from kubectl_clearml.core.pod_labels import agent_label as agent_label
from kubectl_clearml.core.pod_labels import safe_label_value as safe_label_value
from kubectl_clearml.core.pod_script import DEFAULT_EXECUTE_ARGS, agent_script
from kubectl_clearml.core.string_templates import TemplateContext, apply_string_templates
from kubectl_clearml.errors import UsageError

POD_NAME_PREFIX = "clearml-id-"
ADHOC_NAME_PREFIX = "clearml-adhoc-"
AGENT_LABEL = "CLEARML"
QUEUE_ID_LABEL = "clearml-agent-queue"
QUEUE_NAME_LABEL = "clearml-agent-queue-name"
TASK_ID_LABEL = "clearml-task-id"
PARENT_TASK_LABEL = "clearml-parent-task-id"
ADHOC_LABEL = "clearml-adhoc"
ANNOTATION_PREFIX = "clear.ml/"
MAX_ANNOTATION_VALUE = 1024  # task names can be long; annotations are for people, not a data store

_POD_TOP_LEVEL_KEYS = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
# distribution/reference grammar: [host[:port]/]path[:tag][@digest]; path components are lowercase.
_IMAGE_RE = re.compile(
    r"^(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"(?::[0-9]+)?)/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)


@dataclass(frozen=True)
class QueueRef:
    id: str
    name: str


@dataclass(frozen=True)
class GlueSettings:
    """What the glue (or submit-pod) knows about the agent install; no secret values, only where they live."""

    worker_id: str
    api_host: str = ""
    web_host: str = ""
    files_host: str = ""
    credentials_secret: str | None = None  # the agent's Secret (`<fullname>-ac` or existingAgentk8sglueSecret)
    access_key_key: str = "agentk8sglue_key"
    secret_key_key: str = "agentk8sglue_secret"
    default_image: str = "ubuntu:22.04"  # agentk8sglue.defaultContainerImage / CLEARML_DOCKER_IMAGE
    namespace: str | None = None  # used when the template names none
    verify_certificate: bool = True  # False adds CLEARML_API_HOST_VERIFY_CERT=false
    install_agent: bool = True  # False: the image already has clearml-agent (CLEARML_AGENT_NO_UPDATE)
    agent_install_args: str = ""  # appended to `pip install clearml-agent`, e.g. "==1.9.2"
    execute_args: tuple[str, ...] = DEFAULT_EXECUTE_ARGS
    force_pull: bool = False  # agent.docker_force_pull: imagePullPolicy Always
    pod_name_prefix: str = POD_NAME_PREFIX
    ipc_host_shm_size: str | None = None  # /dev/shm size for --ipc=host; None: half the memory limit (core/shm.py)
    pod_config: PodConfig | None = None  # the agent's clearml.conf for the task (core/pod_config.py); None: none
    port_slot: int | None = None  # ports mode (sessions.portModeEnabled): the pod's number N of pod-N
    use_image_entrypoint: bool = False  # K8S_GLUE_POD_USE_IMAGE_ENTRYPOINT / queueSettings.useImageEntrypoint
    custom_script: str | None = None  # enterprise agentk8sglue.containerCustomBashScript (core/pod_script.py)
    string_templates: bool = False  # substitute ${CLEARML_...} per task (the enterprise agent does; core/string_templates.py)


@dataclass(frozen=True)
class BuiltPod:
    manifest: dict[str, Any]
    name: str
    namespace: str | None
    dropped: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def status_message(self) -> str:
        """One line for the task's status message: what Kubernetes could not honour, else ""."""
        if not self.dropped:
            return ""
        return "docker arguments not applied on Kubernetes: " + ", ".join(self.dropped)


# ---- helpers the glue and the queues commands reuse -----------------------------------------------------


def pod_name(task_id: str, prefix: str = POD_NAME_PREFIX) -> str:
    name = f"{prefix}{task_id}"
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        raise UsageError(f"cannot name a pod after task id {task_id!r}", hint="task ids are lowercase hex")
    return name


def task_id_from_pod_name(name: str, prefix: str = POD_NAME_PREFIX) -> str | None:
    return name[len(prefix) :] if name.startswith(prefix) and len(name) > len(prefix) else None


def validate_image(image: str) -> str:
    image = image.strip() if isinstance(image, str) else ""
    if not image or not _IMAGE_RE.match(image):
        raise UsageError(
            f"invalid image name {image!r}",
            hint="expected [registry/]name[:tag][@sha256:digest], lowercase repository path, no spaces",
        )
    return image


# ---- the builder -----------------------------------------------------------------------------------------


def build_task_pod(
    task: Mapping[str, Any],
    queue: QueueRef,
    template: Mapping[str, Any] | None,
    settings: GlueSettings,
    *,
    project_name: str | None = None,
) -> BuiltPod:
    """The Pod that runs ``task`` (a tasks.get_by_id/get_all record) for ``queue`` on ``template``."""
    task_id = str(task.get("id") or "")
    if not task_id:
        raise UsageError("the task record has no id")
    name = pod_name(task_id, settings.pod_name_prefix)
    image, arguments, setup_script = _task_container_fields(task)
    try:
        translation = docker_args.translate(arguments)
    except docker_args.DockerArgumentError as exc:
        raise UsageError(str(exc), obj=f"task {task_id}") from exc
    image = validate_image(image or settings.default_image)

    pod, notes = _pod_from_template(template, queue)
    labels = {
        AGENT_LABEL: agent_label(settings.worker_id),
        QUEUE_ID_LABEL: safe_label_value(queue.id),
        QUEUE_NAME_LABEL: safe_label_value(queue.name),
        TASK_ID_LABEL: safe_label_value(task_id),
    }
    parent = _parent_id(task)
    if parent:
        labels[PARENT_TASK_LABEL] = safe_label_value(parent)
    if settings.port_slot is not None:
        labels.update({key: f"pod-{settings.port_slot}" for key in SERIAL_LABELS})
        notes.append(
            f"ports mode: labelled {SERIAL_LABELS[0]}=pod-{settings.port_slot} (selected by the chart's Session "
            f"Service clearml-session-{settings.port_slot}) and {SERIAL_LABELS[1]} (the reference glue's label)"
        )
    project = project_name or _project_name(task)
    annotations = {
        "task-id": task_id,
        "task-name": str(task.get("name") or ""),
        "project": project,
        "queue": queue.name,
        "queue-id": queue.id,
        "worker": settings.worker_id,
    }
    _finish_metadata(pod, name, labels, annotations, settings)

    # Order sets precedence: the server's address < the task's -e (it may point at another files host)
    # < the worker id; credentials from the task are ignored, only the Secret reference counts.
    env = [entry for entry in _connection_env(settings) if entry[0] not in CREDENTIAL_ENVS]
    config_env: list[tuple[str, Any]] = []
    if settings.pod_config is not None:
        pod["spec"]["containers"] = pod["spec"]["containers"] or [{}]
        config_env = apply_pod_config(pod, settings.pod_config, notes)
    env.extend(entry for entry in config_env if entry[0] != EXTRA_CONF_ENV)  # git credentials: the task may override
    notes.extend(translation.notes)
    for env_name, value in translation.env:
        if env_name in CREDENTIAL_ENVS:
            notes.append(f"-e {env_name}=… ignored: credentials come from the agent's Secret")
        else:
            env.append((env_name, {"value": value}))
    env.extend(entry for entry in _connection_env(settings) if entry[0] in CREDENTIAL_ENVS)
    env.append(("CLEARML_WORKER_ID", {"value": f"{settings.worker_id}:{task_id}"}))
    env.extend(entry for entry in config_env if entry[0] == EXTRA_CONF_ENV)
    conf_path = None
    if settings.pod_config is not None:
        conf_path = CONF_PATH if settings.pod_config.secret else ""
    script = agent_script(
        task_id,
        setup_shell_script=setup_script,
        install_agent=settings.install_agent,
        agent_install_args=settings.agent_install_args,
        execute_args=settings.execute_args,
        task_config=conf_path,
        extra_config_env=EXTRA_CONF_ENV,
        custom_script=settings.custom_script,
    )
    container: dict[str, Any] = {"name": name, "image": image, "command": ["/bin/bash", "-c", script], "args": None}
    if settings.use_image_entrypoint:
        # k8s.py:935-946: no command or args, the task id in env; the image's entrypoint runs the agent.
        container = {"name": name, "image": image}  # a template's own command/args stay, as in the reference
        env.append(("CLEARML_TASK_ID", {"value": task_id}))
        if conf_path:
            env.append(("CLEARML_CONFIG_FILE", {"value": conf_path}))
        notes.append("the image's entrypoint runs the task (use-image-entrypoint): no start script, CLEARML_TASK_ID set")
    if settings.force_pull:
        container["imagePullPolicy"] = "Always"
    merge_task_container(pod, container, env, notes)
    if settings.string_templates:
        context = TemplateContext(task, queue.name, queue.id, settings.worker_id, project)
        apply_string_templates(pod, context, notes)
    _apply_shm(pod, translation, settings, notes)
    return BuiltPod(_ordered(pod), name, _namespace(pod), translation.dropped, tuple(notes))


def build_adhoc_pod(
    image: str,
    command: Sequence[str],
    queue: QueueRef,
    template: Mapping[str, Any] | None,
    settings: GlueSettings,
    *,
    run_id: str,
) -> BuiltPod:
    """A pod on ``queue``'s template running ``command`` in ``image``, with no task (``nvidia-smi`` on 1xGPU).

    It carries no ``CLEARML`` agent label, so the glue neither counts nor tracks it, and no credentials.
    """
    if not command:
        raise UsageError("an ad-hoc pod needs a command", hint="submit-pod --image IMG -- CMD [ARGS...]")
    name = f"{ADHOC_NAME_PREFIX}{run_id}"
    if not _DNS_SUBDOMAIN.match(name) or len(name) > 63:
        raise UsageError(f"invalid ad-hoc pod id {run_id!r}")
    pod, notes = _pod_from_template(template, queue)
    labels = {
        ADHOC_LABEL: "true",
        QUEUE_ID_LABEL: safe_label_value(queue.id),
        QUEUE_NAME_LABEL: safe_label_value(queue.name),
    }
    annotations = {"queue": queue.name, "queue-id": queue.id, "command": " ".join(command)}
    _finish_metadata(pod, name, labels, annotations, settings)
    container = {"name": name, "image": validate_image(image), "command": list(command), "args": None}
    if settings.force_pull:
        container["imagePullPolicy"] = "Always"
    merge_task_container(pod, container, [], notes)
    return BuiltPod(_ordered(pod), name, _namespace(pod), (), tuple(notes))


# ---- internals ---------------------------------------------------------------------------------------------


def _task_container_fields(task: Mapping[str, Any]) -> tuple[str, Any, Any]:
    """(image, docker arguments, setup script): ``container`` (API ≥ 2.13), else legacy ``execution.docker_cmd``."""
    container = task.get("container") if isinstance(task.get("container"), Mapping) else {}
    assert isinstance(container, Mapping)
    image = str(container.get("image") or "").strip()
    arguments = container.get("arguments")
    if not image:
        execution = task.get("execution") if isinstance(task.get("execution"), Mapping) else {}
        assert isinstance(execution, Mapping)
        docker_cmd = str(execution.get("docker_cmd") or "").strip()
        if docker_cmd:
            try:
                tokens = docker_args.split_arguments(docker_cmd)
            except docker_args.DockerArgumentError as exc:
                raise UsageError(str(exc), obj=f"task {task.get('id')}") from exc
            image, arguments = (tokens[0] if tokens else ""), tokens[1:]
    return image, arguments, container.get("setup_shell_script")


def _parent_id(task: Mapping[str, Any]) -> str:
    parent = task.get("parent")
    if isinstance(parent, Mapping):
        parent = parent.get("id")
    return str(parent or "")


def _project_name(task: Mapping[str, Any]) -> str:
    project = task.get("project")
    if isinstance(project, Mapping):
        return str(project.get("name") or project.get("id") or "")
    return str(project or "")


def _pod_from_template(template: Mapping[str, Any] | None, queue: QueueRef) -> tuple[dict[str, Any], list[str]]:
    """A deep copy of the template as a Pod, or UsageError when it is not a pod template."""
    where = f"template of queue {queue.name}"
    if template is None:
        template = {}
    if not isinstance(template, Mapping):
        raise UsageError(f"the pod template is a {type(template).__name__}, not a mapping", obj=where)
    pod = copy.deepcopy(dict(template))
    if "containers" in pod and "spec" not in pod:
        pod = {"spec": pod}  # a bare pod spec
    kind = pod.get("kind")
    if kind not in (None, "Pod"):
        raise UsageError(f"the pod template has kind {kind!r}, not a Pod", obj=where, hint="give a Pod template")
    unknown = sorted(str(k) for k in pod if k not in _POD_TOP_LEVEL_KEYS)
    if unknown:
        raise UsageError(
            "the pod template is not a pod spec: unexpected keys " + ", ".join(unknown),
            obj=where,
            hint="expected apiVersion/kind/metadata/spec (is this a values file?)",
        )
    pod.pop("status", None)
    if isinstance(pod.get("spec"), dict):
        # Chart renders carry `priorityClassName: null`, `initContainers: []`: noise in a printed pod.
        pod["spec"] = {k: v for k, v in pod["spec"].items() if v is not None and v != [] and v != {}}
    spec = pod.setdefault("spec", {})
    metadata = pod.setdefault("metadata", {})
    if spec is None:
        spec = pod["spec"] = {}
    if metadata is None:
        metadata = pod["metadata"] = {}
    if not isinstance(spec, dict) or not isinstance(metadata, dict):
        raise UsageError("the pod template's spec and metadata must be mappings", obj=where)
    containers = spec.get("containers") or []
    if not isinstance(containers, list) or not all(isinstance(c, dict) for c in containers):
        raise UsageError("the pod template's spec.containers must be a list of containers", obj=where)
    spec["containers"] = containers
    notes: list[str] = []
    if spec.get("restartPolicy") not in (None, "Never"):
        notes.append(f"restartPolicy {spec['restartPolicy']} replaced by Never: a task runs once")
    spec["restartPolicy"] = "Never"
    return pod, notes


def _finish_metadata(
    pod: dict[str, Any],
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    settings: GlueSettings,
) -> None:
    pod["apiVersion"] = "v1"
    pod["kind"] = "Pod"
    metadata = pod["metadata"]
    for key in ("generateName", "resourceVersion", "uid", "creationTimestamp", "ownerReferences"):
        metadata.pop(key, None)
    metadata["name"] = name
    if not metadata.get("namespace"):
        metadata.pop("namespace", None)
        if settings.namespace:
            metadata["namespace"] = settings.namespace
    metadata["labels"] = {**{str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}, **labels}
    ours = {ANNOTATION_PREFIX + k: v[:MAX_ANNOTATION_VALUE] for k, v in annotations.items() if v}
    metadata["annotations"] = {**{str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()}, **ours}


def _connection_env(settings: GlueSettings) -> list[tuple[str, Any]]:
    env: list[tuple[str, Any]] = []
    for env_name, value in (
        ("CLEARML_API_HOST", settings.api_host),
        ("CLEARML_WEB_HOST", settings.web_host),
        ("CLEARML_FILES_HOST", settings.files_host),
    ):
        if value:
            env.append((env_name, {"value": value}))
    if not settings.verify_certificate:
        env.append(("CLEARML_API_HOST_VERIFY_CERT", {"value": "false"}))
    if settings.credentials_secret:
        for env_name, key in ((ACCESS_KEY_ENV, settings.access_key_key), (SECRET_KEY_ENV, settings.secret_key_key)):
            ref = {"secretKeyRef": {"name": settings.credentials_secret, "key": key}}
            env.append((env_name, {"valueFrom": ref}))
    return env


def _apply_shm(
    pod: dict[str, Any], translation: docker_args.DockerTranslation, settings: GlueSettings, notes: list[str]
) -> None:
    size = translation.shm_size
    if size is not None and translation.ipc_host:
        notes.append("--ipc=host: not used (hostIPC shares the node); the --shm-size emptyDir serves")
    if size is None and translation.ipc_host:
        provision = shm.current_provision(pod)
        if provision.kind == "memory":
            notes.append("--ipc=host: not used (hostIPC shares the node); the template's /dev/shm emptyDir serves")
            return
        size = settings.ipc_host_shm_size or shm.default_size(pod)
        notes.append(f"--ipc=host: not used (hostIPC shares the node); /dev/shm is a Memory emptyDir of {size}")
    if size is None:
        return
    spec = pod["spec"]
    first = spec["containers"][0]
    volumes, mounts = shm.fix_lists(spec.get("volumes") or [], first.get("volumeMounts") or [], size)
    spec["volumes"] = volumes
    first["volumeMounts"] = mounts


def _namespace(pod: Mapping[str, Any]) -> str | None:
    namespace = pod.get("metadata", {}).get("namespace")
    return str(namespace) if namespace else None


def _ordered(pod: dict[str, Any]) -> dict[str, Any]:
    """apiVersion, kind, metadata, spec first: the order people expect when reading the YAML."""
    head: dict[str, Any] = {key: pod[key] for key in ("apiVersion", "kind", "metadata", "spec") if key in pod}
    return {**head, **{k: v for k, v in pod.items() if k not in head}}
