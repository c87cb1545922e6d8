"""The bridge from the engine's bus to Socket.IO: safety at once, high-rate topics conflated."""

from __future__ import annotations

import heapq
import logging
import threading
from collections import deque
from typing import Any

from flask_socketio import SocketIO
from prometheus_client import Histogram

from engine.clock import Clock, SystemClock
from engine.topics import BAR_ROOM, BY_NAME, CONFLATED

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.1  # at most 10 Hz per conflated topic and key
IMMEDIATE_QUEUE_LIMIT = 10_000

Payload = dict[str, Any]
Key = tuple[str, ...]
Filed = tuple[str, Payload, float]  # topic, payload, when on_event filed it (clock.monotonic)
# Seconds from filing to the emit's return: immediate topics take milliseconds, conflated ones
# wait up to FLUSH_INTERVAL_S by design.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 5)


def bar_room(symbol: str, timeframe: str) -> str:
    return BAR_ROOM.format(symbol=symbol, timeframe=timeframe)


class SocketBridge:
    """Subscribes to the bus (on the engine thread) and emits from its own thread.

    The bus callback only files the message: a slow browser, a slow network or a full queue
    never reaches back into the engine.

    Immediate topics (safety, activity, ...) go out in the order published; when their queue is
    full a message is dropped and counted, never blocking the engine. Conflated topics keep one
    slot per key holding the newest payload: the payload itself never waits in a queue, the
    emitter takes whatever is newest in the slot when the key is due. A key is due at once when
    it was quiet for a whole interval (leading edge) and otherwise one interval after its last
    send. All sends happen under one lock, so for each key the payloads go out in the order
    they were published and the last one sent is the newest.
    """

    def __init__(
        self,
        socketio: SocketIO,
        *,
        clock: Clock | None = None,
        queue_limit: int = IMMEDIATE_QUEUE_LIMIT,
    ) -> None:
        self._socketio = socketio
        self._clock: Clock = clock or SystemClock()
        self._queue_limit = queue_limit
        self._cond = threading.Condition()
        self._immediate: deque[Filed] = deque()
        self._pending: dict[Key, Filed] = {}
        self._due: list[tuple[float, Key]] = []  # heap: one entry per key in _pending
        self._last_sent: dict[Key, float] = {}
        # Taking a payload and emitting it happen under this lock: two senders could otherwise
        # take an older and a newer payload of one key and emit them the other way round.
        self._send_lock = threading.RLock()
        self._stop = threading.Event()
        self.dropped = 0
        self.emitted = 0
        self._started = False
        # Registered by dashboard/metrics.py in the app's own registry (never the global one).
        self.latency = Histogram(
            "vigil_emit_latency_seconds",
            "Seconds from the bus handing an event to the bridge to its Socket.IO emit returning",
            ["kind"],
            registry=None,
            buckets=LATENCY_BUCKETS,
        )
        self._latency = {
            "immediate": self.latency.labels(kind="immediate"),
            "conflated": self.latency.labels(kind="conflated"),
        }

    def on_event(self, topic: str, payload: Payload) -> None:
        fields = CONFLATED.get(topic)
        with self._cond:
            filed = self._clock.monotonic()
            if fields is None:
                if len(self._immediate) >= self._queue_limit:
                    self.dropped += 1
                    if self.dropped == 1 or self.dropped % 1000 == 0:
                        log.warning("socket queue full: %d messages dropped so far", self.dropped)
                    return
                self._immediate.append((topic, payload, filed))
                self._cond.notify()
                return
            key = (topic, *(str(payload.get(f)) for f in fields))
            if key not in self._pending:
                last = self._last_sent.get(key)
                due = filed if last is None else max(filed, last + FLUSH_INTERVAL_S)
                heapq.heappush(self._due, (due, key))
                self._cond.notify()
            self._pending[key] = (topic, payload, filed)

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._socketio.start_background_task(self._run)

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def wait_sent(self, timeout: float) -> bool:
        """Wait until every immediate message filed so far has been emitted (at a stop: the
        last words reach the pages before their sockets close)."""
        with self._cond:
            if not self._cond.wait_for(lambda: not self._immediate, timeout):
                return False
        with self._send_lock:  # the last one taken may still be on its way out
            return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step(FLUSH_INTERVAL_S)
            except Exception:  # the pages' only feed: it must outlive any one bad message
                log.exception("socket bridge step failed")
                self._stop.wait(FLUSH_INTERVAL_S)

    def step(self, wait_s: float = 0.0) -> bool:
        """One turn of the emitter: one immediate message, then every conflated key now due.

        Waits up to `wait_s` (real seconds, capped by the next key's due time on the injected
        clock) when there is nothing to send. Returns whether anything was emitted.
        """
        with self._send_lock:
            with self._cond:
                if wait_s > 0 and not self._immediate and not self._due_now():
                    self._cond.wait(self._wait_for(wait_s))
                item = self._immediate.popleft() if self._immediate else None
                if not self._immediate:
                    self._cond.notify_all()  # wait_sent
            if item is not None:
                self._emit(*item, "immediate")
            return self.flush() > 0 or item is not None

    def flush(self) -> int:
        """Emit the newest payload of every conflated key that is due now; return how many."""
        with self._send_lock:
            with self._cond:
                now = self._clock.monotonic()
                batch: list[Filed] = []
                while self._due and self._due[0][0] <= now:
                    _, key = heapq.heappop(self._due)
                    batch.append(self._pending.pop(key))
                    self._last_sent[key] = now
            for topic, payload, filed in batch:
                self._emit(topic, payload, filed, "conflated")
            return len(batch)

    def queue_depths(self) -> dict[str, int]:
        """Messages waiting: immediate ones in order, conflated keys holding a payload."""
        with self._cond:
            return {"immediate": len(self._immediate), "conflated": len(self._pending)}

    def _due_now(self) -> bool:
        return bool(self._due) and self._due[0][0] <= self._clock.monotonic()

    def _wait_for(self, wait_s: float) -> float:
        if not self._due:
            return wait_s
        return min(wait_s, max(0.0, self._due[0][0] - self._clock.monotonic()))

    def _emit(self, topic: str, payload: Payload, filed: float, kind: str) -> None:
        try:
            declared = BY_NAME.get(topic)
            room = declared.room_for(payload) if declared is not None else None
            if room is not None:
                self._socketio.emit(topic, payload, to=room)
            else:
                self._socketio.emit(topic, payload)
            self.emitted += 1
            self._latency[kind].observe(max(self._clock.monotonic() - filed, 0.0))
        except Exception:
            log.exception("emit of %s failed", topic)
