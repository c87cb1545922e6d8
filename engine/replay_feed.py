"""The replay feed: plays recorded OHLCV bars as trades, quotes, books and a VIX proxy.

Time. Two clocks meet here. Trades carry the file's time (the replayed clock), because Vigil
builds its bars, the chart and the strategy's signals from `TradeTick.ts` and those must land
in the file's minutes. Quotes, books, the VIX proxy and status events carry the engine's clock
(`now`, wall time) because they stand for the market as it is *now* for everything that acts
on it: the pre-trade stale-quote check, the paper broker's fill times (so orders, fills and the
daily loss limit stay on the wall clock) and the stale-feed breaker (which measures arrival).
The replayed clock advances by `(now - previous now) * speed` at each `step`; time between the
file's bars (nights, weekends, missing minutes) is skipped, not waited out.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from decimal import Decimal
from itertools import pairwise

from engine.models import (
    AssetClass,
    BookLevel,
    FeedStatus,
    Instrument,
    OrderBook,
    Quote,
    Side,
    TradeTick,
    VixUpdate,
)
from engine.replay_csv import BarRow, ReplayData, ReplayFileError, format_ts, load_replay
from engine.settings import Settings, SettingsError

ReplayEvent = Quote | TradeTick | OrderBook | VixUpdate | FeedStatus

SPREAD_BPS = 0.5  # the generated quote's spread: at least one tick
_BOOK_DEPTH = 10
_INTERMEDIATE = 2  # prices between each pair of the bar's O, H/L, L/H, C points
_VOL_WINDOW = 30  # bars of log returns behind the realized-volatility VIX proxy
_TRADING_YEAR_S = 252 * 6.5 * 3600
_CALENDAR_YEAR_S = 365 * 24 * 3600


def replay_instrument(symbol: str, decimals: int, lowest: float) -> Instrument:
    """The spec of a replayed symbol: an equity (crypto when written A/B), multiplier 1.

    The tick is a cent; only a symbol trading below 1.00 gets the finer tick its file's
    prices show (a cent tick would make its quotes meaningless). Sub-penny prints of a
    dearer symbol are played as recorded; the generated quotes stay on the cent grid.
    """
    tick = 0.01 if lowest >= 1.0 else float(Decimal(1).scaleb(-max(2, decimals)))
    if "/" in symbol:
        return Instrument(symbol, AssetClass.CRYPTO, tick_size=tick, lot_size=0.0001)
    return Instrument(symbol, AssetClass.EQUITY, tick_size=tick, lot_size=0.01)


def bar_trades(symbol: str, row: BarRow, interval: float, tick: float) -> list[TradeTick]:
    """Trades inside one bar whose first, highest, lowest and last prices are its O, H, L, C.

    The path goes open → low → high → close on an up bar (open → high → low → close on a down
    one) with a few prices on the tick grid in between; sizes add up to the bar's volume.
    """
    up = row.c >= row.o
    anchors = (row.o, row.l, row.h, row.c) if up else (row.o, row.h, row.l, row.c)
    places = _decimals(tick)
    prices = [row.o]
    for a, b in pairwise(anchors):
        for k in range(1, _INTERMEDIATE + 1):
            between = round(round((a + (b - a) * k / (_INTERMEDIATE + 1)) / tick) * tick, places)
            between = min(max(between, row.l), row.h)
            if between not in (prices[-1], b):
                prices.append(between)
        if b != prices[-1]:
            prices.append(b)
    sizes = _split(row.v, len(prices))
    trades = []
    previous_side = Side.BUY if up else Side.SELL
    for k, (price, size) in enumerate(zip(prices, sizes, strict=True)):
        if k and price != prices[k - 1]:
            previous_side = Side.BUY if price > prices[k - 1] else Side.SELL
        ts = row.t + interval * k / len(prices)
        trades.append(TradeTick(symbol, price, size, previous_side, ts))
    return trades


def _split(volume: float, n: int) -> list[float]:
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


class _RealizedVol:
    """Annualised close-to-close volatility of the last bars, in VIX points."""

    def __init__(self, interval: float, year_s: float) -> None:
        self._per_year = year_s / interval
        self._returns: deque[float] = deque(maxlen=_VOL_WINDOW)
        self._last: float | None = None

    def add(self, close: float) -> None:
        if self._last is not None:
            self._returns.append(math.log(close / self._last))
        self._last = close

    @property
    def value(self) -> float | None:
        n = len(self._returns)
        if n < 2:
            return None
        mean = sum(self._returns) / n
        variance = sum((r - mean) ** 2 for r in self._returns) / (n - 1)
        # A flat recording would give 0, which the regime classifier refuses as a bad value.
        return round(max(math.sqrt(variance * self._per_year) * 100, 0.01), 2)


class ReplayFeed:
    """Plays `data` from `start` (default: the first bar) at `speed` recorded seconds per second.

    Same shape as SimulatedFeed: `step(now, dt)` returns the events due, `history(...)` the bars
    before the start. `dt` is ignored: the replay measures its own progress from `now`, so the
    pump's cadence (VIGIL_SIM_TICK_MS) only sets how often events are handed over. When the
    file is played out it returns one FeedStatus "ended" and then nothing, so the feed goes
    stale and the stale-feed breaker and stale-quote check do their job.
    """

    def __init__(
        self,
        data: ReplayData,
        instruments: dict[str, Instrument],
        *,
        speed: float = 60.0,
        start: float | None = None,
        source: str = "",
    ) -> None:
        if not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"speed must be a positive number, got {speed}")
        self._instruments = dict(instruments)
        self._interval = float(data.interval)
        self._speed = speed
        self._source = source
        merged = [
            (row.t, order, symbol, row)
            for order, symbol in enumerate(self._instruments)
            for row in data.rows[symbol]
        ]
        merged.sort(key=lambda item: (item[0], item[1]))
        self._rows = [(symbol, row) for _, _, symbol, row in merged]
        first = self._rows[0][1].t if self._rows else 0.0
        self.start = first if start is None else start
        self._next = next(
            (i for i, (_, row) in enumerate(self._rows) if row.t >= self.start), len(self._rows)
        )
        self._history_end = self._next
        self._cursor = self._rows[self._next][1].t if self._next < len(self._rows) else self.start
        self._covered_until = -math.inf
        self._pending: list[tuple[float, int, TradeTick]] = []
        self._seq = 0
        self._last_now: float | None = None
        self._last_trade: dict[str, TradeTick] = {}
        self._last_row: dict[str, BarRow] = {}
        self._bar_left: dict[str, int] = {}
        vix_symbol = next(iter(self._instruments), None)
        crypto = vix_symbol is not None and (
            self._instruments[vix_symbol].asset_class is AssetClass.CRYPTO
        )
        self._vix_symbol = vix_symbol
        self._vol = _RealizedVol(self._interval, _CALENDAR_YEAR_S if crypto else _TRADING_YEAR_S)
        self._last_vix: float | None = None
        self.ended = False

    @property
    def instruments(self) -> dict[str, Instrument]:
        return dict(self._instruments)

    @property
    def data_time(self) -> float:
        """The replayed clock: how far into the file the replay has played."""
        return self._cursor

    @property
    def vix(self) -> float | None:
        return self._vol.value

    def step(self, now: float, dt: float = 0.0) -> list[ReplayEvent]:
        """Hand over everything the replayed clock passed since the previous call."""
        if self.ended:
            return []
        events: list[ReplayEvent] = []
        if self._last_now is None:
            events.append(FeedStatus("playing", self._playing_message(), now))
            advance = 0.0
        else:
            advance = max(now - self._last_now, 0.0) * self._speed
        self._last_now = now
        touched: dict[str, None] = {}
        for trade in self._advance(advance):
            events.append(self._quote(trade, now))
            events.append(trade)
            touched[trade.symbol] = None
        for symbol in touched:
            events.append(self._book(symbol, now))
        vix = self._vol.value
        if vix is not None and (vix != self._last_vix or touched):
            self._last_vix = vix
            events.append(VixUpdate(vix, now))
        if not self._pending and self._next >= len(self._rows):
            self.ended = True
            last = format_ts(self._rows[-1][1].t) if self._rows else "-"
            events.append(
                FeedStatus(
                    "ended",
                    f"replay ended: the recording is played out (last bar {last}); "
                    "no more market data",
                    now,
                )
            )
        return events

    def history(self, end: float, seconds: float, dt: float = 0.0) -> list[TradeTick | VixUpdate]:
        """Trades of the recorded bars in the `seconds` before the start, oldest first.

        `end` (wall time) is ignored: history is the file's own past. Call it before the first
        step; it also warms the VIX proxy.
        """
        if seconds < 0:
            raise ValueError("history needs seconds >= 0")
        events: list[TradeTick | VixUpdate] = []
        for symbol, row in self._rows[: self._history_end]:
            if row.t < self.start - seconds:
                if symbol == self._vix_symbol:
                    self._vol.add(row.c)
                continue
            trades = self._trades(symbol, row)
            events.extend(trades)
            self._last_trade[symbol] = trades[-1]
            self._last_row[symbol] = row
            if symbol == self._vix_symbol:
                self._vol.add(row.c)
        if self._vol.value is not None:
            events.append(VixUpdate(self._vol.value, self.start))
        return events

    # the replayed clock ----------------------------------------------------------------------

    def _advance(self, amount: float) -> list[TradeTick]:
        out: list[TradeTick] = []
        while True:
            self._begin_rows()
            while self._pending and self._pending[0][0] <= self._cursor:
                trade = heapq.heappop(self._pending)[2]
                self._trade_done(trade)
                out.append(trade)
            has_next = self._next < len(self._rows)
            if self._covered_until > self._cursor:
                if amount <= 0:
                    break
                boundary = self._covered_until
                if has_next:
                    boundary = min(boundary, self._rows[self._next][1].t)
                if amount >= boundary - self._cursor:
                    amount -= boundary - self._cursor
                    self._cursor = boundary
                else:
                    self._cursor += amount
                    amount = 0.0
            elif has_next:
                # No bar covers this moment (a night, a weekend, a missing minute): skip it.
                self._cursor = max(self._cursor, self._rows[self._next][1].t)
            else:
                break
        return out

    def _begin_rows(self) -> None:
        while self._next < len(self._rows) and self._rows[self._next][1].t <= self._cursor:
            symbol, row = self._rows[self._next]
            self._next += 1
            trades = self._trades(symbol, row)
            self._bar_left[symbol] = len(trades)
            self._last_row[symbol] = row
            for trade in trades:
                self._seq += 1
                heapq.heappush(self._pending, (trade.ts, self._seq, trade))
            self._covered_until = max(self._covered_until, row.t + self._interval)

    def _trade_done(self, trade: TradeTick) -> None:
        self._last_trade[trade.symbol] = trade
        self._bar_left[trade.symbol] -= 1
        if self._bar_left[trade.symbol] == 0 and trade.symbol == self._vix_symbol:
            self._vol.add(trade.price)  # the bar's close

    def _trades(self, symbol: str, row: BarRow) -> list[TradeTick]:
        return bar_trades(symbol, row, self._interval, self._instruments[symbol].tick_size)

    # the market around the trades ------------------------------------------------------------

    def _touch(self, trade: TradeTick) -> tuple[float, float]:
        """Bid and ask on the tick grid with the trade at the side its aggressor took."""
        tick = self._instruments[trade.symbol].tick_size
        places = _decimals(tick)
        spread = max(1, round(trade.price * SPREAD_BPS * 1e-4 / tick))
        at = trade.price / tick
        if trade.aggressor is Side.BUY:
            ask_n = math.ceil(at - 1e-9)
            bid_n = max(ask_n - spread, 1)
            ask_n = bid_n + spread
        else:
            bid_n = max(math.floor(at + 1e-9), 1)
            ask_n = bid_n + spread
        return round(bid_n * tick, places), round(ask_n * tick, places)

    def _level_size(self, symbol: str) -> float:
        instrument = self._instruments[symbol]
        row = self._last_row.get(symbol)
        average = row.v / 8 if row is not None else 0.0
        lots = max(1, round(average / instrument.lot_size))
        return round(lots * instrument.lot_size, _decimals(instrument.lot_size))

    def _quote(self, trade: TradeTick, now: float) -> Quote:
        bid, ask = self._touch(trade)
        size = self._level_size(trade.symbol)
        return Quote(trade.symbol, bid, ask, size, size, now)

    def _book(self, symbol: str, now: float) -> OrderBook:
        instrument = self._instruments[symbol]
        tick = instrument.tick_size
        places = _decimals(tick)
        bid, ask = self._touch(self._last_trade[symbol])
        size = self._level_size(symbol)
        lot_places = _decimals(instrument.lot_size)
        bids = []
        asks = []
        for i in range(_BOOK_DEPTH):
            level = round(size * (1 + 0.4 * i), lot_places)
            below = round(bid - i * tick, places)
            if below > 0:
                bids.append(BookLevel(below, level))
            asks.append(BookLevel(round(ask + i * tick, places), level))
        return OrderBook(symbol, tuple(bids), tuple(asks), now)

    def _playing_message(self) -> str:
        symbols = ", ".join(self._instruments)
        where = f" ({self._source})" if self._source else ""
        if self._next >= len(self._rows):
            return f"replay{where}: nothing to play after {format_ts(self.start)}"
        first = format_ts(self._rows[self._next][1].t)
        return f"replaying {symbols}{where} from {first} at {self._speed:g}x"


def _decimals(step: float) -> int:
    return max(0, -int(Decimal(repr(step)).normalize().as_tuple().exponent))


def build_replay_feed(settings: Settings) -> ReplayFeed:
    """The replay feed VIGIL_REPLAY_* describe, for the symbols VIGIL_SYMBOLS picks.

    The file is read here, when the serving process builds its engine, not in load_settings:
    a CLI command (`flask --app wsgi kill-switch ...`) must work even if the file is bad.
    Raises SettingsError with one line naming the variable, the file, the line and the problem.
    """
    paths = settings.replay_paths
    try:
        data = load_replay(paths, settings.replay_symbols)
    except ReplayFileError as exc:
        raise SettingsError(f"{exc.variable}: {exc}") from None
    available = list(data.rows)
    chosen = settings.symbol_list or available
    for symbol in chosen:
        if symbol not in data.rows:
            raise SettingsError(
                f"VIGIL_SYMBOLS: {symbol!r} is not in the replay file "
                f"(it has {', '.join(available)})"
            )
    data.rows = {symbol: data.rows[symbol] for symbol in chosen}
    start = settings.replay_start_ts
    if start is not None:
        last = max(rows[-1].t for rows in data.rows.values())
        if start > last:
            raise SettingsError(
                f"VIGIL_REPLAY_START: {format_ts(start)} is after the last bar ({format_ts(last)})"
            )
    instruments = {
        s: replay_instrument(s, data.decimals[s], min(row.l for row in data.rows[s]))
        for s in chosen
    }
    return ReplayFeed(
        data,
        instruments,
        speed=settings.replay_speed,
        start=start,
        source=", ".join(p.name for p in paths),
    )
