"""Support/resistance levels from clustered swing pivots, and the volume profile of a bar range."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from engine.market.bars import Bar


def support_resistance(
    bars: Sequence[Bar],
    left: int = 3,
    right: int = 3,
    tolerance_pct: float = 0.15,
    max_levels: int = 6,
) -> list[dict[str, Any]]:
    """Horizontal levels where price has turned more than once.

    Method (clustered swing pivots):

    1. A swing high is a bar whose high is strictly higher than the highs of the `left` bars
       before it and the `right` bars after it; a swing low likewise with lows. The first `left`
       and last `right` bars cannot be pivots (their window is incomplete), so a pivot is only
       confirmed `right` bars later.
    2. Highs and lows are pooled and sorted by price. Walking up, a pivot joins the current
       cluster while it is within `tolerance_pct` percent of the cluster's lowest price, so no
       cluster is wider than the tolerance; otherwise it starts a new cluster.
    3. Each cluster is one level: price = mean of its pivot prices, touches = number of pivots,
       last_t = time of its latest pivot (epoch ms). A level above the last close is
       "resistance", at or below it "support".
    4. The `max_levels` levels with the most touches are kept (ties: the most recent first), and
       returned highest price first.
    """
    if left < 1 or right < 1:
        raise ValueError("left and right must be >= 1")
    n = len(bars)
    pivots: list[tuple[float, float]] = []  # (price, bar start in epoch s)
    for i in range(left, n - right):
        bar = bars[i]
        around = [*bars[i - left : i], *bars[i + 1 : i + 1 + right]]
        if all(bar.h > other.h for other in around):
            pivots.append((bar.h, bar.t))
        if all(bar.l < other.l for other in around):
            pivots.append((bar.l, bar.t))
    if not pivots:
        return []
    pivots.sort()
    clusters: list[list[tuple[float, float]]] = [[pivots[0]]]
    for pivot in pivots[1:]:
        anchor = clusters[-1][0][0]
        if pivot[0] <= anchor * (1 + tolerance_pct / 100):
            clusters[-1].append(pivot)
        else:
            clusters.append([pivot])
    close = bars[-1].c
    levels = []
    for cluster in clusters:
        price = sum(p for p, _ in cluster) / len(cluster)
        levels.append(
            {
                "price": price,
                "kind": "resistance" if price > close else "support",
                "touches": len(cluster),
                "last_t": round(max(t for _, t in cluster) * 1000),
            }
        )
    levels.sort(key=lambda lv: (lv["touches"], lv["last_t"]), reverse=True)
    kept = levels[: max(max_levels, 0)]
    kept.sort(key=lambda lv: lv["price"], reverse=True)
    return kept


def volume_profile(bars: Sequence[Bar], bins: int = 24) -> dict[str, Any]:
    """Traded volume by price over `bars`, with its point of control (POC).

    Method: the range from the lowest low to the highest high is cut into `bins` equal bins
    (bin i covers [low + i*w, low + (i+1)*w), the last bin also includes the top). Each bar's
    volume, and its buy/sell split, is spread evenly over the bins its own low-high range
    touches — bar-level data cannot say where inside its range the trades happened. The POC is
    the middle price of the bin with the most volume (the lowest such bin on a tie). If every
    bar has the same single price there is one bin. No bars: no bins and a None POC.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    if not bars:
        return {"bins": [], "poc": None}
    low = min(b.l for b in bars)
    high = max(b.h for b in bars)
    if high <= low:
        bins = 1
    width = (high - low) / bins
    volume = [0.0] * bins
    buy = [0.0] * bins
    sell = [0.0] * bins
    for bar in bars:
        first = _bin_of(bar.l, low, width, bins)
        last = _bin_of(bar.h, low, width, bins)
        count = last - first + 1
        v, bv, sv = bar.v / count, bar.buy_v / count, bar.sell_v / count
        for i in range(first, last + 1):
            volume[i] += v
            buy[i] += bv
            sell[i] += sv
    rows = [
        {
            "price_low": low + i * width,
            "price_high": high if i == bins - 1 else low + (i + 1) * width,
            "volume": volume[i],
            "buy_v": buy[i],
            "sell_v": sell[i],
        }
        for i in range(bins)
    ]
    top = max(range(bins), key=lambda i: (volume[i], -i))
    poc = (rows[top]["price_low"] + rows[top]["price_high"]) / 2
    return {"bins": rows, "poc": poc}


def _bin_of(price: float, low: float, width: float, bins: int) -> int:
    if width <= 0:
        return 0
    return min(max(math.floor((price - low) / width), 0), bins - 1)
