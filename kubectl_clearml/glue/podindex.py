"""The tracker's pods by task id, counting the active ones per queue as they change.

The dispatcher asks for the room left before every launch; counting every active pod each time made the
cost of a launch grow with the pods already running (issue 17: 28-36% of the glue's time at 5,000). The
counts follow each write to the mapping instead, so the question costs the number of queues.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kubectl_clearml.core.glue_policy import PodView

_MISSING: Any = object()


class PodIndex(dict[str, PodView]):
    def __init__(self, items: Mapping[str, PodView] | Iterable[tuple[str, PodView]] = ()) -> None:
        super().__init__()
        self._by_queue: dict[str, int] = {}
        self.active_total = 0
        self.update(items)

    def _count(self, view: PodView, step: int) -> None:
        if view.active:
            self.active_total += step
            left = self._by_queue.get(view.queue_id, 0) + step
            if left:
                self._by_queue[view.queue_id] = left
            else:
                self._by_queue.pop(view.queue_id, None)

    def active_by_queue(self) -> dict[str, int]:
        return dict(self._by_queue)

    # ---- every write goes through the counts ----------------------------------------------------
    def __setitem__(self, task_id: str, view: PodView) -> None:
        old = super().get(task_id)
        if old is not None:
            self._count(old, -1)
        super().__setitem__(task_id, view)
        self._count(view, 1)

    def __delitem__(self, task_id: str) -> None:
        self._count(self[task_id], -1)
        super().__delitem__(task_id)

    def pop(self, task_id: str, default: Any = _MISSING) -> Any:
        if task_id in self:
            view = super().pop(task_id)
            self._count(view, -1)
            return view
        if default is _MISSING:
            raise KeyError(task_id)
        return default

    def popitem(self) -> tuple[str, PodView]:
        task_id, view = super().popitem()
        self._count(view, -1)
        return task_id, view

    def setdefault(self, task_id: str, view: PodView) -> PodView:
        if task_id not in self:
            self[task_id] = view
        return self[task_id]

    def update(self, items: Any = (), /, **more: PodView) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        for task_id, view in pairs:
            self[task_id] = view
        for task_id, view in more.items():
            self[task_id] = view

    def clear(self) -> None:
        super().clear()
        self._by_queue.clear()
        self.active_total = 0

    def __ior__(self, other: Any) -> PodIndex:  # type: ignore[override,misc]
        self.update(other)
        return self
