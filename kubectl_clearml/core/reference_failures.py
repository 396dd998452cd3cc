"""Inputs the reference agent cannot apply, that kubectl-clearml's own glue repairs silently.

Our pod builder turns these into a valid pod (label values become strings, ``labels: null`` an empty map,
``"red, blue"`` two queues). The reference does not, and a user reading our output must not believe the real
agent behaves the same: every command that shows a template, a pod or the served queues says so with
``reference_failures``. Facts (chart clearml-agent 5.3.2 at clearml-helm-charts 747c018; glue clearml-agent
ac65a93):

- labels/annotations: the chart renders them with ``toYaml`` (templates/agentk8sglue-configmap.yaml:10-13), so a
  number or a boolean stays one; the glue loads the template and writes it back with ``yaml.dump``
  (glue/k8s.py:1044) and ``kubectl apply`` rejects a non-string label or annotation value: the task fails;
- ``labels: null``: rendered as ``labels: null``; the glue's ``place_labels`` then calls ``update`` on None
  (glue/k8s.py:993-995, AttributeError) and no pod is created;
- the queue list: the entrypoint passes ``--queue ${QUEUE}`` unquoted (docker/k8s-glue/build-resources/
  entrypoint.sh:38) to an argparse option taking one string (examples/k8s_glue_example.py:28), so a space in
  ``agentk8sglue.queue`` ("red, blue", "A100 (80GB)") ends the glue with "unrecognized arguments";
- ``K8S_GLUE_QUEUE`` is rendered unquoted (templates/agentk8sglue-deployment.yaml:142-143): a queue YAML reads
  as a number or a boolean (``2024``, ``on``, ``1e3``) makes the Deployment invalid (env values are strings);
- a queue name whose label value (glue/k8s.py:1573-1581) is not a valid label value: ``kubectl apply`` fails;
- a ``${CLEARML_...}`` string template in a label on the open-source chart: only the enterprise agent
  substitutes them (clearml-docs clearml_agent_string_template.md:5-7);
- a list key of ``basePodTemplate`` given something else (``env: true``, ``volumes: {a: 1}``...): the chart
  writes ``env`` with ``toYaml`` after its own env entries (templates/agentk8sglue-configmap.yaml:69-71), so a
  scalar there makes template.yaml invalid YAML and the glue's ``yaml.load`` of it fails at start-up (glue/k8s.py:203-204,
  266-268); the others are rendered as written (volumes :23-26, initContainers :31-32, volumeMounts :40-43,
  tolerations :76-79) and ``kubectl apply`` rejects a pod whose list field is not a list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kubectl_clearml.core.pod_labels import reference_label_problem
from kubectl_clearml.core.values import get_path

PREFIX = "the reference agent would fail here: "
# basePodTemplate keys the 5.3.2 chart renders into a list field: where (configmap lines), and whether a false
# value is skipped (``with``/``if``) rather than rendered (initContainers is always written).
_LIST_KEYS = {"env": ("69-71", True), "volumes": ("23-26", True), "initContainers": ("31-32", False),
              "volumeMounts": ("40-43", True), "tolerations": ("76-79", True)}
# YAML 1.1 scalars that are not strings when unquoted (Helm reads the rendered manifest with go-yaml).
_YAML_NOT_STRING = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)?\.?[0-9]+(?:[eE][-+]?[0-9]+)?|[-+]?0x[0-9a-fA-F]+|[-+]?\.(?:inf|Inf|INF)"
    r"|\.(?:nan|NaN|NAN)|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|~|null|Null|NULL|)$"
)


def yaml_retypes(text: str) -> bool:
    """True when ``text`` written unquoted in YAML would not read back as the same string."""
    return bool(_YAML_NOT_STRING.match(text.strip())) or text != text.strip()


def reference_failures(
    values: Mapping[str, Any],
    user: Mapping[str, Any] | None,
    flavour: str,
    queues: list[str],
    pod_values: Mapping[str, Mapping[str, Any]],
) -> list[tuple[str, str]]:
    """(where, why) for each input the reference agent fails on. ``pod_values``: values-shape pod templates by
    where they come from (basePodTemplate, each queue's templateOverrides)."""
    out: list[tuple[str, str]] = []
    for where, pv in pod_values.items():
        for key in ("labels", "annotations"):
            entries = pv.get(key)
            for name, value in entries.items() if isinstance(entries, Mapping) else ():
                if value is not None and not isinstance(value, str):
                    out.append(
                        (
                            f"{where}.{key}.{name}",
                            PREFIX + f"the value {value!r} is a {type(value).__name__}, rendered unquoted; the glue "
                            f"writes it back as one (k8s.py:1044) and kubectl apply rejects a non-string {key[:-1]} "
                            "value, so the task fails (quote it; our glue applies it as a string)",
                        )
                    )
                elif key == "labels" and flavour == "oss" and isinstance(value, str) and "${CLEARML_" in value:
                    out.append(
                        (
                            f"{where}.{key}.{name}",
                            PREFIX + f"{value!r} is a string template, which only the enterprise agent substitutes "
                            "(clearml-docs clearml_agent_string_template.md:5-7); the open-source glue sends it as "
                            "written, not a valid label value, and kubectl apply fails",
                        )
                    )
    base_labels = get_path(user or {}, "agentk8sglue.basePodTemplate")
    if isinstance(base_labels, Mapping) and "labels" in base_labels and base_labels["labels"] is None:
        out.append(
            (
                "agentk8sglue.basePodTemplate.labels",
                PREFIX + "labels: null is rendered as null and the glue's place_labels fails on it (k8s.py:993-995, "
                "AttributeError): no task pod is created (use {} or leave the key out)",
            )
        )
    if flavour == "oss":
        out += _list_keys_not_lists(pod_values.get("agentk8sglue.basePodTemplate") or {})
        raw = get_path(user or {}, "agentk8sglue.queue")
        if raw is not None and not isinstance(raw, str):
            out.append(
                (
                    "agentk8sglue.queue",
                    PREFIX + f"{raw!r} is a {type(raw).__name__}: the chart renders K8S_GLUE_QUEUE unquoted "
                    "(agentk8sglue-deployment.yaml:142-143) and Kubernetes rejects a non-string env value; quoting "
                    "it in the values does not help (rename the queue, or write queue: \"'" + str(raw) + "'\")",
                )
            )
        elif isinstance(raw, str) and raw and yaml_retypes(raw):
            out.append(
                (
                    "agentk8sglue.queue",
                    PREFIX + f"{raw!r} is rendered unquoted as K8S_GLUE_QUEUE (agentk8sglue-deployment.yaml:142-143) "
                    + (
                        "and YAML reads it as null: the glue gets no queue and serves k8s_glue (entrypoint.sh:23) "
                        if raw.strip() in ("~", "null", "Null", "NULL")
                        else "and YAML reads it as a number or a boolean: Kubernetes rejects the Deployment "
                    )
                    + "(rename the queue, or write queue: \"'" + raw + "'\" so the rendered value is quoted)",
                )
            )
        if isinstance(raw, str) and re.search(r"\s", raw.strip()):
            out.append(
                (
                    "agentk8sglue.queue",
                    PREFIX + f"{raw!r} has a space: the entrypoint passes --queue ${{QUEUE}} unquoted "
                    "(entrypoint.sh:38) and argparse stops with 'unrecognized arguments' "
                    "(write a comma list without spaces: " + ",".join(q for q in re.split(r"[,\s]+", raw) if q) + ")",
                )
            )
    for queue in queues:
        problem = reference_label_problem(queue)
        if problem:
            out.append((f"queue {queue}", PREFIX + problem))
    return out


def _list_keys_not_lists(base: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, (lines, false_skipped) in _LIST_KEYS.items():
        value = base.get(key)
        if value is None or isinstance(value, list) or (false_skipped and not value):
            continue
        if key == "env" and isinstance(value, Mapping):
            continue  # its keys land in the container itself (:69-71): valid YAML, no failure we can cite
        what = f"{value!r} is a {type(value).__name__}, not a list: "
        if key == "env":
            why = ("the chart writes it after its own env entries (agentk8sglue-configmap.yaml:69-71), template.yaml "
                   "is not valid YAML, and the glue's yaml.load of it fails at start-up (k8s.py:203-204, 266-268): "
                   "no task is launched")
        else:
            why = (f"the chart renders it as written (agentk8sglue-configmap.yaml:{lines}) and kubectl apply rejects "
                   "the pod, so every task fails")
        out.append((f"agentk8sglue.basePodTemplate.{key}", PREFIX + what + why + " (write it as a YAML list)"))
    return out
