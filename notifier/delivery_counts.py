"""Alert deliveries counted by channel and outcome since start: plain numbers for /metrics."""

from __future__ import annotations

import threading
from collections.abc import Iterable

ALWAYS = ("sent", "failed")  # shown as 0 before the first alert, so a rate exists at once


class DeliveryCounts:
    """Outcomes per channel: sent, failed (given up), retrying (a failed attempt to be tried
    again). Any thread may add or read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}

    def add(self, channel: str, outcome: str) -> None:
        with self._lock:
            outcomes = self._counts.setdefault(channel, {})
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    def snapshot(self, channels: Iterable[str]) -> dict[str, dict[str, int]]:
        """A copy, with `channels` listed (zeros included) even before their first alert."""
        with self._lock:
            counts = {name: dict(outcomes) for name, outcomes in self._counts.items()}
        for name in channels:
            counted = counts.setdefault(name, {})
            for outcome in ALWAYS:
                counted.setdefault(outcome, 0)
        return counts
