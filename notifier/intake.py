"""The bounded hand-off from the engine thread to the notifier's worker: never blocks the putter."""

from __future__ import annotations

import heapq
import itertools
import threading

from notifier.alerts import Alert


class AlertIntake:
    """Highest priority first, then oldest first. When full, the lowest-priority alert (the
    newest among equals) is dropped and counted, so an emergency always finds room."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("queue size must be at least 1")
        self.maxsize = maxsize
        self.dropped = 0
        self._heap: list[tuple[int, int, Alert]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()

    def __len__(self) -> int:
        with self._cond:
            return len(self._heap)

    def put(self, alert: Alert) -> bool:
        """Returns False when `alert` itself was the one dropped."""
        entry = (-alert.priority, next(self._seq), alert)
        with self._cond:
            if len(self._heap) >= self.maxsize:
                # The worst entry sorts last: lowest priority, then newest.
                worst = max(self._heap)
                self.dropped += 1
                if entry > worst:
                    return False
                self._heap.remove(worst)
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, entry)
            self._cond.notify()
            return True

    def get(self, timeout: float) -> Alert | None:
        with self._cond:
            if not self._heap:
                self._cond.wait(timeout)
            if not self._heap:
                return None
            return heapq.heappop(self._heap)[2]

    def drain(self) -> list[Alert]:
        with self._cond:
            alerts = [entry[2] for entry in sorted(self._heap)]
            self._heap.clear()
            return alerts

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()
