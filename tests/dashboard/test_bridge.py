"""The bus → Socket.IO bridge: safety at once, high-rate topics at most 10 Hz per key, newest last.

The emitter is driven by hand (`step`, `flush`) on a FakeClock: no threads race and no test
depends on how fast the machine is. One test runs the real emitter thread and only waits for a
condition, with a generous deadline.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.bridge import CONFLATED, FLUSH_INTERVAL_S, SocketBridge, bar_room
from engine.clock import FakeClock

Sent = tuple[float, str, dict[str, Any], str | None]
EPS = 1e-9


class RecordingSocketIO:
    """Stands in for Flask-SocketIO's server: records what would go out, on the bridge's clock."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock
        self.sent: list[Sent] = []
        self.got_one = threading.Event()
        self.threads: list[threading.Thread] = []

    def emit(self, event: str, data: dict[str, Any], to: str | None = None) -> None:
        at = self.clock.monotonic() if self.clock is not None else 0.0
        self.sent.append((at, event, data, to))
        self.got_one.set()

    def start_background_task(self, target: Any) -> threading.Thread:
        thread = threading.Thread(target=target, daemon=True)
        self.threads.append(thread)
        thread.start()
        return thread

    def of(self, event: str) -> list[Sent]:
        return [s for s in self.sent if s[1] == event]


def hand_driven(**kwargs: Any) -> tuple[SocketBridge, RecordingSocketIO, FakeClock]:
    # A small start keeps float steps of 0.5 ms exact enough for the gap assertions.
    clock = FakeClock(start=1000.0)
    sio = RecordingSocketIO(clock)
    return SocketBridge(sio, clock=clock, **kwargs), sio, clock  # type: ignore[arg-type]


def drain(bridge: SocketBridge, clock: FakeClock) -> None:
    """Run the emitter until nothing is left, letting the clock pass every rate limit."""
    for _ in range(3):
        while bridge.step():
            pass
        clock.advance(FLUSH_INTERVAL_S)


def test_leading_edge_update_behind_a_backlog_then_a_newer_one_is_never_overtaken() -> None:
    # Issue 9 §7: the first update of a quiet key used to wait in the immediate queue behind
    # the backlog while the flush sent the newer one, so the older payload went out last.
    bridge, sio, clock = hand_driven()
    for i in range(3):
        bridge.on_event("activity", {"n": i})
    bridge.on_event("positions_update", {"positions": [{"symbol": "SPY"}], "v": 1})
    bridge.on_event("positions_update", {"positions": [], "v": 2})  # the position closed
    bridge.flush()
    drain(bridge, clock)
    assert [s[2]["v"] for s in sio.of("positions_update")] == [2]
    assert [s[2]["n"] for s in sio.of("activity")] == [0, 1, 2]


def test_update_while_backlog_drains_then_positions_sent_in_order_and_newest_last() -> None:
    bridge, sio, clock = hand_driven()
    for i in range(20):
        bridge.on_event("activity", {"n": i})
    bridge.on_event("positions_update", {"v": 1})
    bridge.step()  # one activity message and the quiet key's leading edge
    bridge.on_event("positions_update", {"v": 2})
    bridge.step()
    clock.advance(FLUSH_INTERVAL_S / 2)
    bridge.on_event("positions_update", {"v": 3})
    bridge.step()
    drain(bridge, clock)
    assert [s[2]["v"] for s in sio.of("positions_update")] == [1, 3]
    assert [s[2]["n"] for s in sio.of("activity")] == list(range(20))


