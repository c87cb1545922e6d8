"""Each strategy on synthetic bars (the signal it must give, and when it must stay quiet) and
on the recorded QQQ minute bars through the replay reader."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from engine.models import AssetClass, Instrument, Regime
from engine.strategies.base import Action, Bar, Bias, StrategyContext, StrategySignal
from engine.strategies.breakout import BreakoutStrategy
from engine.strategies.demo import DemoPlugin
from engine.strategies.mean_reversion import MeanReversionStrategy
from engine.strategies.registry import STRATEGIES
from engine.strategies.selector import RegimeSelector
from engine.strategies.trend import TrendStrategy
from engine.venues.replay.csv_file import load_replay

QQQ_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "QQQ_2020-04_1m.csv"
T0 = 1_585_728_000.0
FLAT = StrategyContext()


def bars(closes: list[float], spread: float = 0.1, symbol: str = "QQQ") -> list[Bar]:
    return [Bar(symbol, T0 + 60 * i, c, c + spread, c - spread, c) for i, c in enumerate(closes)]


def run(strategy, series: list[Bar], ctx: StrategyContext = FLAT) -> list[StrategySignal]:
    out: list[StrategySignal] = []
    for bar in series:
        out += strategy.on_bar(bar, ctx)
    return out


# ----- breakout -----


def test_breakout_close_above_the_channel_then_buy_with_bias_and_reason() -> None:
    quiet = [100.0 + 0.2 * math.sin(i) for i in range(25)]

    signals = run(BreakoutStrategy(lookback=20), bars([*quiet, 101.5]))

    assert [s.action for s in signals] == [Action.BUY]
    sig = signals[0]
    assert sig.bias is Bias.BULLISH and sig.strategy == "breakout"
    assert "20-bar high" in sig.reason and 0.5 <= sig.confidence <= 1.0


def test_breakout_inside_the_channel_then_nothing_and_held_long_then_exit_on_breakdown() -> None:
    quiet = [100.0 + 0.2 * math.sin(i) for i in range(25)]
    assert run(BreakoutStrategy(lookback=20), bars(quiet)) == []

    signals = run(
        BreakoutStrategy(lookback=20, exit_lookback=10),
        bars([*quiet, 99.0]),
        StrategyContext(position_qty=3),
    )

    assert [s.action for s in signals] == [Action.EXIT]


def test_breakout_while_warming_then_silent() -> None:
    strategy = BreakoutStrategy(lookback=20)
    quiet = [100.0 + 0.2 * math.sin(i) for i in range(25)]
    for bar in bars([*quiet, 101.5]):
        assert strategy.on_bar(bar, FLAT, warm=False) == []


# ----- trend -----


def test_trend_fast_crosses_above_a_rising_slow_then_buy() -> None:
    falling = [110.0 - 0.3 * i for i in range(40)]
    rising = [falling[-1] + 0.8 * i for i in range(1, 30)]

    signals = run(TrendStrategy(fast=5, slow=15), bars([*falling, *rising]))

    assert signals and signals[0].action is Action.BUY
    assert signals[0].bias is Bias.BULLISH


def test_trend_cross_against_a_long_then_exit_not_short() -> None:
    rising = [100.0 + 0.3 * i for i in range(40)]
    falling = [rising[-1] - 0.8 * i for i in range(1, 30)]

    signals = run(
        TrendStrategy(fast=5, slow=15), bars([*rising, *falling]), StrategyContext(position_qty=2)
    )

    assert [s.action for s in signals][:1] == [Action.EXIT]
    assert Action.SELL not in {s.action for s in signals}


# ----- mean reversion -----


def test_mean_reversion_plunge_below_the_band_then_buy_and_back_at_mean_then_exit() -> None:
    calm = [100.0 + 0.1 * math.sin(i) for i in range(30)]
    plunge = [99.0, 98.0, 97.0]

    entries = run(MeanReversionStrategy(period=20), bars([*calm, *plunge]))
    assert entries and entries[-1].action is Action.BUY
    assert "lower band" in entries[-1].reason

    strategy = MeanReversionStrategy(period=20)
    run(strategy, bars([*calm, *plunge]))
    back = strategy.on_bar(
        Bar("QQQ", T0 + 60 * 40, 100.5, 100.6, 100.4, 100.5), StrategyContext(position_qty=1)
    )
    assert [s.action for s in back] == [Action.EXIT]


def test_mean_reversion_flat_market_then_nothing() -> None:
    assert run(MeanReversionStrategy(period=20), bars([100.0] * 60)) == []


# ----- demo -----


def test_demo_plugin_ema_cross_then_the_demos_signal_as_a_plugin_signal() -> None:
    inst = {"QQQ": Instrument("QQQ", AssetClass.EQUITY)}
    demo = DemoPlugin(inst, fast=3, slow=6, rsi_period=14, sample_s=1.0)
    prices = [100.0 - 0.1 * i for i in range(40)] + [96.0 + 0.05 * i for i in range(1, 15)]
    signals: list[StrategySignal] = []
    for i, price in enumerate(prices):
        signals += demo.on_tick("QQQ", price, T0 + i, FLAT)

    assert signals and signals[0].action is Action.BUY
    assert signals[0].strategy == "demo" and "EMA fast crossed above" in signals[0].reason


# ----- selector -----


def test_selector_picks_by_regime_and_before_a_regime_then_nothing() -> None:
    quiet = [100.0 + 0.2 * math.sin(i) for i in range(25)]
    series = bars([*quiet, 101.5])

    none = run(RegimeSelector(), series, StrategyContext(regime=None))
    high = run(RegimeSelector(), series, StrategyContext(regime=Regime.HIGH_VOL))
    low = run(RegimeSelector(), series, StrategyContext(regime=Regime.ULTRA_LOW_VOL))

    assert none == []
    assert [s.action for s in high] == [Action.BUY]
    assert high[0].strategy == "selector" and high[0].reason.startswith("[breakout · HIGH_VOL]")
    assert all(not s.reason.startswith("[breakout") for s in low)  # breakout not picked


# ----- recorded data -----


def test_every_strategy_on_recorded_qqq_then_signals_well_formed() -> None:
    if not QQQ_CSV.exists():
        if os.environ.get("CI"):  # CI clones the repo next to shared/: missing data is a fault
            pytest.fail(f"recorded data not found at {QQQ_CSV}")
        pytest.skip(f"recorded data not found at {QQQ_CSV}")
    rows = load_replay([QQQ_CSV], ["QQQ"]).rows["QQQ"][:3000]
    inst = {"QQQ": Instrument("QQQ", AssetClass.EQUITY)}
    counts: dict[str, int] = {}
    for name, factory in STRATEGIES.items():
        strategy = factory(inst)
        found: list[StrategySignal] = []
        held = 0.0
        for row in rows:
            ctx = StrategyContext(held, Regime.NORMAL_VOL, 0.2)
            bar = Bar("QQQ", row.t, row.o, row.h, row.l, row.c)
            new = strategy.on_bar(bar, ctx) + strategy.on_tick("QQQ", row.c, row.t + 60, ctx)
            for sig in new:  # follow its own signals so exits happen too
                held = (
                    0.0
                    if sig.action is Action.EXIT
                    else (1.0 if sig.action is Action.BUY else -1.0)
                )
            found += new
        counts[name] = len(found)
        for sig in found:
            assert sig.symbol == "QQQ" and sig.strategy == name and sig.reason
            assert 0.0 <= sig.confidence <= 1.0 and math.isfinite(sig.price)
    assert all(counts[name] > 0 for name in STRATEGIES), counts
