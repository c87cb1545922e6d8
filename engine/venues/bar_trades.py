"""Bars shared by the replay feed and the simulated market: a bar, its trades, its time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise

from engine.models import Side, TradeTick

_INTERMEDIATE = 2  # prices between each pair of the bar's O, H/L, L/H, C points


@dataclass(frozen=True, slots=True)
class BarRow:
    """One recorded bar; `t` is its start in epoch seconds, `line` its line in the file."""

    t: float
    o: float
    h: float
    l: float  # noqa: E741 - OHLC field names, as in engine.market.bars.Bar
    c: float
    v: float
    line: int
    source: str = ""


def bar_trades(symbol: str, row: BarRow, interval: float, tick: float) -> list[TradeTick]:
    """Trades inside one bar whose first, highest, lowest and last prices are its O, H, L, C.

    The path goes open → low → high → close on an up bar (open → high → low → close on a down
    one) with a few prices on the tick grid in between; sizes add up to the bar's volume.
    """
    up = row.c >= row.o
    anchors = (row.o, row.l, row.h, row.c) if up else (row.o, row.h, row.l, row.c)
    places = decimals_of(tick)
    prices = [row.o]
    for a, b in pairwise(anchors):
        for k in range(1, _INTERMEDIATE + 1):
            between = round(round((a + (b - a) * k / (_INTERMEDIATE + 1)) / tick) * tick, places)
            between = min(max(between, row.l), row.h)
            if between not in (prices[-1], b):
                prices.append(between)
        if b != prices[-1]:
            prices.append(b)
    sizes = split_volume(row.v, len(prices))
    trades = []
    previous_side = Side.BUY if up else Side.SELL
    for k, (price, size) in enumerate(zip(prices, sizes, strict=True)):
        if k and price != prices[k - 1]:
            previous_side = Side.BUY if price > prices[k - 1] else Side.SELL
        ts = row.t + interval * k / len(prices)
        trades.append(TradeTick(symbol, price, size, previous_side, ts))
    return trades


def split_volume(volume: float, n: int) -> list[float]:
    """`n` sizes whose running float sum (the order bars add them in) is exactly `volume`."""
    if volume == int(volume) and volume < 2**53:
        base, extra = divmod(int(volume), n)
        return [float(base + (1 if k < extra else 0)) for k in range(n)]
    sizes = [volume / n] * (n - 1)
    total = 0.0
    for size in sizes:
        total += size
    # total >= volume / 2, so volume - total is exact (Sterbenz) and total + it == volume.
    return [*sizes, volume - total]


def decimals_of(step: float) -> int:
    return max(0, -int(Decimal(repr(step)).normalize().as_tuple().exponent))


def format_ts(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
