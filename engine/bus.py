"""The engine's publish/subscribe bus: typed topics out of the engine, stamped with `ts`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from engine.clock import Clock, SystemClock

log = logging.getLogger(__name__)

Payload = dict[str, Any]
Subscriber = Callable[[str, Payload], None]


class EventBus:
    """Synchronous fan-out: a subscriber must return quickly (queue the work, do not do it).

    Each subscriber runs in its own try/except so a broken listener never stops the engine
    or starves the others.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._subscribers: list[tuple[Subscriber, frozenset[str] | None]] = []
        self._lock = threading.Lock()
        self.failures = 0
        # Messages published per topic since start, for /metrics (plain data: no exporter here).
        self._published: dict[str, int] = {}

    def subscribe(self, subscriber: Subscriber, topics: set[str] | None = None) -> None:
        with self._lock:
            self._subscribers.append((subscriber, frozenset(topics) if topics else None))

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers = [s for s in self._subscribers if s[0] != subscriber]

    def published_counts(self) -> dict[str, int]:
        """Messages published per topic since this bus was made."""
        with self._lock:
            return dict(self._published)

    def publish(self, topic: str, payload: Payload | None = None) -> Payload:
        message = dict(payload or {})
        message["ts"] = int(self._clock.time() * 1000)
        with self._lock:
            subscribers = list(self._subscribers)
            self._published[topic] = self._published.get(topic, 0) + 1
        for subscriber, topics in subscribers:
            if topics is not None and topic not in topics:
                continue
            try:
                subscriber(topic, message)
            except Exception:
                self.failures += 1
                log.exception("bus subscriber failed on %s", topic)
        return message
