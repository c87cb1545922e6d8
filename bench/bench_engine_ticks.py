"""Benchmark of the engine's tick path: bar aggregation, tick cache and indicators on one core.

Run from the repository root: ``python bench/bench_engine_ticks.py [--ticks 500000]``.

Each tick goes through TickCache.add, BarAggregator.on_trade (all six timeframes) and a
last-price map; every closed 1m bar updates incremental EMA20, EMA50, RSI14 and MACD(12,26,9)
for its symbol. Ticks are generated before timing (feeds build them, not the engine), four
symbols, exponential inter-arrival with a mean of 20 ms overall, so the 15-minute cache and the
1s bar deques fill up well before the memory checkpoint.

Throughput is the median of 5 runs without tracing. Memory is measured in a separate run under
tracemalloc with ticks generated on the fly (so the input list is not counted): the peak after
2/5 of the ticks is compared with the peak at the end, and the script exits 1 if it grew by
more than 20% + 1 MiB — i.e. if memory is not bounded.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Iterable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.market.bars import BarAggregator, TickCache
from engine.market.indicators import EmaState, MacdState, RsiState
from engine.models import Side, TradeTick

SYMBOLS = ("SPY", "QQQ", "BTC/USD", "ETH/USD")
START_PRICES = {"SPY": 500.0, "QQQ": 430.0, "BTC/USD": 60_000.0, "ETH/USD": 3_000.0}
T0 = 1_767_225_600.0
RUNS = 5
TARGET_RATE = 50_000
MIB = 1024 * 1024


def synthetic_ticks(n: int, seed: int = 7) -> Iterator[TradeTick]:
    rng = random.Random(seed)
    prices = dict(START_PRICES)
    ts = T0
    for _ in range(n):
        symbol = SYMBOLS[rng.randrange(4)]
        ts += rng.expovariate(50.0)
        price = prices[symbol] * (1.0 + rng.gauss(0.0, 2e-4))
        prices[symbol] = price
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        yield TradeTick(symbol, round(price, 2), round(rng.expovariate(1.0), 4), side, ts)


class Pipeline:
    """The engine-side work per tick that this benchmark measures."""

    def __init__(self) -> None:
        self.bars = BarAggregator(SYMBOLS)
        self.cache = TickCache()
        self.last: dict[str, float] = {}
        self.indicators = {
            s: (EmaState(20), EmaState(50), RsiState(14), MacdState()) for s in SYMBOLS
        }
        self.closed_1m = 0

    def feed(self, ticks: Iterable[TradeTick]) -> None:
        on_trade = self.bars.on_trade
        add = self.cache.add
        last = self.last
        indicators = self.indicators
        for tick in ticks:
            add(tick)
            last[tick.symbol] = tick.price
            for timeframe, bar, closed in on_trade(tick):
                if closed and timeframe == "1m":
                    self.closed_1m += 1
                    ema20, ema50, rsi14, macd = indicators[tick.symbol]
                    ema20.update(bar.c)
                    ema50.update(bar.c)
                    rsi14.update(bar.c)
                    macd.update(bar.c)


def measure_rate(ticks: list[TradeTick]) -> list[float]:
    rates = []
    for _ in range(RUNS):
        pipeline = Pipeline()
        started = time.perf_counter()
        pipeline.feed(ticks)
        rates.append(len(ticks) / (time.perf_counter() - started))
    return rates


def measure_memory(n: int) -> tuple[int, int, int, int]:
    """Return (checkpoint ticks, peak bytes at checkpoint, peak bytes at end, cached ticks)."""
    checkpoint = n * 2 // 5
    source = synthetic_ticks(n)
    tracemalloc.start()
    try:
        pipeline = Pipeline()
        pipeline.feed(next(source) for _ in range(checkpoint))
        peak_checkpoint = tracemalloc.get_traced_memory()[1]
        pipeline.feed(source)
        peak_end = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return checkpoint, peak_checkpoint, peak_end, len(pipeline.cache)


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=500_000, help="ticks per run (>= 200000)")
    args = parser.parse_args(argv)
    if args.ticks < 200_000:
        parser.error(
            "--ticks must be >= 200000 so the 15-minute window fills before the checkpoint"
        )

    pinned = pin_to_one_core()
    ticks = list(synthetic_ticks(args.ticks))
    rates = measure_rate(ticks)
    del ticks
    checkpoint, peak_checkpoint, peak_end, cached = measure_memory(args.ticks)
    bounded = peak_end <= peak_checkpoint * 1.2 + MIB
    median = statistics.median(rates)

    command = "python bench/bench_engine_ticks.py"
    if args.ticks != 500_000:
        command += f" --ticks {args.ticks}"
    print("### Engine tick path: aggregation + tick cache + indicators\n")
    print(f"Command: `{command}`  ")
    print(
        f"Python {platform.python_version()} on {platform.machine()} "
        f"({platform.processor() or platform.platform()}), {pinned}; "
        f"{args.ticks:,} synthetic ticks over {len(SYMBOLS)} symbols per run.\n"
    )
    print("| metric | value |")
    print("|---|---|")
    print(f"| ticks/s, median of {RUNS} runs | {median:,.0f} |")
    print(f"| ticks/s, all runs | {', '.join(f'{r:,.0f}' for r in rates)} |")
    print(
        f"| target | >= {TARGET_RATE:,} ticks/s: {'met' if median >= TARGET_RATE else 'NOT met'} |"
    )
    print(f"| peak traced memory after {checkpoint:,} ticks | {peak_checkpoint / MIB:.1f} MiB |")
    print(f"| peak traced memory after {args.ticks:,} ticks | {peak_end / MIB:.1f} MiB |")
    print(f"| ticks held in the 15-minute cache at the end | {cached:,} |")
    print(f"| memory bounded | {'yes' if bounded else 'NO'} |")
    return 0 if bounded else 1


if __name__ == "__main__":
    sys.exit(main())
