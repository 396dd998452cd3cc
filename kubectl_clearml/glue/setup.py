"""From flags and the agent's configuration to RunSettings, checking everything before anything moves.

Bad input is refused here, before a task is pulled or a pod created: an unknown queue, a template
that is not a pod template, a worker id that cannot label a pod. Each refusal names what to fix.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from kubectl_clearml.core import glue_policy as policy
from kubectl_clearml.core import podbuilder
from kubectl_clearml.errors import ConflictError, NotFoundError, ServerError, UnreachableError, UsageError
from kubectl_clearml.glue.settings import QueueSpec, RunSettings

T = TypeVar("T")
LOG = logging.getLogger("kubectl_clearml.glue")
QUEUE_ID = re.compile(r"^[-a-f0-9]{30,}$")
PROBE_TASK = {"id": "0" * 32, "name": "template check", "container": {"image": "busybox:1.36"}}


def resolve_queue(clearml: Any, name: str) -> tuple[str, str]:
    """(name, id) of a queue given by name (exact, case-insensitive, as the agent does) or by id."""
    if QUEUE_ID.match(name):
        data = clearml.call("queues.get_all", {"id": [name], "only_fields": ["id", "name"]})
        found = data.get("queues") or []
        if found:
            return str(found[0].get("name") or name), str(found[0]["id"])
    data = clearml.call(
        "queues.get_all",
        {"name": f"^{re.escape(name)}$", "only_fields": ["id", "name"], "search_hidden": True},
    )
    for queue in data.get("queues") or []:
        if str(queue.get("name", "")).lower() == name.lower():
            return str(queue["name"]), str(queue["id"])
    raise NotFoundError(
        f"queue {name!r} not found on the ClearML server",
        clearml.server,
        "check the name (kubectl clearml queues lists them), or create it in the ClearML UI",
    )


def retry_transient(
    action: Callable[[], T],
    *,
    attempts: int | None = 10,
    base: float = RunSettings.backoff_base,
    cap: float = RunSettings.backoff_cap,
    sleep: Callable[[float], None] = time.sleep,
    step: str = "start-up read",
) -> T:
    """Start-up reads survive a flaky server (5xx, timeouts) with the loop's backoff; bad input (403, 404,
    a bad template) still fails at once. ``attempts=None``: until it works (a daemon outlives an outage
    of either server, as its loop does; SIGTERM still ends it)."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return action()
        except (ServerError, UnreachableError) as exc:
            if isinstance(exc, ConflictError) or (attempts is not None and attempt >= attempts):
                raise
            delay = policy.backoff_delay(attempt, base, cap, random.random())
            LOG.warning("%s failed (%s); retrying in %.1f s", step, exc.one_line(), delay)
            sleep(delay)


def worker_id_for(flag: str | None, env: Mapping[str, str], cluster: str, namespace: str, queues: Sequence[str]) -> str:
    # An explicit but empty --worker-id is a mistake to report, not a request for the default.
    if flag is not None:
        worker_id = flag
    else:
        worker_id = env.get("CLEARML_WORKER_ID") or policy.default_worker_id(cluster, namespace, queues)
    if not worker_id.strip():
        raise UsageError("the worker id is empty", hint="pass --worker-id or set CLEARML_WORKER_ID")
    return worker_id


def check_template(queue_name: str, template: Mapping[str, Any] | None, pod_settings: podbuilder.GlueSettings) -> None:
    """Build a pod for a probe task: a template that cannot carry a task stops the glue before it starts."""
    try:
        built = podbuilder.build_task_pod(PROBE_TASK, podbuilder.QueueRef("0" * 32, queue_name), template, pod_settings)
    except UsageError as exc:
        raise UsageError(
            f"the pod template of queue {queue_name!r} is not usable: {exc.what}",
            exc.obj,
            "fix the template (a Pod, or a pod spec with containers) and start again; nothing was pulled",
        ) from None
    # The pod watch, the start list, --max-pods and the credentials Secret all live in the glue's namespace:
    # a pod placed elsewhere would be invisible, and after a restart its running task would look orphaned.
    if pod_settings.namespace and built.namespace and built.namespace != pod_settings.namespace:
        raise UsageError(
            f"the pod template of queue {queue_name!r} puts pods in namespace {built.namespace!r}, "
            f"but the glue runs in {pod_settings.namespace!r}",
            hint=f"run the glue with -n {built.namespace}, or remove metadata.namespace from the template",
        )


def build_run_settings(
    clearml: Any,
    *,
    namespace: str,
    cluster: str,
    queue_names: Sequence[str],
    templates: Mapping[str, Mapping[str, Any] | None],
    queue_max_pods: Mapping[str, int] | None = None,
    worker_id: str | None = None,
    max_pods: int | None = None,
    credentials_secret: str | None = None,
    api_host: str = "",
    verify_certificate: bool = True,
    gpu_count: int = 0,
    env: Mapping[str, str] | None = None,
    start_attempts: int | None = 10,
    pod_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> RunSettings:
    """Resolve queues (in the given priority order), check templates, and fix the worker identity."""
    if not queue_names:
        raise UsageError(
            "no queue to serve",
            hint="pass --queue NAME (repeatable, in priority order), or -f values.yaml of the agent",
        )
    blank = [n for n in queue_names if not n.strip()]
    if blank:
        raise UsageError("an empty queue name", hint="pass --queue NAME with the queue's name as ClearML shows it")
    if max_pods is not None and max_pods < 1:
        raise UsageError(f"--max-pods must be at least 1, not {max_pods}")
    resolved = [
        retry_transient(functools.partial(resolve_queue, clearml, name), attempts=start_attempts, step=f"queue {name}")
        for name in queue_names
    ]
    seen: set[str] = set()
    unique = [(n, i) for n, i in resolved if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]
    wid = worker_id_for(worker_id, env if env is not None else os.environ, cluster, namespace, [n for n, _ in unique])
    pod_settings = podbuilder.GlueSettings(
        worker_id=wid,
        api_host=api_host,
        credentials_secret=credentials_secret,
        namespace=namespace,
        verify_certificate=verify_certificate,
        # what the agent install says about its pods: clearml.conf Secret, default image, string templates
        **dict(pod_options or {}),
    )
    limits = dict(queue_max_pods or {})
    specs: list[QueueSpec] = []
    for name, queue_id in unique:
        template = templates.get(name, templates.get("*"))
        check_template(name, template, pod_settings)
        specs.append(QueueSpec(name=name, id=queue_id, template=dict(template or {}), max_pods=limits.get(name)))
    return RunSettings(
        queues=specs,
        namespace=namespace,
        worker_id=wid,
        max_pods=max_pods,
        gpu_count=gpu_count,
        pod_settings=pod_settings,
        **options,
    )