def test_burst_of_quotes_then_at_most_ten_per_second_per_symbol_and_the_last_one_wins() -> None:
    bridge, sio, clock = hand_driven()
    started = clock.monotonic()
    for i in range(2000):
        bridge.on_event("quote_update", {"symbol": "SPY", "bid": i})
        bridge.on_event("quote_update", {"symbol": "QQQ", "bid": i})
        clock.advance(0.0005)
        if i % 7 == 0:
            bridge.step()
    elapsed = clock.monotonic() - started
    drain(bridge, clock)
    for symbol in ("SPY", "QQQ"):
        sent = [s for s in sio.sent if s[2]["symbol"] == symbol]
        assert len(sent) <= elapsed / FLUSH_INTERVAL_S + 2, (symbol, len(sent), elapsed)
        assert len(sent) >= elapsed / FLUSH_INTERVAL_S - 1, (symbol, len(sent), elapsed)
        bids = [s[2]["bid"] for s in sent]
        assert bids == sorted(bids) and bids[-1] == 1999
        assert min(b[0] - a[0] for a, b in itertools.pairwise(sent)) >= FLUSH_INTERVAL_S - EPS


def test_safety_events_then_sent_at_once_and_never_conflated() -> None:
    bridge, sio, _ = hand_driven()
    for i in range(50):
        bridge.on_event("risk_limit", {"code": "X", "n": i})
        bridge.on_event("quote_update", {"symbol": "SPY", "bid": i})
    bridge.on_event("kill_switch_activated", {"level": "halt"})
    for _ in range(51):
        assert bridge.step()  # the clock never moves: nothing here waits for an interval
    immediate = [s for s in sio.sent if s[1] != "quote_update"]
    assert [s[2].get("n") for s in immediate[:50]] == list(range(50))
    assert immediate[50][1] == "kill_switch_activated"
    assert not bridge.step()


def test_immediate_queue_full_then_drops_counted_and_conflated_keys_still_delivered() -> None:
    bridge, sio, clock = hand_driven(queue_limit=3)
    for i in range(5):
        bridge.on_event("activity", {"n": i})
    bridge.on_event("pnl_update", {"equity": 1})
    drain(bridge, clock)
    assert bridge.dropped == 2
    assert [s[2]["n"] for s in sio.of("activity")] == [0, 1, 2]
    assert [s[2]["equity"] for s in sio.of("pnl_update")] == [1]
    assert bridge.emitted == 4


def test_quiet_topic_then_first_update_goes_out_without_waiting_for_a_flush() -> None:
    bridge, sio, clock = hand_driven()
    bridge.on_event("regime_update", {"regime": "LOW_VOL"})
    bridge.step()
    clock.advance(1.0)
    sent_at = clock.monotonic()
    bridge.on_event("regime_update", {"regime": "HIGH_VOL"})
    assert bridge.step()
    assert sio.sent[-1][0] == sent_at and sio.sent[-1][2]["regime"] == "HIGH_VOL"


def test_update_within_the_interval_then_held_until_it_ends() -> None:
    bridge, sio, clock = hand_driven()
    bridge.on_event("pnl_update", {"equity": 1})
    bridge.step()
    clock.advance(FLUSH_INTERVAL_S / 2)
    bridge.on_event("pnl_update", {"equity": 2})
    assert not bridge.step()
    clock.advance(FLUSH_INTERVAL_S / 2 + 1e-6)  # just past the interval (floats add inexactly)
    assert bridge.step()
    assert [s[2]["equity"] for s in sio.of("pnl_update")] == [1, 2]


def test_bar_updates_then_only_to_their_symbol_and_timeframe_room() -> None:
    bridge, sio, _ = hand_driven()
    bridge.on_event("bar_update", {"symbol": "SPY", "timeframe": "1m", "bar": {}})
    bridge.on_event("bar_update", {"symbol": "SPY", "timeframe": "5m", "bar": {}})
    bridge.step()
    assert sorted(s[3] or "" for s in sio.sent) == ["bars:SPY:1m", "bars:SPY:5m"]


TOPICS = ["positions_update", "quote_update", "bar_update", "activity", "kill_switch_activated"]
operation = st.one_of(
    st.tuples(st.just("publish"), st.sampled_from(TOPICS), st.sampled_from(["SPY", "QQQ"])),
    st.tuples(st.just("publish"), st.sampled_from(TOPICS), st.sampled_from(["SPY", "QQQ"])),
    st.tuples(st.just("advance"), st.floats(0.0, 0.25), st.just("")),
    st.tuples(st.just("step"), st.just(""), st.just("")),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(operation, max_size=120))
