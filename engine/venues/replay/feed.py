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
from collections.abc import Iterator
from typing import Any

from engine.market.vol_proxy import PROXY_SOURCE
from engine.models import (
    BookLevel,
    Instrument,
    OrderBook,
    Quote,
    Side,
    TradeTick,
    VixUpdate,
)
from engine.settings_group import SettingsError
from engine.venues.bar_trades import BarRow, bar_trades, decimals_of, format_ts
from engine.venues.base import ConnectionEvent, ConnectionState
from engine.venues.replay.bars import RealizedVol, replay_instrument, year_seconds
from engine.venues.replay.csv_file import ReplayData, ReplayFileError, load_replay
from engine.venues.settings import FeedSettings

ReplayEvent = Quote | TradeTick | OrderBook | VixUpdate | ConnectionEvent

SPREAD_BPS = 0.5  # the generated quote's spread: at least one tick
_BOOK_DEPTH = 10


class ReplayFeed:
    """Plays `data` from `start` (default: the first bar) at `speed` recorded seconds per second.

    Same shape as SimulatedFeed: `step(now, dt)` returns the events due, `history(...)` the bars
    before the start. `dt` is ignored: the replay measures its own progress from `now`, so the
    pump's cadence (VIGIL_SIM_TICK_MS) only sets how often events are handed over. When the
    file is played out it returns one ConnectionEvent ENDED and then nothing, so the feed goes
    stale and the stale-feed breaker and stale-quote check do their job.
    """

    name = "replay"

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
        # The VIX proxy follows the first symbol; it starts warm from the bars before the start.
        self._vix_symbol = next(iter(self._instruments), None)
        year = year_seconds(self._instruments[self._vix_symbol]) if self._vix_symbol else 1.0
        self._vol = RealizedVol(self._interval, year)
        for symbol, row in self._rows[: self._next]:
            if symbol == self._vix_symbol:
                self._vol.add(row.c)
        self._start_vix = self._vol.value
        self._last_vix: float | None = None
        self.ended = False

    @property
    def instruments(self) -> dict[str, Instrument]:
        return dict(self._instruments)

    @property
    def vix(self) -> float | None:
        return self._vol.value

    def step(self, now: float, dt: float = 0.0) -> list[ReplayEvent]:
        """Hand over everything the replayed clock passed since the previous call."""
        if self.ended:
            return []
        events: list[ReplayEvent] = []
        advance = 0.0 if self._last_now is None else max(now - self._last_now, 0.0) * self._speed
        self._last_now = now
        touched: dict[str, None] = {}
        for trade in self._advance(advance):
            events.append(self._quote(trade, now))
            events.append(trade)
            touched[trade.symbol] = None
        # Every symbol that has traded is quoted at every step, as the simulated market is: a
        # slow replay of a quiet bar (one trade a minute) must not look like a dead feed.
        for symbol in self._last_trade:
            if symbol not in touched:
                events.append(self._quote(self._last_trade[symbol], now))
            events.append(self._book(symbol, now))
        vix = self._vol.value
        if vix is not None and (vix != self._last_vix or touched):
            self._last_vix = vix
            events.append(VixUpdate(vix, now, PROXY_SOURCE))
        if (
            not self._pending
            and self._next >= len(self._rows)
            and self._cursor >= self._covered_until
        ):
            self.ended = True
            last = format_ts(self._rows[-1][1].t) if self._rows else "-"
            events.append(
                ConnectionEvent(
                    "feed",
                    self.name,
                    ConnectionState.ENDED,
                    now,
                    message=f"replay ended: the recording is played out (last bar {last}); "
                    "no more market data",
                )
            )
        return events

    def start_message(self) -> str:
        return self._playing_message()

    def checkpoint(self) -> Any | None:
        return None  # a replay restarts from VIGIL_REPLAY_START: nothing to keep

    def save(self, snapshot: Any) -> None:
        return None

    def history_slices(
        self, end: float, seconds: float, dt: float, steps_per_slice: int
    ) -> Iterator[tuple[float, list[TradeTick | VixUpdate]]]:
        """`history` handed over in chunks: (fraction done, events). The file's past is one
        window before the start, so it is cut by event count, not by time."""
        events = self.history(end, seconds, dt)
        chunk = max(steps_per_slice * 100, 1)
        if not events:
            yield 1.0, []
            return
        for first in range(0, len(events), chunk):
            yield min(first + chunk, len(events)) / len(events), events[first : first + chunk]

    def history(self, end: float, seconds: float, dt: float = 0.0) -> list[TradeTick | VixUpdate]:
        """Trades of the recorded bars in the `seconds` before the start, oldest first, and the
        VIX proxy there.

        `end` (wall time) is ignored: history is the file's own past. It reads only what never
        changes, so the engine thread may run it while the pump thread already steps.
        """
        if seconds < 0:
            raise ValueError("history needs seconds >= 0")
        events: list[TradeTick | VixUpdate] = []
        for symbol, row in self._rows[: self._history_end]:
            if row.t >= self.start - seconds:
                events.extend(self._trades(symbol, row))
        if self._start_vix is not None:
            events.append(VixUpdate(self._start_vix, self.start, PROXY_SOURCE))
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
        places = decimals_of(tick)
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
        return round(lots * instrument.lot_size, decimals_of(instrument.lot_size))

    def _quote(self, trade: TradeTick, now: float) -> Quote:
        bid, ask = self._touch(trade)
        size = self._level_size(trade.symbol)
        return Quote(trade.symbol, bid, ask, size, size, now)

    def _book(self, symbol: str, now: float) -> OrderBook:
        instrument = self._instruments[symbol]
        tick = instrument.tick_size
        places = decimals_of(tick)
        bid, ask = self._touch(self._last_trade[symbol])
        size = self._level_size(symbol)
        lot_places = decimals_of(instrument.lot_size)
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


def build_replay_feed(settings: FeedSettings) -> ReplayFeed:
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
