"""The chart payload served by GET /api/chart: bars with aligned indicators, markers and levels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.market.bars import TIMEFRAMES, Bar
from engine.market.indicators import ema, macd, rsi
from engine.market.levels import support_resistance, volume_profile


def chart_payload(
    symbol: str,
    timeframe: str,
    bars: Sequence[Bar],
    markers: Sequence[dict[str, Any]],
    limit: int,
) -> dict[str, Any]:
    """Build the chart JSON for the last `limit` bars of `bars` (oldest first).

    Indicators are computed over every bar given and then sliced, so the visible values are as
    warm as the history allows; each indicator list has one entry per visible bar (None while
    warming up). Markers ({"t" ms, "side", "kind", "price", "text"}) are kept when their time
    falls inside the visible bars' span, from the first bar's start to the end of the last
    bar's bucket, and returned in time order as the chart library requires. Levels and the
    volume profile describe the visible bars only.
    """
    if timeframe not in TIMEFRAMES:
        raise ValueError(f"unknown timeframe {timeframe!r}")
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    closes = [b.c for b in bars]
    start = max(len(bars) - limit, 0)
    visible = list(bars[start:])
    line, signal, hist = macd(closes, 12, 26, 9)
    if visible:
        first_ms = round(visible[0].t * 1000)
        end_ms = round((visible[-1].t + TIMEFRAMES[timeframe]) * 1000)
        shown = sorted((m for m in markers if first_ms <= m["t"] < end_ms), key=lambda m: m["t"])
    else:
        shown = []
    return {
        "symbol": symbol,
        "timeframe": timeframe,
        "bars": [b.to_dict() for b in visible],
        "ema20": ema(closes, 20)[start:],
        "ema50": ema(closes, 50)[start:],
        "rsi14": rsi(closes, 14)[start:],
        "macd": line[start:],
        "macd_signal": signal[start:],
        "macd_hist": hist[start:],
        "markers": shown,
        "levels": support_resistance(visible),
        "volume_profile": volume_profile(visible),
    }
