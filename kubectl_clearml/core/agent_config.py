"""The ClearML agent's configuration, read from effective Helm values of either chart flavour.

API (pure)::

    cfg = load_agent_config(values, chart_name="clearml-agent", release="clearml-agent", namespace="ml")
    cfg = config_from_user_values([file1, file2], flavour=None, release=None, namespace="default")
    cfg.flavour                 # "oss" | "enterprise"
    cfg.queues                  # queues the agent serves, in order
    cfg.base_template           # the rendered basePodTemplate (a Pod-shaped dict)
    cfg.effective_template("green")                      # the rendered template of one queue (cfg.merge_rule)
    cfg.merge_rule              # ("deep" | "replace", why): templateOverrides over basePodTemplate, per chart
    cfg.worker_id               # the glue's CLEARML_WORKER_ID (last entry wins)

The rules that need only values live in core/chart_rules.py; what the glue does with a config (its task
clearml.conf, modes, the inputs it fails on) in core/agent_glue.py.
    cfg.effective_pod_values("green")                    # the same before rendering (values shape)
    cfg.overrides("green"), cfg.queue_settings("green"), cfg.has_overrides("green")
    cfg.create_queues, cfg.report_max_gpu, cfg.uses_default_credentials, cfg.notes
    cfg.live_template("green")  # the live ConfigMap's template for the queue, when read from a cluster

Without a Helm release (Argo CD), adapters/agent_install.py builds a config with ``values_known=False``: the
queues come from the glue's K8S_GLUE_QUEUE and ``effective_template`` returns the live rendered template.

``values`` are the *effective* values (chart defaults coalesced with user values, see core/values.py).
Legacy layouts are recognised and read with a note: ``agentk8sglue.podTemplate`` (as basePodTemplate) and the
4.x ``enterpriseFeatures.{queues,createQueues,enabled}``. On the open-source chart the enterprise keys
(``queues``, ``createQueues``, dashboard keys) are ignored by the chart, so they are ignored here too (with a
note, and lint reports them); every served queue then gets the base template.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.core.chart_defaults import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_SECRET_KEY,
    ENTERPRISE_CHART_NAME,
    OSS_CHART_NAME,
    Flavour,
    chart_name_for,
    defaults_for,
)

# split_queue_list, detect_flavour, REPORT_MAX_GPU_KEYS moved to chart_rules; re-exported for callers of this module
from kubectl_clearml.core.chart_rules import REPORT_MAX_GPU_KEYS as REPORT_MAX_GPU_KEYS
from kubectl_clearml.core.chart_rules import detect_flavour as detect_flavour
from kubectl_clearml.core.chart_rules import (
    env_plain_value,
    glue_env,
    guess_flavour,
    last_env_entry,
    merge_rule,
)
from kubectl_clearml.core.chart_rules import split_queue_list as split_queue_list
from kubectl_clearml.core.templates import (
    MergeMode,
    RenderContext,
    RenderedTemplate,
    chart_fullname,
    merge_pod_values,
    render_pod_template,
)
from kubectl_clearml.core.values import effective_values, get_path, merge_user_values
from kubectl_clearml.core.yaml_input import check_template_work
from kubectl_clearml.errors import UsageError

DEFAULT_RELEASE = "clearml-agent"



@dataclass(frozen=True)
class QueueConfig:
    name: str
    overrides: dict[str, Any]  # templateOverrides, values shape
    settings: dict[str, Any]  # queueSettings


@dataclass
class AgentConfig:
    values: dict[str, Any]
    flavour: Flavour
    chart_name: str
    chart_version: str | None
    release: str
    namespace: str
    fullname: str
    queues: list[str]  # served, in order
    declared_queues: list[str]  # from the values (queue list or `queues` keys)
    queue_configs: dict[str, QueueConfig]
    base_values: dict[str, Any]
    create_queues: bool
    report_max_gpu: int | None
    report_max_gpu_key: str | None
    uses_default_credentials: bool
    notes: list[str] = field(default_factory=list)
    user_values: dict[str, Any] | None = None  # what the user supplied, when known (for lint)
    rendered: RenderedTemplate | None = None  # the live template.yaml, when read from a cluster
    values_known: bool = True  # False for an install without a Helm release: only `rendered` is known

    @property
    def render_context(self) -> RenderContext:
        return RenderContext(
            fullname=self.fullname, namespace=self.namespace, flavour=self.flavour, file_mounts_secret=f"{self.fullname}-fm"
        )

    def _queue_context(self, queue: str) -> RenderContext:
        own = "fileMounts" in self.overrides(queue)  # 4.0.10 _helpers.tpl:163-171: the queue's own Secret
        secret = f"{self.fullname}-{queue}-fm" if own else f"{self.fullname}-fm"
        return RenderContext(self.fullname, self.namespace, self.flavour, secret)

    @property
    def base_template(self) -> dict[str, Any]:
        if not self.values_known and self.rendered is not None and self.rendered.single is not None:
            return copy.deepcopy(self.rendered.single)
        return render_pod_template(self.base_values, self.values, self.render_context)

    def live_template(self, queue: str) -> dict[str, Any] | None:
        """The template the live agent actually uses for ``queue`` (from its ConfigMap), if read."""
        found = self.rendered.for_queue(queue) if self.rendered is not None else None
        return copy.deepcopy(found) if found is not None else None

    def has_queue(self, queue: str) -> bool:
        return queue in self.queues or queue in self.queue_configs

    def overrides(self, queue: str) -> dict[str, Any]:
        qc = self.queue_configs.get(queue)
        return dict(qc.overrides) if qc else {}

    def has_overrides(self, queue: str) -> bool:
        return bool(self.overrides(queue))

    def queue_settings(self, queue: str) -> dict[str, Any]:
        qc = self.queue_configs.get(queue)
        return dict(qc.settings) if qc else {}

    @property
    def merge_rule(self) -> tuple[MergeMode, str]:
        """How this chart combines templateOverrides with basePodTemplate, and the evidence (see ``merge_rule``)."""
        return merge_rule(self.flavour, self.chart_version, self.legacy_layout)

    @property
    def legacy_layout(self) -> bool:
        """3.x/4.x values: the open-source chart with ``enterpriseFeatures``."""
        return get_path(self.values, "enterpriseFeatures.enabled") is True or (
            bool(get_path(self.values, "enterpriseFeatures.queues")) and not get_path(self.values, "agentk8sglue.queues")
        )

    def effective_pod_values(self, queue: str, merge: MergeMode | None = None) -> dict[str, Any]:
        return merge_pod_values(self.base_values, self.overrides(queue), merge or self.merge_rule[0])

    def effective_template(self, queue: str, merge: MergeMode | None = None) -> dict[str, Any]:
        """The rendered template of ``queue``: computed from the values (or the live one when values are unknown)."""
        if not self.values_known:
            live = self.live_template(queue)
            if live is not None:
                return live
        return render_pod_template(self.effective_pod_values(queue, merge), self.values, self._queue_context(queue))

    @property
    def worker_id(self) -> str | None:
        """The glue's worker id (its ``CLEARML=agent-<md5>`` label is made from it): the last
        ``CLEARML_WORKER_ID`` of the glue container, the chart's fullname unless extraEnvs sets another; None
        when it comes from ``valueFrom`` (known only inside the glue's pod)."""
        if not self.values_known:
            return None
        return env_plain_value(last_env_entry(glue_env(self.values, self.fullname), "CLEARML_WORKER_ID"))

    def all_queues(self) -> list[str]:
        """Served queues first, then queues that only have configuration."""
        return self.queues + [q for q in self.queue_configs if q not in self.queues]


def config_from_user_values(
    layers: Sequence[Mapping[str, Any]],
    *,
    flavour: Flavour | None = None,
    release: str | None = None,
    namespace: str = "default",
    chart_defaults: Mapping[str, Any] | None = None,
    chart_name: str | None = None,
) -> AgentConfig:
    """Values files only (``-f a.yaml -f b.yaml``) over the embedded (or given) chart defaults."""
    user = merge_user_values(*layers)
    guess = None if flavour else guess_flavour(user, chart_name)
    flavour = flavour or (guess.flavour if guess else "oss")
    defaults = chart_defaults if chart_defaults is not None else defaults_for(flavour)
    values = effective_values(defaults, user)
    cfg = load_agent_config(
        values,
        chart_name=chart_name or chart_name_for(flavour),
        release=release,
        namespace=namespace,
        flavour=flavour,
        user_values=user,
    )
    if guess is not None:
        cfg.notes[:0] = guess.notes()
    if chart_defaults is None:
        cfg.notes.insert(0, f"values files over the embedded {cfg.chart_name} chart defaults")
    return cfg


def load_agent_config(
    values: Mapping[str, Any],
    *,
    chart_name: str | None = None,
    chart_version: str | None = None,
    release: str | None = None,
    namespace: str = "default",
    flavour: Flavour | None = None,
    served_queues: Sequence[str] | None = None,
    user_values: Mapping[str, Any] | None = None,
) -> AgentConfig:
    """Build the model from effective values; ``served_queues`` (the live K8S_GLUE_QUEUE) wins when given."""
    values = dict(values)
    notes: list[str] = []
    flavour = flavour or detect_flavour(user_values or values, chart_name)
    chart_name = chart_name or chart_name_for(flavour)
    if release is None:
        # The docs install each chart as a release named after it.
        release = chart_name if chart_name in (OSS_CHART_NAME, ENTERPRISE_CHART_NAME) else DEFAULT_RELEASE
        if not values.get("fullnameOverride"):
            notes.append(f"object names assume the release name {release!r} (use --release to change)")
    fullname = chart_fullname(release, values, OSS_CHART_NAME if flavour == "oss" else chart_name)
    _check_shapes(values, flavour)
    agent = values.get("agentk8sglue") if isinstance(values.get("agentk8sglue"), Mapping) else {}
    assert isinstance(agent, Mapping)

    base_values = _base_values(agent, notes)
    queue_configs, create_queues = _queue_configs(values, agent, flavour, notes)
    declared = _declared_queues(values, fullname, flavour, queue_configs)
    served = list(served_queues) if served_queues is not None else list(declared)
    check_template_work(base_values, len(set(served) | set(declared) | set(queue_configs)), "agent values")
    max_gpu, max_gpu_key = _report_max_gpu(values, notes)
    return AgentConfig(
        values=values,
        flavour=flavour,
        chart_name=chart_name,
        chart_version=chart_version,
        release=release,
        namespace=namespace,
        fullname=fullname,
        queues=served,
        declared_queues=declared,
        queue_configs=queue_configs,
        base_values=base_values,
        create_queues=create_queues,
        report_max_gpu=max_gpu,
        report_max_gpu_key=max_gpu_key,
        uses_default_credentials=uses_default_credentials(values),
        notes=notes,
        user_values=dict(user_values) if user_values is not None else None,
    )


def _check_shapes(values: Mapping[str, Any], flavour: Flavour) -> None:
    """Keys the chart templates walk into must be mappings: Helm fails to render otherwise ("can't evaluate
    field ... in type []interface {}"), so computing a template from them would only mislead."""
    paths = ["agentk8sglue", "agentk8sglue.basePodTemplate", "agentk8sglue.podTemplate"]
    queues_path = "agentk8sglue.queues"
    if get_path(values, "enterpriseFeatures.queues") is not None and get_path(values, queues_path) is None:
        queues_path = "enterpriseFeatures.queues"
    if flavour == "enterprise":  # the open-source chart never reads `queues` (lint says so)
        paths.append(queues_path)
        queues = get_path(values, queues_path)
        for name in queues if isinstance(queues, Mapping) else ():
            entry = f"{queues_path}.{name}"
            paths += [entry, f"{entry}.templateOverrides", f"{entry}.queueSettings"]
    for path in paths:
        value = get_path(values, path)
        if value is not None and not isinstance(value, Mapping):
            raise UsageError(
                f"{path} must be a mapping, not {_kind(value)}",
                "agent values",
                "helm cannot render the chart with it: fix that key in the -f values files",
            )
    for path in paths:
        if path.endswith(".queueSettings"):
            _check_whole_number(values, f"{path}.maxPods")
        elif not path.endswith((".queues", "agentk8sglue")) and "." in path:
            _check_finite_resources(values, path)


def _check_finite_resources(values: Mapping[str, Any], template_path: str) -> None:
    """``nvidia.com/gpu: .nan`` (or .inf) is a float no quantity can hold: bad input, named by its key."""
    for section in ("limits", "requests"):
        amounts = get_path(values, f"{template_path}.resources.{section}")
        for key, amount in amounts.items() if isinstance(amounts, Mapping) else ():
            if isinstance(amount, float) and not math.isfinite(amount):
                raise UsageError(
                    f"{template_path}.resources.{section}.{key} is {amount}, not a quantity",
                    "agent values",
                    "resources take whole numbers or quantities such as 1, 500m, 2Gi: fix that key in the -f values files",
                )


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    text = repr(value)  # a 10 MB scalar must not become a 10 MB error line
    return f"the {type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def _check_whole_number(values: Mapping[str, Any], path: str) -> None:
    """A count the glue uses as a number (``maxPods``): an int or its digits, else bad input naming the key."""
    value = get_path(values, path)
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return
    if isinstance(value, str) and value.strip().isdigit():
        return
    raise UsageError(
        f"{path} must be a whole number of pods, not {_kind(value)}", "agent values", "fix that key in the -f values files"
    )


def _base_values(agent: Mapping[str, Any], notes: list[str]) -> dict[str, Any]:
    base = agent.get("basePodTemplate")
    legacy = agent.get("podTemplate")
    if isinstance(legacy, Mapping) and legacy and not _has_content(base):
        notes.append("legacy key agentk8sglue.podTemplate read as agentk8sglue.basePodTemplate")
        return dict(legacy)
    return dict(base) if isinstance(base, Mapping) else {}


def _has_content(base: Any) -> bool:
    return isinstance(base, Mapping) and any(v not in (None, "", [], {}) for v in base.values())


def _queue_configs(
    values: Mapping[str, Any], agent: Mapping[str, Any], flavour: Flavour, notes: list[str]
) -> tuple[dict[str, QueueConfig], bool]:
    queues = agent.get("queues")
    create = agent.get("createQueues")
    legacy = values.get("enterpriseFeatures") if isinstance(values.get("enterpriseFeatures"), Mapping) else {}
    assert isinstance(legacy, Mapping)
    if not queues and isinstance(legacy.get("queues"), Mapping) and legacy["queues"]:
        queues = legacy["queues"]
        notes.append("legacy key enterpriseFeatures.queues (chart 3.x/4.x) read as agentk8sglue.queues")
    if create is None and legacy.get("createQueues") is not None:
        create = legacy["createQueues"]
        notes.append("legacy key enterpriseFeatures.createQueues (chart 3.x/4.x) read as agentk8sglue.createQueues")
    if flavour == "oss":
        if queues:
            notes.append(
                "agentk8sglue.queues is an enterprise key: the open-source chart ignores it, "
                "so every queue gets the base template"
            )
        return {}, bool(agent.get("createQueueIfNotExists"))
    configs: dict[str, QueueConfig] = {}
    if isinstance(queues, Mapping):
        for name, entry in queues.items():
            entry = entry if isinstance(entry, Mapping) else {}
            overrides = entry.get("templateOverrides")
            settings = entry.get("queueSettings")
            configs[str(name)] = QueueConfig(
                name=str(name),
                overrides=dict(overrides) if isinstance(overrides, Mapping) else {},
                settings=dict(settings) if isinstance(settings, Mapping) else {},
            )
    return configs, bool(create)


def _declared_queues(
    values: Mapping[str, Any], fullname: str, flavour: Flavour, configs: Mapping[str, QueueConfig]
) -> list[str]:
    if flavour == "enterprise" and configs:
        return list(configs)
    return split_queue_list(env_plain_value(last_env_entry(glue_env(values, fullname), "K8S_GLUE_QUEUE")))


def _report_max_gpu(values: Mapping[str, Any], notes: list[str]) -> tuple[int | None, str | None]:
    for key in REPORT_MAX_GPU_KEYS:
        value = get_path(values, key)
        if value is None:
            continue
        if key != REPORT_MAX_GPU_KEYS[0]:
            notes.append(f"dashboard GPU count read from the older key {key}")
        elif value == 0 and get_path(values, "agentk8sglue.orchestrationDashboard.gpu.discovery.enabled") is True:
            # reportMax overrides discovery; 0 leaves it on (clearml-docs clearml_agent_orch_dash_k8s.md:126-139)
            notes.append(f"{key}: 0 with GPU discovery enabled: the dashboard counts the GPUs it discovers")
            return None, key
        try:
            return int(value), key
        except (TypeError, ValueError, OverflowError):  # .inf, .nan, "lots"
            notes.append(f"{key} is not a number: {value!r}")
            return None, key
    return None, None


def uses_default_credentials(values: Mapping[str, Any]) -> bool:
    """The chart's literal ACCESSKEY/SECRETKEY end up in the agent's Secret (no existing Secret set)."""
    if get_path(values, "clearml.existingAgentk8sglueSecret"):
        return False
    return bool(
        get_path(values, "clearml.agentk8sglueKey") == DEFAULT_ACCESS_KEY
        or get_path(values, "clearml.agentk8sglueSecret") == DEFAULT_SECRET_KEY
    )
