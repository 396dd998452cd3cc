"""run-glue --dry-run: what the next rounds would launch, from the queue heads, pulling nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubectl_clearml.core import glue_policy as policy
from kubectl_clearml.errors import UsageError
from kubectl_clearml.glue.dispatcher import TASK_FIELDS, Dispatcher


def preview(d: Dispatcher, adopted: Mapping[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """What the next rounds would launch, pulling nothing: one row per queue head within the limits.

    ``adopted``: per queue id, tasks the start-up sweep would first put back at its head (from the
    reference glue's k8s_scheduler), so the preview shows them where the real run launches them.
    """
    rows: list[dict[str, Any]] = []
    planned: dict[str, int] = {}
    heads = d.peek(list(d.settings.queues), max(1, d.settings.batch_size))
    adopted = adopted or {}
    for queue in d.settings.queues:
        from_scheduler = adopted.get(queue.id) or []
        task_ids = [*from_scheduler, *(t for t in heads.get(queue.id) or [] if t not in from_scheduler)]
        tasks = d.ops.read(task_ids, TASK_FIELDS) if task_ids else {}
        for task_id in task_ids:
            task = tasks.get(task_id)
            action = policy.entry_action(
                str(task.get("status")) if task else None, d.tracker.has_active_pod(task_id)
            )
            row = {"queue": queue.name, "task": task_id, "name": (task or {}).get("name", ""), "pod": ""}
            if action != policy.LAUNCH or task is None:
                row["action"] = {"pop": "already launched", "drop": "stale entry"}.get(action, "skip")
            elif d.free_slots(queue, planned) <= 0:
                row["action"] = "wait (pod limit)"
            else:
                planned[queue.id] = planned.get(queue.id, 0) + 1
                try:
                    built = d.build(task, queue)
                    action = "launch (adopted from k8s_scheduler)" if task_id in from_scheduler else "launch"
                    verdict = d.fit.verdict(built.manifest) if d.fit is not None else None
                    if verdict is not None and not verdict.fits:
                        planned[queue.id] -= 1
                        action = f"wait ({verdict.message()})"
                    row.update(action=action, pod=built.name, image=_image(built.manifest))
                except UsageError as exc:
                    row["action"] = f"fail: {exc.one_line()}"
            rows.append(row)
    return rows

def _image(pod: dict[str, Any]) -> str:
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return str(containers[0].get("image") or "")
