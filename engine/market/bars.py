"""OHLCV bars built from trade ticks on fixed timeframes, and the rolling per-symbol tick cache."""

from __future__ import annotations

import io
import math
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from engine.clock import Clock
from engine.models import BarEvent, Side, TradeTick

TIMEFRAMES: dict[str, int] = {
    "1s": 1,
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "1h": 3600,
    "4h": 14400,
    # A UTC day: one US equity session (13:30-21:00 UTC) falls inside one bar.
    "1d": 86400,
}

_INF = math.inf
# A provider's bars are 1m; the timeframes after it in TIMEFRAMES are rebuilt from them.
_MINUTE = list(TIMEFRAMES).index("1m")


@dataclass(slots=True)
class Bar:
    """One bucket of trades; `t` is the bucket start in epoch seconds (UTC-aligned)."""

    t: float
    o: float
    h: float
    l: float  # noqa: E741 - OHLC field names are the wire contract
    c: float
    v: float
    buy_v: float
    sell_v: float

    def to_dict(self) -> dict[str, float | int]:
        return {
            "t": round(self.t * 1000),
            "o": self.o,
            "h": self.h,
            "l": self.l,
            "c": self.c,
            "v": self.v,
            "buy_v": self.buy_v,
            "sell_v": self.sell_v,
        }

    def copy(self) -> Bar:
        return Bar(self.t, self.o, self.h, self.l, self.c, self.v, self.buy_v, self.sell_v)


class _Series:
    """Closed bars of one (symbol, timeframe) plus the bar still forming."""

    __slots__ = ("closed", "forming", "name", "seconds")

    def __init__(self, name: str, seconds: int, max_bars: int) -> None:
        self.name = name
        self.seconds = seconds
        self.closed: deque[Bar] = deque(maxlen=max_bars)
        self.forming: Bar | None = None


class _Symbol:
    __slots__ = ("last_ts", "series")

    def __init__(self, series: tuple[_Series, ...]) -> None:
        self.series = series
        self.last_ts = -_INF


