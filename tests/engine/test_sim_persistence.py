"""The simulated market across a restart: it resumes from its saved state (prices, chart bars,
random generators), and a missing or corrupt state file means a new market with a warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.command_payloads import PlaceOrderCmd
from engine.runtime import EngineRuntime
from engine.venues.sim.catalogue import select_instruments
from engine.venues.sim.feed import SimulatedFeed
from engine.venues.sim.state import STATE_FILE
from tests.conftest import make_settings, wait_until

SYMBOLS = "SPY,BTC/USD"
T0 = 1_767_225_600.0


def quotes_seen(rt: EngineRuntime) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    rt.bus.subscribe(lambda topic, payload: seen.append(payload), {"quote_update"})
    return seen


def test_restart_when_sim_ran_then_prices_chart_and_pnl_carry_on(tmp_path: Path) -> None:
    data = tmp_path / "var"
    common = {"VIGIL_SYMBOLS": SYMBOLS, "VIGIL_STRATEGY": "none", "VIGIL_SIM_HISTORY_S": "600"}
    # First run: a fast market, so it moves far from where a new market (same seed) would be.
    first = make_settings(data, VIGIL_SIM_SPEED="300", VIGIL_SIM_TICK_MS="20", **common)
    rt = EngineRuntime(first.engine)
    seen = quotes_seen(rt)
    rt.start()
    try:
        wait_until(lambda: len(seen) >= 20, 30, "first quotes")
        answer = rt.call("place_order", PlaceOrderCmd(symbol="SPY", side="buy", qty=0.5), "t")
        assert answer["ok"], answer
        wait_until(lambda: len(seen) >= 300, 60, "the market to move on")
    finally:
        rt.stop()
    assert (data / STATE_FILE).exists()
    last_mid = {s: q["mid"] for s, q in rt.snapshot()["market"]["quotes"].items()}
    closed_bar = rt.parts.market.bars.bars("SPY", "1m")[-2]
    unrealized = rt.parts.desk.ledger.unrealized_pnl
    assert rt.parts.desk.ledger.position("SPY") is not None

    second = make_settings(data, VIGIL_SIM_SPEED="1", VIGIL_SIM_TICK_MS="50", **common)
    rt = EngineRuntime(second.engine)
    seen = quotes_seen(rt)
    rt.start()
    try:
        wait_until(lambda: {q["symbol"] for q in seen} == {"SPY", "BTC/USD"}, 30, "quotes")
        first_mid = {}
        for quote in seen:
            first_mid.setdefault(quote["symbol"], quote["mid"])
        for symbol, mid in first_mid.items():
            # One 50 ms step of a market at normal speed: a few ticks, not a new market.
            assert abs(mid - last_mid[symbol]) / last_mid[symbol] < 2e-4, (symbol, mid, last_mid)
        bars = {bar.t: bar for bar in rt.parts.market.bars.bars("SPY", "1m")}
        again = bars[closed_bar.t]
        assert (again.o, again.h, again.l, again.c) == (
            closed_bar.o,
            closed_bar.h,
            closed_bar.l,
            closed_bar.c,
        )
        assert abs(again.v - closed_bar.v) < 1e-6
        assert rt.wait_idle(10)
        moved = abs(rt.parts.desk.ledger.unrealized_pnl - unrealized)
        assert moved < 0.5 * last_mid["SPY"] * 4e-4, (
            unrealized,
            rt.parts.desk.ledger.unrealized_pnl,
        )
        messages = [a["message"] for a in rt.snapshot()["activity"] if a["type"] == "system"]
        assert any("resumed from its last prices" in m for m in messages), messages
    finally:
        rt.stop()


def test_resumed_feed_when_stepped_then_same_events_as_if_never_stopped(tmp_path: Path) -> None:
    instruments = select_instruments(["SPY", "QQQ", "BTC/USD", "SPY 261218C500"])
    path = tmp_path / STATE_FILE
    running = SimulatedFeed(7, instruments, state_path=path)
    for k in range(50):
        running.step(T0 + k, 1.0)
    snapshot = running.checkpoint()
    assert snapshot is not None
    running.save(snapshot)
    resumed = SimulatedFeed(7, instruments, state_path=path)
    assert resumed.resumed_at == T0 + 49
    for k in range(50, 60):
        assert resumed.step(T0 + k, 1.0) == running.step(T0 + k, 1.0)


def test_resumed_history_when_loaded_then_replays_the_saved_bars_and_ends_at_last_price(
    tmp_path: Path,
) -> None:
    instruments = select_instruments(["SPY", "ETH/USD"])
    path = tmp_path / STATE_FILE
    running = SimulatedFeed(3, instruments, state_path=path, keep_bars_s=3600)
    running.history(T0, 1800, 5.0)
    for k in range(1, 200):
        running.step(T0 + k * 0.5, 0.5)
    saved = running.checkpoint()
    assert saved is not None
    running.save(saved)
    resumed = SimulatedFeed(3, instruments, state_path=path, keep_bars_s=3600)
    events = [e for _, part in resumed.history_slices(T0 + 500, 900, 5.0, 6) for e in part]
    for symbol in instruments:
        trades = [e for e in events if getattr(e, "symbol", None) == symbol]
        saved_bars = [b for b in saved["bars"][symbol] if b[0] + 60 > saved["now"] - 900]
        assert trades[-1].price == saved_bars[-1][4]  # the last close: where the market stopped
        assert trades[0].ts >= saved_bars[0][0] and trades[-1].ts < saved["now"]
        assert max(t.price for t in trades) == max(b[2] for b in saved_bars)
    # Nothing moved: the process resumes exactly where it was saved.
    assert resumed.last_price("SPY") == running.last_price("SPY")


def test_corrupt_state_file_when_starting_then_new_market_and_a_warning(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    (data / STATE_FILE).write_text('{"version": 1, "now": "soon"')
    settings = make_settings(data, VIGIL_SIM_TICK_MS="20")
    rt = EngineRuntime(settings.engine)
    rt.start()
    try:

        def warned() -> list[str]:
            return [
                a["message"]
                for a in rt.snapshot()["activity"]
                if a["type"] == "system" and "not usable" in a["message"]
            ]

        message = wait_until(warned, 20, "the warning in the activity log")[0]
        assert "sim_market.json is not valid JSON" in message
        assert rt.snapshot()["safety"]["trading_state"] == "ACTIVE"  # not a safety matter
    finally:
        rt.stop()
    # The bad file was replaced by a good one at stop.
    state = json.loads((data / STATE_FILE).read_text())
    assert state["version"] == 1 and state["seed"] == settings.engine.feed.seed


def test_state_file_when_values_bad_then_refused_and_fresh(tmp_path: Path) -> None:
    instruments = select_instruments(["SPY"])
    path = tmp_path / STATE_FILE
    feed = SimulatedFeed(1, instruments, state_path=path)
    feed.step(T0, 1.0)
    snapshot = feed.checkpoint()
    assert snapshot is not None
    snapshot["log_prices"]["SPY"] = float("nan")
    path.write_text(json.dumps({"version": 1, **snapshot}))
    fresh = SimulatedFeed(1, instruments, state_path=path)
    assert fresh.resumed_at is None and "log price of SPY is not a number" in fresh.note
    assert fresh.last_price("SPY") == 500.0
