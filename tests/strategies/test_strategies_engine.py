"""The strategies inside the engine: signals reach the bus and the desk, `set_strategy` turns
one off (its signals stop) and sizes it, closed trades are attributed to the strategy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.clock import FakeClock
from engine.models import Quote, Side, TradeTick
from tests.conftest import SyncEngine, make_settings

SYMBOL = "QQQ"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[SyncEngine]:
    settings = make_settings(
        tmp_path / "var",
        VIGIL_STRATEGIES="breakout,trend",
        VIGIL_STRATEGY_BAR_S="1",
        VIGIL_TRAIL_ATR="0",
        VIGIL_MAX_NOTIONAL="100000",
    )
    clock = FakeClock(start=1_767_225_600.0)
    sync = SyncEngine(settings, clock)
    yield sync
    sync.close()


def tick(engine: SyncEngine, price: float) -> None:
    """Half a second of market: a quote around `price`, then a trade at it."""
    engine.clock.advance(0.5)
    now = engine.clock.time()
    router = engine.parts.router
    router.on_market(Quote(SYMBOL, price - 0.01, price + 0.01, 500, 500, now))
    router.on_market(TradeTick(SYMBOL, price, 10, Side.BUY, now))


def breakout(engine: SyncEngine, base: float = 400.0, jump: float = 2.0) -> None:
    """25 quiet one-second bars, then a close well above their channel."""
    for i in range(50):
        tick(engine, base + (0.1 if i % 2 else -0.1))
    for _ in range(3):
        tick(engine, base + jump)


def strategy_signals(engine: SyncEngine, name: str) -> list[dict]:
    return [p for p in engine.topics("signal") if p["reason"].startswith(f"[{name}]")]


def test_breakout_in_the_engine_then_signal_published_and_order_through_the_desk(
    engine: SyncEngine,
) -> None:
    breakout(engine)

    signals = strategy_signals(engine, "breakout")
    assert signals and signals[0]["side"] == "buy"
    placed = [p["order"] for p in engine.topics("order_placed")]
    assert placed and placed[0]["source"] == "strategy"
    order = engine.parts.desk.orders.get(placed[0]["id"])
    assert order is not None and order.tag == "breakout"
    assert placed[0]["stop_loss"] < 402.0 < placed[0]["take_profit"]
    rows = {r["name"]: r for r in engine.parts.state.get("strategies")["strategies"]}
    assert rows["breakout"]["symbols"] == [SYMBOL]


def test_set_strategy_off_then_its_signals_stop_and_the_others_run(engine: SyncEngine) -> None:
    answer = engine.do("set_strategy", {"name": "breakout", "enabled": False})
    assert answer == {"ok": True, "name": "breakout", "enabled": False, "size_multiplier": 1.0}

    breakout(engine)

    assert strategy_signals(engine, "breakout") == []
    assert engine.topics("order_placed") == []
    rows = {r["name"]: r for r in engine.topics("strategies_update")[-1]["strategies"]}
    assert rows["breakout"]["enabled"] is False and rows["trend"]["enabled"] is True
    audit = engine.parts.store.audit_log(limit=5)
    assert any(a["action"] == "set_strategy" and a["actor"] == "alice" for a in audit)

    engine.do("set_strategy", {"name": "breakout", "enabled": True})
    breakout(engine, jump=4.0)
    assert strategy_signals(engine, "breakout")


def test_set_strategy_size_multiplier_then_entry_scaled(tmp_path: Path) -> None:
    quantities = []
    for i, multiplier in enumerate((1.0, 0.5)):
        settings = make_settings(
            tmp_path / f"var{i}",
            VIGIL_STRATEGIES="breakout",
            VIGIL_STRATEGY_BAR_S="1",
            VIGIL_MAX_NOTIONAL="1000000",
            VIGIL_MAX_ORDER_QTY="100000",
        )
        sync = SyncEngine(settings, FakeClock(start=1_767_225_600.0))
        try:
            assert sync.do("set_strategy", {"name": "breakout", "size_multiplier": multiplier})[
                "ok"
            ]
            breakout(sync)
            quantities.append(sync.topics("order_placed")[0]["order"]["qty"])
        finally:
            sync.close()
    assert quantities[1] == pytest.approx(quantities[0] / 2, abs=1)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"name": "nope", "enabled": False}, "UNKNOWN_STRATEGY"),
    ],
)
def test_set_strategy_unknown_then_error_and_nothing_changes(
    engine: SyncEngine, payload: dict, code: str
) -> None:
    before = engine.parts.state.get("strategies")
    answer = engine.do("set_strategy", payload)
    assert answer["ok"] is False and answer["error"]["code"] == code
    assert engine.parts.state.get("strategies") == before


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "breakout"},
        {"name": "breakout", "size_multiplier": 0},
        {"name": "breakout", "size_multiplier": 3.5},
        {"name": "breakout", "size_multiplier": float("nan")},
        {"name": "breakout", "enabled": "yes"},
    ],
)
def test_set_strategy_bad_payload_then_refused(payload: dict) -> None:
    from engine.commands import parse_command

    refused = parse_command("set_strategy", payload)
    assert isinstance(refused, dict) and refused["ok"] is False


def test_closed_trade_then_attributed_to_the_strategy_that_opened_it(engine: SyncEngine) -> None:
    breakout(engine)
    assert engine.parts.desk.ledger.position(SYMBOL) is not None

    answer = engine.do("close_position", {"symbol": SYMBOL})
    assert answer["ok"], answer
    tick(engine, 402.0)

    rows = {r["name"]: r for r in engine.parts.state.get("strategies")["strategies"]}
    assert rows["breakout"]["trades"] == 1
    assert rows["breakout"]["total_pnl"] == pytest.approx(engine.parts.desk.all_trades[-1].pnl)
    assert rows["trend"]["trades"] == 0


def test_strategy_settings_legacy_name_maps_and_unknown_refused(tmp_path: Path) -> None:
    from engine.settings_group import SettingsError

    assert make_settings(tmp_path / "a").engine.strategy.names == ["demo"]
    assert make_settings(tmp_path / "b", VIGIL_STRATEGY="none").engine.strategy.names == []
    both = make_settings(tmp_path / "c", VIGIL_STRATEGIES="trend,selector")
    assert both.engine.strategy.names == ["trend", "selector"]
    with pytest.raises(SettingsError, match="VIGIL_STRATEGIES: unknown bogus"):
        make_settings(tmp_path / "d", VIGIL_STRATEGIES="trend,bogus")


def test_restart_then_switches_multipliers_holdings_and_attribution_kept(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "var",
        VIGIL_STRATEGIES="breakout,trend",
        VIGIL_STRATEGY_BAR_S="1",
        VIGIL_TRAIL_ATR="0",
        VIGIL_MAX_NOTIONAL="100000",
    )
    clock = FakeClock(start=1_767_225_600.0)
    first = SyncEngine(settings, clock)
    try:
        first.do("set_strategy", {"name": "trend", "enabled": False, "size_multiplier": 0.5})
        breakout(first)
        first.do("close_position", {"symbol": SYMBOL})
        tick(first, 402.0)
        breakout(first, jump=4.0)  # a second entry, still open at the restart
        assert first.parts.desk.ledger.position(SYMBOL) is not None
    finally:
        first.close()

    second = SyncEngine(settings, clock)
    try:
        rows = {r["name"]: r for r in second.parts.state.get("strategies")["strategies"]}
        assert rows["trend"]["enabled"] is False and rows["trend"]["size_multiplier"] == 0.5
        assert rows["breakout"]["trades"] == 1 and rows["breakout"]["symbols"] == [SYMBOL]
    finally:
        second.close()