def test_any_interleaving_then_each_key_in_order_rate_limited_and_newest_last(
    operations: list[tuple[str, Any, str]],
) -> None:
    bridge, sio, clock = hand_driven()
    last_published: dict[tuple[str, ...], int] = {}
    immediate: list[int] = []
    for seq, (op, topic, symbol) in enumerate(operations):
        if op == "advance":
            clock.advance(topic)
        elif op == "step":
            bridge.step()
        else:
            payload = {"symbol": symbol, "timeframe": "1m", "seq": seq}
            bridge.on_event(topic, payload)
            if topic in CONFLATED:
                last_published[key_of(topic, payload)] = seq
            else:
                immediate.append(seq)
    drain(bridge, clock)

    assert [s[2]["seq"] for s in sio.sent if s[1] not in CONFLATED] == immediate
    assert bridge.dropped == 0
    by_key: dict[tuple[str, ...], list[Sent]] = {}
    for s in sio.sent:
        if s[1] in CONFLATED:
            by_key.setdefault(key_of(s[1], s[2]), []).append(s)
        expected_room = bar_room(s[2]["symbol"], "1m") if s[1] == "bar_update" else None
        assert s[3] == expected_room
    assert by_key.keys() == last_published.keys()
    for key, sent in by_key.items():
        seqs = [s[2]["seq"] for s in sent]
        assert seqs == sorted(set(seqs)), (key, seqs)  # never an older one after a newer one
        assert seqs[-1] == last_published[key], (key, seqs)  # the page ends on the newest
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(sent)]
        assert all(gap >= FLUSH_INTERVAL_S - EPS for gap in gaps), (key, gaps)


def key_of(topic: str, payload: dict[str, Any]) -> tuple[str, ...]:
    return (topic, *(str(payload[f]) for f in CONFLATED[topic]))


def test_started_bridge_then_its_thread_emits_and_stops_when_told() -> None:
    sio = RecordingSocketIO()
    bridge = SocketBridge(sio)  # type: ignore[arg-type]
    bridge.start()
    try:
        bridge.on_event("kill_switch_activated", {"level": "halt"})
        assert sio.got_one.wait(timeout=10)
        assert sio.sent[0][1] == "kill_switch_activated"
    finally:
        bridge.stop()
    sio.threads[0].join(timeout=10)
    assert not sio.threads[0].is_alive()


def _latency(bridge: SocketBridge, kind: str) -> tuple[float, float]:
    """(count, sum) of the emit latency histogram for `kind`."""
    samples = {
        s.name: s.value
        for family in bridge.latency.collect()
        for s in family.samples
        if s.labels.get("kind") == kind and s.name.endswith(("_count", "_sum"))
    }
    return samples["vigil_emit_latency_seconds_count"], samples["vigil_emit_latency_seconds_sum"]


def test_emits_then_latency_from_filing_to_emit_observed_per_kind() -> None:
    bridge, sio, clock = hand_driven()
    bridge.on_event("activity", {"n": 1})
    bridge.on_event("quote_update", {"symbol": "SPY", "v": 1})  # quiet key: due at once
    clock.advance(0.004)
    bridge.step()
    count, total = _latency(bridge, "immediate")
    assert count == 1 and abs(total - 0.004) < EPS
    assert _latency(bridge, "conflated")[0] == 1
    bridge.on_event("quote_update", {"symbol": "SPY", "v": 2})  # waits out the interval
    assert bridge.queue_depths() == {"immediate": 0, "conflated": 1}
    clock.advance(FLUSH_INTERVAL_S)
    bridge.flush()
    count, total = _latency(bridge, "conflated")
    assert count == 2 and abs(total - (0.004 + FLUSH_INTERVAL_S)) < 1e-6
    assert [s[2]["v"] for s in sio.of("quote_update")] == [1, 2]
    assert bridge.queue_depths() == {"immediate": 0, "conflated": 0}
