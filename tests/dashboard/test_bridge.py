"""The bus → Socket.IO bridge: safety at once, high-rate topics at most 10 Hz per key."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from dashboard.bridge import SocketBridge


class RecordingSocketIO:
    """Stands in for Flask-SocketIO's server: records what would go out, with the time."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, str, dict[str, Any], str | None]] = []
        self._lock = threading.Lock()

    def emit(self, event: str, data: dict[str, Any], to: str | None = None) -> None:
        with self._lock:
            self.sent.append((time.monotonic(), event, data, to))

    def start_background_task(self, target: Any) -> threading.Thread:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        return thread


def run_bridge() -> tuple[SocketBridge, RecordingSocketIO]:
    sio = RecordingSocketIO()
    bridge = SocketBridge(sio)  # type: ignore[arg-type]
    bridge.start()
    return bridge, sio


def test_burst_of_quotes_then_at_most_ten_per_second_per_symbol_and_the_last_one_wins() -> None:
    bridge, sio = run_bridge()
    try:
        started = time.monotonic()
        for i in range(2000):
            bridge.on_event("quote_update", {"symbol": "SPY", "bid": i})
            bridge.on_event("quote_update", {"symbol": "QQQ", "bid": i})
            time.sleep(0.0005)
        elapsed = time.monotonic() - started
        time.sleep(0.25)
        for symbol in ("SPY", "QQQ"):
            sent = [s for s in sio.sent if s[2]["symbol"] == symbol]
            assert len(sent) <= elapsed * 10 + 3, (symbol, len(sent), elapsed)
            assert sent[-1][2]["bid"] == 1999
            gaps = [b[0] - a[0] for a, b in itertools.pairwise(sent)]
            assert min(gaps) > 0.05
    finally:
        bridge.stop()


def test_safety_events_then_sent_at_once_and_never_conflated() -> None:
    bridge, sio = run_bridge()
    try:
        for i in range(50):
            bridge.on_event("risk_limit", {"code": "X", "n": i})
        bridge.on_event("kill_switch_activated", {"level": "halt"})
        deadline = time.monotonic() + 1
        while len(sio.sent) < 51 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert [s[2].get("n") for s in sio.sent[:50]] == list(range(50))
        assert sio.sent[50][1] == "kill_switch_activated"
    finally:
        bridge.stop()


def test_quiet_topic_then_first_update_goes_out_without_waiting_for_a_flush() -> None:
    bridge, sio = run_bridge()
    try:
        time.sleep(0.3)
        sent_at = time.monotonic()
        bridge.on_event("regime_update", {"regime": "HIGH_VOL"})
        deadline = time.monotonic() + 1
        while not sio.sent and time.monotonic() < deadline:
            time.sleep(0.001)
        assert sio.sent and sio.sent[0][0] - sent_at < 0.05
    finally:
        bridge.stop()


def test_bar_updates_then_only_to_their_symbol_and_timeframe_room() -> None:
    bridge, sio = run_bridge()
    try:
        bridge.on_event("bar_update", {"symbol": "SPY", "timeframe": "1m", "bar": {}})
        time.sleep(0.2)
        assert sio.sent[0][3] == "bars:SPY:1m"
    finally:
        bridge.stop()