class BarAggregator:
    """Folds trade ticks into bars for every timeframe in TIMEFRAMES.

    Buckets are aligned to the epoch (a 4h bar starts at 00:00, 04:00, ... UTC). Volume is split
    by the tick's aggressor: a buyer lifting the offer adds to `buy_v`, a seller hitting the bid
    to `sell_v`. A bar closes when the first tick of a later bucket arrives, so quiet periods
    produce no empty bars (the next bar simply starts later).

    A late tick (its bucket is older than the forming bar's) is folded into the forming bar rather
    than reopening history: closed bars are never edited, so what was published stays true. Its
    volume counts and it may widen the high/low. Any tick older than the newest tick already seen
    for its symbol leaves the close alone, since the close is the last trade in time.

    Ticks with a non-positive or non-finite price, a negative or non-finite size, or a non-finite
    timestamp are dropped and counted in `rejected`; one bad print must not poison every
    timeframe's high or low.

    A provider's 1m bar (`on_bar`) is the authority for its minute: it replaces the 1m bar of
    that bucket (forming or closed, built from trades or an earlier version of the bar), and
    each longer timeframe's bar of that bucket is rebuilt from its 1m bars, so every timeframe
    agrees with the provider. The 1s series is built from trades only. A trade after the
    provider's bar of its minute folds into it until the provider's next version replaces it.
    A provider's bar carries no aggressor: its volume is counted neither as buy nor as sell.

    Threading: `on_trade` and `on_bar` are meant for the engine thread. The forming bars they
    return are live objects that later ticks mutate; call `to_dict()` (or `copy()`) before
    handing one to another thread. `bars()` may be called from any thread and returns a
    consistent copy.
    """

    def __init__(self, symbols: Iterable[str], max_bars: int = 1500) -> None:
        if max_bars < 1:
            raise ValueError(f"max_bars must be >= 1, got {max_bars}")
        self.max_bars = max_bars
        self.rejected = 0
        self._lock = threading.Lock()
        self._symbols: dict[str, _Symbol] = {}
        for symbol in symbols:
            self._add_symbol(symbol)

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def _add_symbol(self, symbol: str) -> _Symbol:
        series = tuple(_Series(name, secs, self.max_bars) for name, secs in TIMEFRAMES.items())
        state = self._symbols[symbol] = _Symbol(series)
        return state

    def on_trade(self, tick: TradeTick) -> list[tuple[str, Bar, bool]]:
        """Apply one trade; return (timeframe, bar, closed) for each bar closed or updated.

        A tick for a symbol not given at construction starts tracking that symbol.
        """
        price = tick.price
        size = tick.size
        ts = tick.ts
        if not (0.0 < price < _INF and 0.0 <= size < _INF and -_INF < ts < _INF):
            self.rejected += 1
            return []
        buy = size if tick.aggressor is Side.BUY else 0.0
        sell = size - buy
        out: list[tuple[str, Bar, bool]] = []
        with self._lock:
            state = self._symbols.get(tick.symbol) or self._add_symbol(tick.symbol)
            in_order = ts >= state.last_ts
            if in_order:
                state.last_ts = ts
            for s in state.series:
                bar = s.forming
                start = (ts // s.seconds) * s.seconds
                if bar is not None and start <= bar.t:
                    # Same bucket, or a late tick folded into the forming bar (see class doc).
                    if in_order:
                        bar.c = price
                    if price > bar.h:
                        bar.h = price
                    elif price < bar.l:
                        bar.l = price
                    bar.v += size
                    bar.buy_v += buy
                    bar.sell_v += sell
                else:
                    if bar is not None:
                        s.closed.append(bar)
                        out.append((s.name, bar, True))
                    bar = Bar(start, price, price, price, price, size, buy, sell)
                    s.forming = bar
                out.append((s.name, bar, False))
        return out

    def on_bar(self, event: BarEvent) -> list[tuple[str, Bar, bool]]:
        """Apply a provider's 1m bar; return (timeframe, bar, closed) for each bar closed or
        replaced. A bar with a timeframe other than 1m or inconsistent prices is rejected."""
        o, h, lo, c, v, ts = event.open, event.high, event.low, event.close, event.volume, event.ts
        if not (
            event.timeframe == "1m"
            and all(math.isfinite(x) for x in (o, h, lo, c, v, ts))
            and 0.0 < lo <= min(o, c)
            and max(o, c) <= h
            and v >= 0.0
        ):
            self.rejected += 1
            return []
        out: list[tuple[str, Bar, bool]] = []
        with self._lock:
            state = self._symbols.get(event.symbol) or self._add_symbol(event.symbol)
            bar = Bar(ts - ts % 60, o, h, lo, c, v, 0.0, 0.0)
            minute = self._put(state.series[_MINUTE], bar, out)
            out[-1] = (out[-1][0], out[-1][1], out[-1][2] or event.closed)
            for s in state.series[_MINUTE + 1 :]:
                start = (minute.t // s.seconds) * s.seconds
                parts = [b for b in _all(state.series[_MINUTE]) if start <= b.t < start + s.seconds]
                if not parts:  # older than the 1m history kept: nothing to rebuild from
                    continue
                rebuilt = Bar(
                    start,
                    parts[0].o,
                    max(b.h for b in parts),
                    min(b.l for b in parts),
                    parts[-1].c,
                    sum(b.v for b in parts),
                    sum(b.buy_v for b in parts),
                    sum(b.sell_v for b in parts),
                )
                self._put(s, rebuilt, out)
        return out

    @staticmethod
    def _put(s: _Series, bar: Bar, out: list[tuple[str, Bar, bool]]) -> Bar:
        """Place `bar` in its bucket of `s` (replacing what was there); report it last."""
        forming = s.forming
        if forming is None or bar.t > forming.t:
            if forming is not None:
                s.closed.append(forming)
                out.append((s.name, forming, True))
            s.forming = bar
        elif bar.t == forming.t:
            s.forming = bar
        else:
            # A closed bucket: replace the object (closed bars are shared, never mutated).
            kept = [b for b in s.closed if b.t != bar.t] + [bar]
            kept.sort(key=lambda b: b.t)
            s.closed = deque(kept, maxlen=s.closed.maxlen)
        out.append((s.name, bar, bar is not s.forming))
        return bar

    def bars(self, symbol: str, timeframe: str, limit: int | None = None) -> list[Bar]:
        """Closed bars plus the forming one, oldest first, as copies safe to keep.

        Raises KeyError for a symbol never seen and ValueError for an unknown timeframe.
        """
        if timeframe not in TIMEFRAMES:
            raise ValueError(f"unknown timeframe {timeframe!r}; expected one of {list(TIMEFRAMES)}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        index = list(TIMEFRAMES).index(timeframe)
        with self._lock:
            s = self._symbols[symbol].series[index]
            # Closed bars are never mutated after closing, so sharing them is safe.
            result = list(s.closed)
            if s.forming is not None:
                result.append(s.forming.copy())
        if limit is not None:
            result = result[len(result) - limit :] if limit else []
        return result


def _all(s: _Series) -> list[Bar]:
    return [*s.closed, s.forming] if s.forming is not None else list(s.closed)


class TickCache:
    """The last `window_s` seconds of trades per symbol, capped at `max_ticks` per symbol.

    Ticks are stored as compact tuples (a few hundred thousand TradeTick objects would cost
    several times the memory). The window is measured back from the newest of: the latest tick
    seen for that symbol and, if a clock is given, the clock's time — so a stalled feed's old
    ticks still age out of `ticks()` and `to_csv()`.
    """

    def __init__(
        self, window_s: float = 900.0, max_ticks: int = 200_000, clock: Clock | None = None
    ) -> None:
        if window_s <= 0 or max_ticks < 1:
            raise ValueError("window_s must be > 0 and max_ticks >= 1")
        self.window_s = window_s
        self.max_ticks = max_ticks
        self._clock = clock
        self._lock = threading.Lock()
        self._ticks: dict[str, deque[tuple[float, float, float, bool]]] = {}
        self._latest: dict[str, float] = {}

    def add(self, tick: TradeTick) -> None:
        ts = tick.ts
        with self._lock:
            dq = self._ticks.get(tick.symbol)
            if dq is None:
                dq = self._ticks[tick.symbol] = deque(maxlen=self.max_ticks)
                self._latest[tick.symbol] = ts
            dq.append((ts, tick.price, tick.size, tick.aggressor is Side.BUY))
            latest = self._latest[tick.symbol]
            if ts > latest:
                self._latest[tick.symbol] = latest = ts
            cutoff = latest - self.window_s
            while dq[0][0] < cutoff:
                dq.popleft()

    def _snapshot(self, symbol: str) -> list[tuple[float, float, float, bool]]:
        with self._lock:
            dq = self._ticks.get(symbol)
            if dq is None:
                return []
            now = self._latest[symbol]
            if self._clock is not None:
                now = max(now, self._clock.time())
            cutoff = now - self.window_s
            while dq and dq[0][0] < cutoff:
                dq.popleft()
            return list(dq)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(dq) for dq in self._ticks.values())

    def ticks(self, symbol: str) -> list[TradeTick]:
        """Ticks in the window, in arrival order; empty for an unknown symbol."""
        return [
            TradeTick(symbol, price, size, Side.BUY if buy else Side.SELL, ts)
            for ts, price, size, buy in self._snapshot(symbol)
        ]

    def to_csv(self, symbol: str) -> str:
        """CSV with header ts_ms,symbol,price,size,aggressor; one row per cached tick."""
        out = io.StringIO()
        out.write("ts_ms,symbol,price,size,aggressor\n")
        quoted = _csv_field(symbol)
        for ts, price, size, buy in self._snapshot(symbol):
            out.write(
                f"{round(ts * 1000)},{quoted},{price!r},{size!r},{'buy' if buy else 'sell'}\n"
            )
        return out.getvalue()


def _csv_field(value: str) -> str:
    if any(ch in value for ch in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value
