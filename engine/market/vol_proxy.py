"""A realized-volatility stand-in for the VIX, from the symbols' 1-minute bars.

Used for the regime panel when the data plan has no VIX (Polygon without indices, Alpaca).

How it is made comparable with the VIX. The VIX is the market's expected volatility of the
S&P 500 over the next 30 days, annualised, in percentage points (VIX 20 = 20 % a year). The
proxy measures the same quantity after the fact and in the same unit:

1. Per symbol, the log return of each 1-minute close over the previous minute's close. A
   return across a short gap (up to `max_gap_min` minutes, e.g. a quiet minute without trades)
   is divided by sqrt(gap) so it counts as one minute's worth of variance; longer gaps
   (overnight, a halt) are skipped: an overnight jump is not intraday volatility.
2. The equal-weight basket of the symbols: per minute, the mean of the returns the symbols
   have for it. A basket diversifies like an index, so index ETFs (SPY, QQQ) read close to
   the VIX's own underlying; a single volatile stock reads higher, as it should.
3. Realized variance per minute = the mean of the squared basket returns over the last
   `window` minutes (zero-mean, the usual convention for realized volatility), annualised
   with the minutes in a trading year (390 regular-session minutes x 252 days = 98,280 for
   equities; 525,600 for crypto, which trades all year), square-rooted, times 100.

So the number is in VIX points and the regime thresholds (12 and 25 by default) apply
unchanged. Implied volatility usually sits a few points above realized (the variance risk
premium), so in calm markets the proxy reads slightly calmer than the VIX would; `premium`
multiplies the result when an operator wants to account for that (1.0 by default, the same
as the replay feed's proxy, so every feed's regime reads the same way).
"""

from __future__ import annotations

import math
from collections import deque

# The `source` a VixUpdate carries, which the page's regime panel shows.
VIX_SOURCE = "VIX"
PROXY_SOURCE = "realized-vol proxy"
EQUITY_MINUTES_PER_YEAR = 390 * 252
CRYPTO_MINUTES_PER_YEAR = 365 * 24 * 60
# The regime classifier refuses 0 as a bad reading; a flat market is the calmest, not broken.
FLOOR = 0.01


class RealizedVolProxy:
    """Feed it 1-minute closes per symbol; `value()` is the annualised realized volatility of
    the equal-weight basket over the last `window` minutes, in VIX points (None until
    `min_returns` minutes are known)."""

    def __init__(
        self,
        *,
        window: int = 390,
        min_returns: int = 20,
        minutes_per_year: float = EQUITY_MINUTES_PER_YEAR,
        max_gap_min: int = 15,
        premium: float = 1.0,
    ) -> None:
        if window < 2 or not 2 <= min_returns <= window:
            raise ValueError("the proxy needs window >= 2 and 2 <= min_returns <= window")
        if minutes_per_year <= 0 or premium <= 0 or max_gap_min < 1:
            raise ValueError("minutes_per_year, premium and max_gap_min must be positive")
        self.window = window
        self.min_returns = min_returns
        self.minutes_per_year = float(minutes_per_year)
        self.max_gap_min = max_gap_min
        self.premium = premium
        # Per symbol: its last (minute, close), and its one-minute-equivalent returns by minute.
        self._last: dict[str, tuple[int, float]] = {}
        self._returns: dict[str, dict[int, float]] = {}
        self._prev: dict[str, tuple[int, float]] = {}

    def add_bar(self, symbol: str, ts: float, close: float) -> None:
        """The close of `symbol`'s 1-minute bar that opened at `ts` (epoch s). A bar for the
        same minute again (a revision) replaces the earlier close; an older minute is ignored."""
        if not (math.isfinite(close) and close > 0 and math.isfinite(ts)):
            return
        minute = int(ts // 60)
        last = self._last.get(symbol)
        if last is not None and minute < last[0]:
            return
        if last is not None and minute == last[0]:
            prev = self._prev.get(symbol)  # a revision: recompute this minute's return
        else:
            prev = last
            if last is not None:
                self._prev[symbol] = last
        self._last[symbol] = (minute, close)
        if prev is None:
            return
        gap = minute - prev[0]
        returns = self._returns.setdefault(symbol, {})
        if gap > self.max_gap_min:
            returns.pop(minute, None)
        else:
            returns[minute] = math.log(close / prev[1]) / math.sqrt(gap)
        oldest = minute - self.window * (self.max_gap_min + 1)
        for old in [m for m in returns if m < oldest]:
            del returns[old]

    def value(self) -> float | None:
        """The proxy in VIX points, rounded to 2 decimals; None while too little is known."""
        by_minute: dict[int, list[float]] = {}
        for returns in self._returns.values():
            for minute, r in returns.items():
                by_minute.setdefault(minute, []).append(r)
        minutes = sorted(by_minute)[-self.window :]
        if len(minutes) < self.min_returns:
            return None
        basket = deque(sum(by_minute[m]) / len(by_minute[m]) for m in minutes)
        variance = sum(r * r for r in basket) / len(basket)
        vol = math.sqrt(variance * self.minutes_per_year) * 100 * self.premium
        return round(max(vol, FLOOR), 2)
