"""Queue metrics and worker statistics from what the emulator saw, as the server's Elasticsearch keeps them.

The server stores a sample of every queue (length, average wait of its entries) and of every worker's
``machine_stats`` as reports arrive, and ``queues.get_queue_metrics`` / ``workers.get_stats`` average the
samples per ``interval`` between ``from_date`` and ``to_date`` (epoch seconds). Here a sample is taken on each
``workers.status_report`` (agents and glues report every few seconds) and on each metrics query.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from statistics import fmean
from typing import Any

MAX_SAMPLES = 100_000


class Metrics:
    def __init__(self) -> None:
        self.queue_samples: deque[tuple[float, str, int, float]] = deque(maxlen=MAX_SAMPLES)
        self.worker_samples: deque[tuple[float, str, dict[str, Any]]] = deque(maxlen=MAX_SAMPLES)

    def clear(self) -> None:
        self.queue_samples.clear()
        self.worker_samples.clear()

    def sample_queues(self, queues: Iterable[dict[str, Any]], now: float, epoch_of: Any) -> None:
        for queue in queues:
            waits = [now - epoch_of(entry.get("added")) for entry in queue.get("entries") or ()]
            self.queue_samples.append((now, queue["id"], len(waits), fmean(waits) if waits else 0.0))

    def sample_worker(self, worker: str, stats: dict[str, Any], now: float) -> None:
        self.worker_samples.append((now, worker, dict(stats)))

    def queue_metrics(self, start: float, end: float, interval: int, queue_ids: set[str] | None) -> list[Any]:
        buckets: dict[str, dict[int, list[tuple[int, float]]]] = {}
        for at, queue_id, length, wait in self.queue_samples:
            if start <= at <= end and (queue_ids is None or queue_id in queue_ids):
                slot = int(at // interval * interval)
                buckets.setdefault(queue_id, {}).setdefault(slot, []).append((length, wait))
        out = []
        for queue_id, slots in buckets.items():
            dates = sorted(slots)
            out.append({"queue": queue_id, "dates": dates,
                        "avg_waiting_times": [round(fmean(w for _, w in slots[d]), 3) for d in dates],
                        "queue_lengths": [round(fmean(n for n, _ in slots[d])) for d in dates]})
        return out

    def worker_stats(self, start: float, end: float, interval: int, items: list[dict[str, Any]],
                     worker_ids: set[str] | None) -> list[Any]:
        per_worker: dict[str, dict[int, list[dict[str, Any]]]] = {}
        for at, worker, stats in self.worker_samples:
            if start <= at <= end and (worker_ids is None or worker in worker_ids):
                per_worker.setdefault(worker, {}).setdefault(int(at // interval * interval), []).append(stats)
        out = []
        for worker, slots in per_worker.items():
            dates = sorted(slots)
            categories: dict[str, list[str]] = {}
            for item in items:
                categories.setdefault(str(item.get("key")), []).append(str(item.get("category") or "avg"))
            metrics = []
            for key, wanted in categories.items():
                aggregations = []
                for category in wanted:
                    combine = {"min": min, "max": max}.get(category, fmean)
                    values = []
                    for date in dates:
                        seen = [_number(s.get(key)) for s in slots[date] if s.get(key) is not None]
                        values.append(round(combine(seen), 3) if seen else 0)
                    aggregations.append({"aggregation": category, "values": values})
                metrics.append({"metric": key, "dates": dates, "stats": aggregations})
            out.append({"worker": worker, "metrics": metrics})
        return out


def _number(value: Any) -> float:
    if isinstance(value, (list, tuple)):  # per-GPU lists: their mean, as the server's "total" variant
        return fmean(float(v) for v in value) if value else 0.0
    return float(value)
