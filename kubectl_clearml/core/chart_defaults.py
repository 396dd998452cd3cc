"""Chart defaults (``chart.values``) of the two agent chart flavours, as data.

Used when the values come from files only (no live release to read ``chart.values`` from). Only the keys
that shape the task-pod template, the queues and the credentials are kept. Sources: the open-source chart
``clearml-agent`` 5.3.2 ``values.yaml``; the enterprise chart is not public, so its defaults are the
open-source ones plus the enterprise keys the ClearML docs describe (``queues``, ``createQueues``,
``orchestrationDashboard``). A live release always wins over these.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

Flavour = Literal["oss", "enterprise"]

OSS_CHART_NAME = "clearml-agent"
ENTERPRISE_CHART_NAME = "clearml-enterprise-agent"
OSS_CHART_VERSION = "5.3.2"
ENTERPRISE_CHART_VERSION = "6.x"

DEFAULT_ACCESS_KEY = "ACCESSKEY"
DEFAULT_SECRET_KEY = "SECRETKEY"


def _base_pod_template() -> dict[str, Any]:
    # values.yaml lists these keys; fileMounts, schedulerName and hostAliases are not rendered by 5.x.
    return {
        "initContainers": [],
        "schedulerName": "",
        "annotations": {},
        "labels": {},
        "env": [],
        "resources": {},
        "priorityClassName": "",
        "nodeSelector": {},
        "tolerations": [],
        "affinity": {},
        "podSecurityContext": {},
        "containerSecurityContext": {},
        "volumes": [],
        "volumeMounts": [],
        "fileMounts": [],
        "hostAliases": [],
    }


def _common() -> dict[str, Any]:
    return {
        "global": {"imageRegistry": "docker.io"},
        "imageCredentials": {"enabled": False, "existingSecret": ""},
        "clearml": {
            "agentk8sglueKey": DEFAULT_ACCESS_KEY,
            "agentk8sglueSecret": DEFAULT_SECRET_KEY,
            "existingAgentk8sglueSecret": "",
            "clearmlConfig": "",
            "existingClearmlConfigSecret": "",
        },
        "agentk8sglue": {
            "image": {"registry": "", "repository": "allegroai/clearml-agent-k8s-base", "tag": "1.24-21"},
            "extraEnvs": [],
            "serviceExistingAccountName": "",
            "replicaCount": 1,
            "labels": {},
            "annotations": {},
            "clearmlcheckCertificate": True,
            "apiServerUrlReference": "https://api.clear.ml",
            "fileServerUrlReference": "https://files.clear.ml",
            "webServerUrlReference": "https://app.clear.ml",
            "defaultContainerImage": "ubuntu:18.04",
            "volumes": [],
            "volumeMounts": [],
            "fileMounts": [],
            "basePodTemplate": _base_pod_template(),
        },
        "sessions": {"portModeEnabled": False, "maxServices": 20, "startingPort": 30000},
    }


def oss_defaults() -> dict[str, Any]:
    values = _common()
    values["agentk8sglue"]["queue"] = "default"
    values["agentk8sglue"]["createQueueIfNotExists"] = False
    return values


def enterprise_defaults() -> dict[str, Any]:
    values = _common()
    values["agentk8sglue"]["createQueues"] = False
    values["agentk8sglue"]["queues"] = {}
    return values


def defaults_for(flavour: Flavour) -> dict[str, Any]:
    return copy.deepcopy(enterprise_defaults() if flavour == "enterprise" else oss_defaults())


def chart_name_for(flavour: Flavour) -> str:
    return ENTERPRISE_CHART_NAME if flavour == "enterprise" else OSS_CHART_NAME


# The basePodTemplate keys the open-source 5.x ConfigMap template renders (agent-chart.md §2).
OSS_RENDERED_KEYS = frozenset(
    {
        "labels",
        "annotations",
        "podSecurityContext",
        "priorityClassName",
        "initContainers",
        "volumes",
        "nodeSelector",
        "tolerations",
        "affinity",
        "resources",
        "containerSecurityContext",
        "volumeMounts",
        "env",
    }
)
# Keys in the open-source values.yaml that 5.x does not render (leftovers of 3.x/4.x).
OSS_IGNORED_KEYS = frozenset({"fileMounts", "schedulerName", "hostAliases"})
# Keys that templateOverrides may carry on enterprise ≥ 6.11 to append volumes instead of replacing them.
ENTERPRISE_EXTRA_KEYS = frozenset({"extraVolumes", "extraVolumeMounts"})
# Keys modelled as rendered by the enterprise chart: the open-source set plus the pod-spec keys its docs use.
ENTERPRISE_RENDERED_KEYS = OSS_RENDERED_KEYS | {"imagePullSecrets", "fileMounts"}

# Values keys only the enterprise chart reads (under agentk8sglue).
ENTERPRISE_ONLY_AGENT_KEYS = frozenset(
    {"queues", "createQueues", "dashboardReportMaxGpu", "orchestrationDashboard", "monitoredResources"}
)
