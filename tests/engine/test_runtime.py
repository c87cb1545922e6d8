"""The engine as a whole: the writer thread, restarts from the store, gateway, reconciliation."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dashboard.settings import VigilSettings
from engine.clock import FakeClock
from engine.models import Order, OrderStatus, OrderType, Quote, Side
from engine.parts import assemble_parts
from engine.runtime import EngineRuntime
from engine.venues.paper.venue import PaperVenue
from engine.venues.sim.catalogue import DEFAULT_INSTRUMENTS
from tests.conftest import SyncEngine, make_settings, wait_until


def test_handler_raises_then_degraded_error_published_and_thread_keeps_running(
    settings: VigilSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = EngineRuntime(settings.engine)
    errors: list[dict[str, Any]] = []
    rt.bus.subscribe(lambda t, p: errors.append(p), {"error"})
    rt.start(feed=False)
    try:

        def boom(event: Any) -> None:
            raise RuntimeError("feed handler bug")

        monkeypatch.setattr(rt.parts.router, "on_market", boom)
        events = rt.parts.feed.step(time.time(), 0.2)
        rt.submit_market(events[0])
        assert rt.wait_idle(10)
        assert errors and "feed handler bug" in errors[0]["message"]
        assert rt.health_payload()["status"] == "DEGRADED"
        assert rt.running
        monkeypatch.undo()
        answer = rt.call("pause_entries", __import__("engine.commands").commands.EmptyCmd(), "t")
        assert answer == {"ok": True}
    finally:
        rt.stop()


def test_market_events_then_state_and_topics_published(engine: SyncEngine) -> None:
    engine.market(3)
    snap = engine.rt.snapshot()
    assert set(snap["market"]["quotes"]) == set(DEFAULT_INSTRUMENTS)
    book = snap["market"]["books"]["SPY"]
    assert len(book["bids"]) == 10 and len(book["asks"]) == 10
    assert snap["regime"]["regime"] in {"ULTRA_LOW_VOL", "NORMAL_VOL", "HIGH_VOL"}
    for topic in (
        "quote_update",
        "orderbook_update",
        "price_update",
        "bar_update",
        "regime_update",
    ):
        assert engine.topics(topic), topic
    assert all("ts" in payload for _, payload in engine.events)


def test_order_too_large_then_denied_published_and_audited(engine: SyncEngine) -> None:
    engine.market(2)
    answer = engine.do("place_order", {"symbol": "SPY", "side": "buy", "qty": 5})
    assert answer["error"]["code"] == "MAX_NOTIONAL"
    assert engine.topics("risk_limit")[-1]["code"] == "MAX_NOTIONAL"
    audit = engine.parts.store.audit_log()
    assert audit[0]["action"] == "order_denied" and audit[0]["outcome"] == "MAX_NOTIONAL"
    assert engine.parts.broker.open_orders() == [] and engine.parts.desk.is_flat()


def test_unknown_symbol_then_denied(engine: SyncEngine) -> None:
    answer = engine.do("place_order", {"symbol": "DOGE", "side": "buy", "qty": 1})
    assert answer["error"]["code"] == "UNKNOWN_SYMBOL"


def test_round_trip_then_trade_recorded_with_pnl_and_history_event(engine: SyncEngine) -> None:
    engine.market(2)
    assert engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})["ok"]
    engine.market(2)
    assert engine.do("close_position", {"symbol": "QQQ"})["ok"]
    trades = engine.rt.snapshot()["trades"]
    assert len(trades) == 1 and trades[0]["symbol"] == "QQQ" and trades[0]["fees"] > 0
    assert engine.topics("trade_history_update")[-1]["new"]["id"] == trades[0]["id"]
    account = engine.rt.snapshot()["account"]
    assert account["realized_pnl"] == pytest.approx(trades[0]["pnl"])


def test_restart_then_trades_positions_and_pnl_rebuilt_from_store(
    settings: VigilSettings, clock: FakeClock
) -> None:
    first = SyncEngine(settings, clock)
    first.market(2)
    first.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})
    first.market(1)
    first.do("close_position", {"symbol": "QQQ"})
    first.do("place_order", {"symbol": "ETH/USD", "side": "buy", "qty": 0.1})
    before = first.rt.snapshot()
    first.close()

    second = SyncEngine(settings, clock)
    after = second.rt.snapshot()
    assert after["trades"] == before["trades"]
    assert after["account"]["realized_pnl"] == pytest.approx(before["account"]["realized_pnl"])
    assert after["account"]["balance"] == pytest.approx(before["account"]["balance"])
    assert [p["symbol"] for p in after["positions"]] == ["ETH/USD"]
    assert after["performance"]["trades"] == 1
    second.close()


def test_daily_loss_limit_when_restarted_then_still_counted(
    tmp_path: Any, clock: FakeClock
) -> None:
    settings = make_settings(
        tmp_path / "var", VIGIL_DAILY_LOSS_LIMIT="0.01", VIGIL_BREAKERS="daily_loss"
    )
    first = SyncEngine(settings, clock)
    first.market(2)
    first.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})
    first.do("close_position", {"symbol": "QQQ"})  # pays the spread and fees: a small loss
    assert first.parts.desk.daily_pnl < -0.01
    first.close()
    second = SyncEngine(settings, clock)
    assert second.parts.desk.daily_pnl < -0.01
    second.parts.safety_loop.evaluate(clock.time())
    assert second.parts.safety.trading_state.value == "HALTED"
    assert second.topics("risk_limit")[-1]["code"] == "BREAKER_DAILY_LOSS"
    second.close()


def test_error_burst_then_error_rate_breaker_halts(engine: SyncEngine) -> None:
    for _ in range(3):
        engine.parts.safety.record_error(engine.clock.time())
    engine.parts.safety_loop.evaluate(engine.clock.time())
    assert engine.parts.safety.trading_state.value == "HALTED"
    assert engine.parts.safety.kill.actor == "breaker:error_rate"


def test_broker_holds_unknown_order_then_reducing_until_admin_acknowledges(
    settings: VigilSettings, clock: FakeClock
) -> None:
    instruments = dict(DEFAULT_INSTRUMENTS)
    # The venue's own record holds an order the store never saw (placed outside Vigil).
    outside = PaperVenue(
        instruments, settings.engine.store.paper_venue_path, clock=clock, latency_ms=0
    )
    outside.start(lambda event: None)
    outside.on_market(Quote("SPY", 409.9, 410.1, 1.0, 1.0, clock.time()))
    stray = Order(
        "X-1",
        "SPY",
        Side.BUY,
        1.0,
        OrderType.LIMIT,
        OrderStatus.NEW,
        clock.time() - 60,  # older than the reconciliation's in-flight grace
        clock.time() - 60,
        limit_price=400.0,
    )
    outside.submit(stray)
    clock.advance(60)  # the venue stamps the order itself: let it age past the grace
    broker = PaperVenue(
        instruments, settings.engine.store.paper_venue_path, clock=clock, latency_ms=0
    )
    from engine.bus import EventBus
    from engine.state import DashboardState
    from engine.store import Store
    from engine.venues.pumped import PumpedFeed
    from engine.venues.sim.feed import SimulatedFeed

    bus, state = EventBus(clock), DashboardState()
    parts = assemble_parts(
        settings.engine,
        clock,
        bus,
        state,
        feed=PumpedFeed(SimulatedFeed(1, instruments), clock=clock, tick_s=0.2),
        broker=broker,
        store=Store(settings.engine.store.db_path),
        strategy=None,
        instruments=instruments,
    )
    rt = EngineRuntime(settings.engine, clock=clock, parts=parts)
    rt.boot()
    assert rt.parts.safety.trading_state.value == "REDUCING"
    assert "X-1" in rt.parts.safety.reconcile_issue
    assert any(e["action"] == "reconciliation_mismatch" for e in rt.parts.store.audit_log())
    from engine.command_payloads import AckReconciliationCmd

    assert rt.parts.commands.execute("acknowledge_reconciliation", AckReconciliationCmd(), "admin")[
        "ok"
    ]
    assert rt.parts.safety.trading_state.value == "ACTIVE"
    rt.parts.close()


def test_commands_queue_ahead_of_market_backlog(settings: VigilSettings) -> None:
    rt = EngineRuntime(settings.engine)
    rt.boot()
    events = rt.parts.feed.step(time.time(), 0.2) * 200
    for event in events:
        rt.submit_market(event)
    answers: list[dict[str, Any]] = []
    from engine.command_payloads import EmptyCmd

    caller = threading.Thread(
        target=lambda: answers.append(rt.call("pause_entries", EmptyCmd(), "t"))
    )
    rt._thread = threading.current_thread()  # make call() accept while we drive the loop by hand
    caller.start()
    # The command is queued behind 1,000 market events, yet the next item handled is it.
    wait_until(lambda: rt._queue.qsize() > len(events), 10, "the command to be queued")
    rt.run_once()
    caller.join(2)
    assert answers == [{"ok": True}]
    assert rt.parts.safety.manual_pause
    rt.parts.close()


def test_activity_events_then_kept_in_snapshot_for_late_joiners(engine: SyncEngine) -> None:
    engine.market(2)
    engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})
    engine.do("place_order", {"symbol": "SPY", "side": "buy", "qty": 50})
    kinds = [entry["type"] for entry in engine.rt.snapshot()["activity"]]
    for kind in ("order_placing", "order_placed", "trade_executed", "risk_limit"):
        assert kind in kinds, kind
    assert all("ts" in entry for entry in engine.rt.snapshot()["activity"])


def test_trade_closed_then_performance_counts_it_on_the_next_turn(engine: SyncEngine) -> None:
    engine.market(2)
    engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})
    engine.do("close_position", {"symbol": "QQQ"})
    engine.parts.safety_loop.evaluate(engine.clock.time())
    performance = engine.rt.snapshot()["performance"]
    assert performance["trades"] == 1
    assert engine.topics("performance_update")[-1]["performance"]["trades"] == 1


def test_event_rate_then_counted_per_second_without_a_ceiling(settings: VigilSettings) -> None:
    rt = EngineRuntime(settings.engine)
    now = time.monotonic()
    for second in range(1, 7):
        for _ in range(3000):
            rt._count_event(float(int(now)) - second + 0.5)
    assert rt.health_payload()["events_per_s"] == 3000.0
    rt.parts.close()


def test_resting_order_then_orders_update_lists_it(engine: SyncEngine) -> None:
    engine.market(2)
    bid = engine.parts.market.quote("QQQ").bid
    answer = engine.do(
        "place_order",
        {
            "symbol": "QQQ",
            "side": "buy",
            "qty": 0.1,
            "type": "limit",
            "limit_price": round(bid * 0.99, 2),
        },
    )
    assert answer["ok"]
    listed = engine.topics("orders_update")[-1]["orders"]
    assert [o["id"] for o in listed] == [answer["order"]["id"]]


def test_performance_then_names_the_session_zone_the_page_groups_days_by(
    tmp_path: Path, clock: FakeClock
) -> None:
    engine = SyncEngine(make_settings(tmp_path / "var", VIGIL_SESSION_TZ="Asia/Tokyo"), clock)
    try:
        assert engine.rt.snapshot()["performance"]["session_tz"] == "Asia/Tokyo"
        engine.parts.publisher.record_equity(clock.time())
        assert engine.topics("performance_update")[-1]["performance"]["session_tz"] == "Asia/Tokyo"
    finally:
        engine.close()
