"""Label values of task pods, as the reference glue writes them, and the lookups that depend on them.

API (pure)::

    agent_label(worker_id) -> "agent-<8 hex of md5>"          (k8s.py:333-343)
    reference_label_value(name) / safe_label_value(name)       (k8s.py:1573-1581; ours is always valid)
    reference_label_problem(name) -> why the reference's label is invalid, or None
    queue_label_values(name) -> the values to look the glue's pods up by
    first_free_slot(pods, max_services) -> ports mode's pod number
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

# Ports mode: the chart's Session Services select ai.allegro.agent.serial=pod-N (chart 5.3.2
# templates/service-sessions.yaml:28); the glue at ac65a93 writes ai.clearml.agent.serial (k8s.py:106, the
# chart passes no --limit-pod-label), so the reference's pods are never selected. Ours carry both.
SERIAL_LABELS = ("ai.allegro.agent.serial", "ai.clearml.agent.serial")
_LABEL_VALUE_TRIM = re.compile(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$")
LABEL_VALUE_RE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def agent_label(worker_id: str) -> str:
    """The reference glue's agent label value: ``agent-`` + the first 8 hex of md5(worker id)."""
    return "agent-" + hashlib.md5(str(worker_id).encode("utf-8")).hexdigest()[:8]


def reference_label_value(value: object) -> str:
    """The label value the reference glue writes for a queue name (clearml-agent ac65a93,
    clearml_agent/glue/k8s.py:1573-1581, ``_safe_k8s_label_value``), as a fact: lowercase and strip; drop leading
    and trailing characters other than ASCII letters and digits; every run of non-word characters, then every run
    of ``_``, becomes ``-``; runs of ``-`` collapse to one; cut to 63 characters. Its ``\\W`` is Unicode-aware,
    so ``é`` survives, and the cut can leave a trailing ``-``: both give a value Kubernetes rejects, and then
    the reference's ``kubectl apply`` fails (see ``reference_label_problem``)."""
    text = str(value).lower().strip()
    text = re.sub(r"^[^A-Za-z0-9]+", "", text)
    text = re.sub(r"[^A-Za-z0-9]+$", "", text)
    text = re.sub(r"-+", "-", re.sub(r"_+", "-", re.sub(r"\W+", "-", text)))
    return text[:63]


def safe_label_value(value: object) -> str:
    """The reference glue's queue-name label (``reference_label_value``) whenever that is a valid label value;
    otherwise a valid one made the same way over ASCII (non-ASCII letters become ``-``, no trailing ``-``).

    Lookups of the glue's pods by queue name use ``queue_label_values``.
    """
    reference = reference_label_value(value)
    if LABEL_VALUE_RE.match(reference):
        return reference
    text = re.sub(r"[^a-z0-9]+", "-", str(value).lower().strip()).strip("-")
    return text[:63].rstrip("-")


def reference_label_problem(value: object) -> str | None:
    """Why the reference glue's label for ``value`` is rejected by Kubernetes, or None when it is valid."""
    reference = reference_label_value(value)
    if LABEL_VALUE_RE.match(reference):
        return None
    return (
        f"the reference glue labels its pods clearml-agent-queue-name={reference!r}, which is not a valid label "
        "value (ASCII letters, digits, '-', '_', '.'; alphanumeric at both ends), so its kubectl apply fails"
    )


def queue_label_values(name: object) -> tuple[str, ...]:
    """Every ``clearml-agent-queue-name`` value a glue may have given pods of queue ``name``: the reference's
    rule first, then the rule kubectl-clearml 0.1.0 used (``team__a`` -> ``team--a``) for pods its older glue left."""
    legacy = _LABEL_VALUE_TRIM.sub("", re.sub(r"[\W_]", "-", str(name).lower(), flags=re.ASCII)[:63])
    current = safe_label_value(name)
    return (current,) if legacy == current else (current, legacy)


def first_free_slot(pods: Sequence[Mapping[str, Any]], max_services: int, base: int = 1) -> int | None:
    """Ports mode: the first pod number in base..base+max_services-1 no pod carries (k8s.py:625-690), or None
    when every Session Service is in use (the reference then re-enqueues the task)."""
    used: set[str] = set()
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        used.update(str(labels[key]) for key in SERIAL_LABELS if key in labels)
    return next((n for n in range(base, base + max_services) if f"pod-{n}" not in used), None)
