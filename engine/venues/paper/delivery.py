"""The paper venue's outbox: events wait out the venue's latency, then its thread delivers them."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from engine.venues.base import VenueEvent, VenueSink

log = logging.getLogger(__name__)


class Outbox:
    """First in, first out after a delay; latency 0 hands events over on the caller's thread
    (the sink queues them, so they are still applied later, on the engine's next turn)."""

    def __init__(self, latency_s: float) -> None:
        self._latency = latency_s
        self._sink: VenueSink | None = None
        self._early: list[VenueEvent] = []
        self._queue: deque[tuple[float, VenueEvent]] = deque()
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None

    def start(self, sink: VenueSink) -> None:
        self._sink = sink
        if self._latency > 0 and self._thread is None:
            self._stop = False
            self._thread = threading.Thread(
                target=self._deliver, name="vigil-paper-venue", daemon=True
            )
            self._thread.start()
        early, self._early = self._early, []
        self.put(early)

    def stop(self) -> None:
        """Stop the thread; events not yet delivered are lost, as on a disconnect."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None

    def put(self, events: list[VenueEvent], hops: int = 1) -> None:
        """Deliver `events` after `hops` latencies (never before anything put earlier)."""
        if not events:
            return
        if self._sink is None:
            self._early.extend(events)  # before start: delivered once there is a sink
        elif self._latency <= 0:
            for event in events:
                self._sink(event)
        else:
            with self._cond:
                due = time.monotonic() + self._latency * hops
                self._queue.extend((due, event) for event in events)
                self._cond.notify_all()

    def idle(self) -> bool:
        """True when every event put so far has been handed to the sink (any thread)."""
        with self._cond:
            return not self._queue

    def _deliver(self) -> None:
        while True:
            with self._cond:
                while not self._stop and (not self._queue or self._queue[0][0] > time.monotonic()):
                    wait = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._cond.wait(wait)
                if self._stop:
                    return
                _, event = self._queue[0]
            sink = self._sink
            if sink is not None:
                try:
                    sink(event)
                except Exception:  # the delivery thread must not die
                    log.exception("the paper venue could not deliver %r", event)
            with self._cond:
                self._queue.popleft()  # only now: `idle` must not see an event in hand
