"""ClearML string templates in pod templates (``${CLEARML_TASK.name}``), substituted per task.

Facts from clearml-docs df22ffc4, docs/clearml_agent/clearml_agent_string_template.md (an enterprise feature):
the form is ``${CLEARML_<specifier>[:<default>][|op|op(x)]}``; single values ``QUEUE_NAME``, ``QUEUE_ID``,
``WORKER_ID``, ``PROJECT_NAME``, ``PROJECT_ID`` (lines 17-27); compound ``TASK.<path>`` over the task's data,
and ``USER``, ``CONFIG``, ``USER_VAULTS``, ``PROVIDERS_INFO`` (lines 29-50); a list becomes a comma list
(lines 52-56); ``:default`` when there is no value (lines 66-76); operators ``strip(chars)``, ``capitalize``,
``lower``, ``remove_newlines`` (the default), ``raw`` (lines 78-93); used in basePodTemplate and
templateOverrides (lines 97-115). USER, CONFIG, USER_VAULTS and PROVIDERS_INFO are server-side data this
plugin does not have: they resolve to their default, or stay as written with a note.

API (pure)::

    text, unresolved = substitute("${CLEARML_TASK.name|lower}", context)
    context = TemplateContext(task=task_record, queue_name=..., queue_id=..., worker_id=..., project_name=...)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubectl_clearml.core.pod_labels import LABEL_VALUE_RE, safe_label_value

_PATTERN = re.compile(r"\$\{CLEARML_(?P<spec>[A-Za-z_][A-Za-z0-9_.\-]*)(?::(?P<default>[^|}]*))?(?P<ops>(?:\|[^|}]+)*)\}")
UNAVAILABLE = ("USER", "CONFIG", "USER_VAULTS", "PROVIDERS_INFO")


@dataclass(frozen=True)
class TemplateContext:
    task: Mapping[str, Any] = field(default_factory=dict)
    queue_name: str = ""
    queue_id: str = ""
    worker_id: str = ""
    project_name: str = ""


def has_template(text: Any) -> bool:
    return isinstance(text, str) and "${CLEARML_" in text


def substitute(text: str, ctx: TemplateContext) -> tuple[str, list[str]]:
    """``text`` with every template replaced; the second value lists the templates left as written."""
    unresolved: list[str] = []

    def replace(match: re.Match[str]) -> str:
        value = _lookup(match.group("spec"), ctx)
        if value is None or value == "":
            if match.group("default") is not None:
                value = match.group("default")
            else:
                unresolved.append(match.group(0))
                return match.group(0)
        return _apply_ops(value, match.group("ops"))

    return _PATTERN.sub(replace, text), unresolved


def _lookup(spec: str, ctx: TemplateContext) -> str | None:
    singles = {
        "QUEUE_NAME": ctx.queue_name,
        "QUEUE_ID": ctx.queue_id,
        "WORKER_ID": ctx.worker_id,
        "PROJECT_NAME": ctx.project_name,
        "PROJECT_ID": _project_id(ctx.task),
    }
    if spec in singles:
        return singles[spec] or None
    root, _, path = spec.partition(".")
    if root != "TASK" or not path:
        return None  # USER/CONFIG/USER_VAULTS/PROVIDERS_INFO: known only to the ClearML server
    node: Any = ctx.task
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return None
    if isinstance(node, Mapping):  # an expanded reference ({"id", "name"}) stands for its id, as in task data
        return str(node["id"]) if node.get("id") else None
    if isinstance(node, (list, tuple)):
        return ",".join(str(v) for v in node)
    return None if node is None else str(node)


def _project_id(task: Mapping[str, Any]) -> str:
    project = task.get("project")
    return str(project.get("id") or "") if isinstance(project, Mapping) else str(project or "")


def _apply_ops(value: str, ops: str) -> str:
    names = [op for op in ops.split("|") if op]
    if "raw" not in names and "remove_newlines" not in names:
        names.append("remove_newlines")
    for op in names:
        match = re.fullmatch(r"strip\((.*)\)", op)
        if match:
            chars = match.group(1)
            value = value.strip() if not chars else "".join(c for c in value if c not in chars)
        elif op == "capitalize":
            value = value.capitalize()
        elif op == "lower":
            value = value.lower()
        elif op == "remove_newlines":
            value = value.replace("\r", "").replace("\n", "")
    return value


def apply_string_templates(pod: dict[str, Any], context: TemplateContext, notes: list[str]) -> None:
    """``${CLEARML_...}`` in labels, annotations and env values, resolved for this task; a label that is not a
    valid label value afterwards is made one, with a note (Kubernetes would refuse the pod)."""
    unresolved: list[str] = []
    metadata = pod["metadata"]
    for key in ("labels", "annotations"):
        entries = metadata.get(key) or {}
        for name, value in list(entries.items()):
            if not has_template(value):
                continue
            text, missing = substitute(value, context)
            unresolved += missing
            if key == "labels" and not LABEL_VALUE_RE.match(text):
                fixed = safe_label_value(text)
                notes.append(f"label {name}={text!r} (from {value!r}) is not a valid label value: {fixed!r} used")
                text = fixed
            entries[name] = text
    for container in pod["spec"].get("containers") or []:
        for entry in container.get("env") or []:
            if isinstance(entry, dict) and has_template(entry.get("value")):
                entry["value"], missing = substitute(entry["value"], context)
                unresolved += missing
    for template in dict.fromkeys(unresolved):
        notes.append(f"{template}: no value known to kubectl-clearml and no :default, left as written")
