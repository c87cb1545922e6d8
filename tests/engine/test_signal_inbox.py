"""The signal inbox on a real engine (paper venue, FakeClock): queue, approve, reject, TTL,
drift, filters, auto mode, de-duplication, the strategy's signals."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.commands import INTAKE_SIGNAL
from engine.models import OrderRequest, OrderType, Side, Signal, TradeTick
from engine.signals.inbox import IncomingSignal
from engine.strategies.demo import Decision
from tests.conftest import SyncEngine, make_settings

SYMBOL = "QQQ"


def start(tmp_path: Path, clock: FakeClock, **env: str) -> SyncEngine:
    env.setdefault("VIGIL_SIGNAL_MODE", "approve")
    sync = SyncEngine(make_settings(tmp_path / "var", VIGIL_STRATEGY="none", **env), clock)
    sync.market(2)
    return sync


@pytest.fixture
def inbox_engine(tmp_path: Path, clock: FakeClock) -> Iterator[SyncEngine]:
    sync = start(tmp_path, clock)
    yield sync
    sync.close()


def webhook(qty: float = 1.0, **fields: Any) -> IncomingSignal:
    base: dict[str, Any] = {"confidence": 0.8, "price": None, "sender_id": None}
    base.update(fields)
    return IncomingSignal(
        base.pop("symbol", SYMBOL), base.pop("side", Side.BUY), qty, source="webhook", **base
    )


def intake(engine: SyncEngine, signal: IncomingSignal) -> dict[str, Any]:
    result = engine.parts.commands.execute(INTAKE_SIGNAL, signal, "webhook")
    engine.venue()
    return result


def orders(engine: SyncEngine) -> list[Any]:
    return [o for o in engine.parts.store.load_orders() if o.symbol == SYMBOL and not o.parent_id]


def pending(engine: SyncEngine) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = engine.rt.state.get("signals")["pending"]
    return rows


def audit_actions(engine: SyncEngine) -> list[str]:
    return [row["action"] for row in engine.parts.store.audit_log(limit=200)]


def test_approve_mode_signal_then_pending_in_snapshot_and_no_order(
    inbox_engine: SyncEngine,
) -> None:
    answer = intake(inbox_engine, webhook(2.0))

    assert answer["ok"] and answer["status"] == "pending", answer
    [row] = pending(inbox_engine)
    assert row["id"] == answer["id"] and row["symbol"] == SYMBOL and row["qty"] == 2.0
    assert row["side"] == "buy" and row["source"] == "webhook" and row["confidence"] == 0.8
    assert row["expires_ts"] - row["received_ts"] == 120_000
    assert inbox_engine.topics("signals_update")[-1]["pending"][0]["id"] == answer["id"]
    assert orders(inbox_engine) == []
    assert "signal_queued" in audit_actions(inbox_engine)


def test_approve_then_one_order_and_second_approve_then_handled_error(
    inbox_engine: SyncEngine,
) -> None:
    signal_id = intake(inbox_engine, webhook())["id"]

    first = inbox_engine.do("approve_signal", {"id": signal_id}, actor="alice")
    second = inbox_engine.do("approve_signal", {"id": signal_id}, actor="bob")

    assert first["ok"] and first["id"] == signal_id, first
    assert second["error"]["code"] == "SIGNAL_HANDLED", second
    assert len(orders(inbox_engine)) == 1
    assert orders(inbox_engine)[0].source == "webhook"
    assert pending(inbox_engine) == []
    actions = audit_actions(inbox_engine)
    assert "approve_signal" in actions and "approve_signal_refused" in actions


def test_reject_then_nothing_placed_and_approve_after_then_handled(
    inbox_engine: SyncEngine,
) -> None:
    signal_id = intake(inbox_engine, webhook())["id"]

    rejected = inbox_engine.do("reject_signal", {"id": signal_id})
    late = inbox_engine.do("approve_signal", {"id": signal_id})

    assert rejected == {"ok": True, "id": signal_id}
    assert late["error"]["code"] == "SIGNAL_HANDLED" and "rejected" in late["error"]["message"]
    assert orders(inbox_engine) == [] and pending(inbox_engine) == []
    assert "reject_signal" in audit_actions(inbox_engine)


def test_unknown_signal_id_then_clear_error(inbox_engine: SyncEngine) -> None:
    answer = inbox_engine.do("approve_signal", {"id": "sig-nope"})

    assert answer["error"]["code"] == "UNKNOWN_SIGNAL"


def test_ttl_passed_then_expired_removed_and_approve_refused(inbox_engine: SyncEngine) -> None:
    signal_id = intake(inbox_engine, webhook())["id"]

    inbox_engine.clock.advance(119)
    inbox_engine.rt.run_once()
    still = [row["id"] for row in pending(inbox_engine)]
    inbox_engine.clock.advance(2)
    inbox_engine.rt.run_once()
    answer = inbox_engine.do("approve_signal", {"id": signal_id})

    assert still == [signal_id]
    assert pending(inbox_engine) == []
    assert answer["error"]["code"] == "SIGNAL_EXPIRED"
    assert orders(inbox_engine) == []
    assert "signal_expired" in audit_actions(inbox_engine)


def test_approve_at_expiry_before_the_periodic_sweep_then_expired(
    inbox_engine: SyncEngine,
) -> None:
    signal_id = intake(inbox_engine, webhook())["id"]
    inbox_engine.clock.advance(120)

    answer = inbox_engine.do("approve_signal", {"id": signal_id})

    assert answer["error"]["code"] == "SIGNAL_EXPIRED"
    assert orders(inbox_engine) == []


def test_price_moved_past_threshold_then_drift_warns(inbox_engine: SyncEngine) -> None:
    last = inbox_engine.parts.market.last_price(SYMBOL)
    assert last is not None
    near = intake(inbox_engine, webhook(price=last))["id"]
    far = intake(inbox_engine, webhook(price=round(last * 0.98, 2)))["id"]

    rows = {row["id"]: row for row in pending(inbox_engine)}

    assert abs(rows[near]["drift_pct"]) < 0.5 and rows[near]["drift_warn"] is False
    assert rows[far]["drift_pct"] == pytest.approx(
        (last - round(last * 0.98, 2)) / round(last * 0.98, 2) * 100
    )
    assert rows[far]["drift_warn"] is True


def test_drift_follows_the_market_while_pending(inbox_engine: SyncEngine) -> None:
    signal_id = intake(inbox_engine, webhook())["id"]
    [row] = pending(inbox_engine)
    assert row["price"] is not None
    trade = TradeTick(SYMBOL, row["price"] * 1.03, 1.0, Side.BUY, inbox_engine.clock.time())
    inbox_engine.parts.market.on_trade(trade)  # the last trade moved 3% up
    inbox_engine.clock.advance(1)
    inbox_engine.rt.run_once()

    [row] = pending(inbox_engine)
    assert row["id"] == signal_id and row["drift_pct"] > 2.9 and row["drift_warn"] is True


def test_auto_mode_then_order_sent_at_once_and_nothing_pending(
    tmp_path: Path, clock: FakeClock
) -> None:
    sync = start(tmp_path, clock, VIGIL_SIGNAL_MODE="auto")
    try:
        answer = intake(sync, webhook())

        assert answer["ok"] and answer["status"] == "submitted", answer
        assert len(orders(sync)) == 1 and pending(sync) == []
    finally:
        sync.close()


def test_auto_mode_signal_over_the_limits_then_denied_by_the_gateway(
    tmp_path: Path, clock: FakeClock
) -> None:
    sync = start(tmp_path, clock, VIGIL_SIGNAL_MODE="auto")
    try:
        answer = intake(sync, webhook(qty=10_000))

        assert answer["status"] == "denied" and answer["code"] == "MAX_QTY", answer
        assert orders(sync) == []
    finally:
        sync.close()


def test_set_signal_mode_then_mode_in_snapshot_audited_and_pending_kept(
    inbox_engine: SyncEngine,
) -> None:
    signal_id = intake(inbox_engine, webhook())["id"]

    answer = inbox_engine.do("set_signal_mode", {"mode": "auto"})

    assert answer["ok"] and answer["mode"] == "auto" and answer["old"] == "approve"
    signals = inbox_engine.rt.state.get("signals")
    assert signals["mode"] == "auto" and [r["id"] for r in signals["pending"]] == [signal_id]
    assert orders(inbox_engine) == []
    assert "set_signal_mode" in audit_actions(inbox_engine)


def test_same_sender_id_twice_then_duplicate_and_queued_once(inbox_engine: SyncEngine) -> None:
    first = intake(inbox_engine, webhook(sender_id="tv-42"))
    again = intake(inbox_engine, webhook(sender_id="tv-42"))

    assert first["ok"] and again["error"]["code"] == "DUPLICATE_SIGNAL"
    assert len(pending(inbox_engine)) == 1


def test_unknown_symbol_then_refused_and_nothing_queued(inbox_engine: SyncEngine) -> None:
    answer = intake(inbox_engine, webhook(symbol="NOPE"))

    assert answer["error"]["code"] == "UNKNOWN_SYMBOL" and pending(inbox_engine) == []


@pytest.mark.parametrize(
    ("env", "signal", "code"),
    [
        ({"VIGIL_SIGNAL_DENY": "QQQ"}, {}, "SYMBOL_DENIED"),
        ({"VIGIL_SIGNAL_ALLOW": "SPY"}, {}, "SYMBOL_NOT_ALLOWED"),
        ({"VIGIL_SIGNAL_MIN_CONFIDENCE": "0.9"}, {"confidence": 0.8}, "LOW_CONFIDENCE"),
        ({"VIGIL_SIGNAL_MIN_CONFIDENCE": "0.5"}, {"confidence": None}, "LOW_CONFIDENCE"),
    ],
)
def test_filtered_signal_then_not_queued_not_sent_and_audited(
    tmp_path: Path, clock: FakeClock, env: dict[str, str], signal: dict[str, Any], code: str
) -> None:
    for mode in ("approve", "auto"):
        sync = start(tmp_path / mode, clock, VIGIL_SIGNAL_MODE=mode, **env)
        try:
            answer = intake(sync, webhook(**signal))

            assert answer["status"] == "filtered" and answer["code"] == code, answer
            assert pending(sync) == [] and orders(sync) == []
            assert "signal_filtered" in audit_actions(sync)
        finally:
            sync.close()


def _at(clock: FakeClock, iso_utc: str) -> None:
    clock.set(datetime.fromisoformat(iso_utc).replace(tzinfo=UTC).timestamp())


def test_windows_and_blackouts_then_only_inside_the_window_and_outside_blackouts(
    tmp_path: Path, clock: FakeClock
) -> None:
    # Session zone America/New_York (EST in December): 20:00 UTC is 15:00 there.
    sync = start(
        tmp_path,
        clock,
        VIGIL_SIGNAL_WINDOWS="09:30-16:00",
        VIGIL_SIGNAL_BLACKOUTS="12:00-13:00,2030-12-03T14:50/2030-12-03T15:10",
    )
    try:
        outcomes = {}
        for when in (
            "2030-12-02T20:00",  # 15:00: inside the window
            "2030-12-02T22:00",  # 17:00: outside
            "2030-12-02T17:30",  # 12:30: daily blackout
            "2030-12-03T20:00",  # 15:00 on the dated blackout's day
            "2030-12-03T20:30",  # 15:30 that day: after it
        ):
            _at(clock, when)
            answer = intake(sync, webhook())
            outcomes[when] = answer.get("code", answer["status"])
        assert outcomes == {
            "2030-12-02T20:00": "pending",
            "2030-12-02T22:00": "OUTSIDE_WINDOW",
            "2030-12-02T17:30": "BLACKOUT",
            "2030-12-03T20:00": "BLACKOUT",
            "2030-12-03T20:30": "pending",
        }
    finally:
        sync.close()


class _OneShot:
    """A strategy that emits one entry and one exit: enough to see where they go."""

    name = "one_shot"

    def __init__(self, symbol: str, price: float) -> None:
        self.symbol, self.price, self.fired = symbol, price, False

    def warm_up(self, symbol: str, price: float, ts: float) -> None:
        pass

    def on_price(self, symbol: str, price: float, ts: float, held: float) -> list[Decision]:
        if self.fired or symbol != self.symbol:
            return []
        self.fired = True
        entry = Signal(symbol, Side.BUY, 0.7, "test entry", price, ts)
        return [
            Decision(
                entry,
                OrderRequest(
                    symbol, Side.BUY, 1.0, OrderType.MARKET, source="strategy", tag=self.name
                ),
            )
        ]


def test_strategy_signal_in_approve_mode_then_held_until_approved(
    inbox_engine: SyncEngine,
) -> None:
    router = inbox_engine.parts.router
    router.strategy = _OneShot(SYMBOL, 1.0)  # type: ignore[assignment]
    inbox_engine.parts.desk.strategy_attached = True

    inbox_engine.market(1)

    [row] = pending(inbox_engine)
    assert row["source"] == "strategy" and row["strategy"] == "one_shot"
    assert orders(inbox_engine) == []
    assert inbox_engine.do("approve_signal", {"id": row["id"]})["ok"]
    assert [o.source for o in orders(inbox_engine)] == ["strategy"]


def test_reduce_only_exit_in_approve_mode_then_sent_at_once(inbox_engine: SyncEngine) -> None:
    assert inbox_engine.do("place_order", {"symbol": SYMBOL, "side": "buy", "qty": 1})["ok"]
    exit_order = OrderRequest(
        SYMBOL, Side.SELL, 1.0, OrderType.MARKET, reduce_only=True, source="strategy", tag="demo"
    )
    signal = replace(webhook(), side=Side.SELL, source="strategy", order=exit_order)

    answer = intake(inbox_engine, signal)

    assert answer["status"] == "submitted" and pending(inbox_engine) == []
    assert len(orders(inbox_engine)) == 2


def test_mode_set_on_the_page_then_kept_after_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    sync = start(tmp_path, clock, VIGIL_SIGNAL_MODE="auto")
    assert sync.do("set_signal_mode", {"mode": "approve"})["ok"]
    sync.close()

    again = SyncEngine(make_settings(tmp_path / "var", VIGIL_STRATEGY="none"), clock)
    try:
        assert again.rt.state.get("signals")["mode"] == "approve"
        assert again.do("set_signal_mode", {"mode": "auto"})["ok"]
    finally:
        again.close()
    strict = SyncEngine(
        make_settings(tmp_path / "var", VIGIL_STRATEGY="none", VIGIL_SIGNAL_MODE="approve"), clock
    )
    try:
        assert strict.rt.state.get("signals")["mode"] == "approve"  # the stricter one wins
    finally:
        strict.close()
