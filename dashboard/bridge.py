"""The bridge from the engine's bus to Socket.IO: safety at once, high-rate topics conflated."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from flask_socketio import SocketIO

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.1  # at most 10 Hz per conflated topic and key
# Topic → the payload fields that make one conflation key (empty: one slot for the topic).
CONFLATED: dict[str, tuple[str, ...]] = {
    "pnl_update": (),
    "positions_update": (),
    "orders_update": (),
    "performance_update": (),
    "regime_update": (),
    "system_health_update": (),
    "quote_update": ("symbol",),
    "orderbook_update": ("symbol",),
    "price_update": ("symbol",),
    "bar_update": ("symbol", "timeframe"),
}
IMMEDIATE_QUEUE_LIMIT = 10_000


def bar_room(symbol: str, timeframe: str) -> str:
    return f"bars:{symbol}:{timeframe}"


class SocketBridge:
    """Subscribes to the bus (on the engine thread) and emits from its own thread.

    The bus callback only files the message: a slow browser, a slow network or a full queue
    never reaches back into the engine. Conflated topics keep only the newest payload per key.
    """

    def __init__(self, socketio: SocketIO) -> None:
        self._socketio = socketio
        self._immediate: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue(
            IMMEDIATE_QUEUE_LIMIT
        )
        self._pending: dict[tuple[str, ...], tuple[str, dict[str, Any]]] = {}
        self._last_sent: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.dropped = 0
        self.emitted = 0
        self._started = False

    def on_event(self, topic: str, payload: dict[str, Any]) -> None:
        fields = CONFLATED.get(topic)
        if fields is None:
            try:
                self._immediate.put_nowait((topic, payload))
            except queue.Full:
                self.dropped += 1
            return
        key = (topic, *(str(payload.get(f)) for f in fields))
        now = time.monotonic()
        with self._lock:
            if now - self._last_sent.get(key, 0.0) >= FLUSH_INTERVAL_S:
                # Leading edge: a key quiet for a whole interval goes out at once, so slow
                # topics see no conflation delay; bursts after it wait for the next flush.
                self._last_sent[key] = now
                self._pending.pop(key, None)
                send_now = True
            else:
                self._pending[key] = (topic, payload)
                send_now = False
        if send_now:
            try:
                self._immediate.put_nowait((topic, payload))
            except queue.Full:
                self.dropped += 1

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._socketio.start_background_task(self._run)

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        next_flush = time.monotonic() + FLUSH_INTERVAL_S
        while not self._stop.is_set():
            timeout = next_flush - time.monotonic()
            if timeout <= 0:
                next_flush = time.monotonic() + FLUSH_INTERVAL_S
                self.flush()
                continue
            try:
                topic, payload = self._immediate.get(timeout=timeout)
            except queue.Empty:
                continue
            self._emit(topic, payload)

    def flush(self) -> None:
        now = time.monotonic()
        with self._lock:
            pending, self._pending = self._pending, {}
            for key in pending:
                self._last_sent[key] = now
        for topic, payload in pending.values():
            self._emit(topic, payload)

    def _emit(self, topic: str, payload: dict[str, Any]) -> None:
        try:
            if topic == "bar_update":
                room = bar_room(payload.get("symbol", ""), payload.get("timeframe", ""))
                self._socketio.emit(topic, payload, to=room)
            else:
                self._socketio.emit(topic, payload)
            self.emitted += 1
        except Exception:
            log.exception("emit of %s failed", topic)
