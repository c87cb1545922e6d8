"""A seeded simulated market: VIX regimes, correlated price paths, quotes, trades and books.

With a state file (see engine/venues/sim/state.py) the market survives a restart: it saves
its process (prices, VIX, regime, random generators, its time) and the 1m bars of the trades
it produced, resumes from them, and its chart history is those bars replayed (trades whose
open, high, low and close are each bar's), so the chart and the prices carry on where they
stopped. The time the server was down is skipped, not simulated: the first quote after a
restart is one step from the last before it, and an open position's P&L does not jump.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.models import (
    AssetClass,
    BookLevel,
    Instrument,
    OrderBook,
    Quote,
    Side,
    TradeTick,
    VixUpdate,
)
from engine.venues.bar_trades import format_ts
from engine.venues.sim.catalogue import (
    DEFAULT_INSTRUMENTS,
    GENERIC_PROFILES,
    PROFILES,
    Profile,
)
from engine.venues.sim.maths import (
    CALENDAR_YEAR_S,
    OptionSpec,
    black_scholes,
    choose,
    lots,
    parse_option,
    poisson,
    price,
    round_to,
)
from engine.venues.sim.record import BarRecord
from engine.venues.sim.state import SimStateError, load_state, save_state

log = logging.getLogger(__name__)

SimEvent = Quote | TradeTick | OrderBook | VixUpdate

_BOOK_DEPTH = 10
_MAX_TRADES_PER_STEP = 25  # a long dt (history, fast-forward) must not explode the event list
_OPTION_MIN_MID = 0.15  # keeps a 10-level book of positive bids on a worthless option
_REFERENCE_TS = 1_767_225_600.0  # option pricing time until the first step says otherwise

# The long-run VIX level per regime, how long a regime lasts on average (simulated seconds,
# compressed so a demo session sees switches), and where the Markov chain goes next.
REGIME_LEVELS = {"calm": 11.0, "normal": 17.0, "stressed": 30.0}
_REGIME_MEAN_S = {"calm": 2400.0, "normal": 3600.0, "stressed": 1200.0}
_REGIME_NEXT = {
    "calm": (("normal", 0.85), ("stressed", 0.15)),
    "normal": (("calm", 0.5), ("stressed", 0.5)),
    "stressed": (("normal", 0.8), ("calm", 0.2)),
}
_VIX_REFERENCE = 17.0
_VIX_KAPPA = math.log(2) / 300.0  # log-VIX reverts with a five-minute half-life
_VIX_LOG_SD = 0.10  # stationary spread of log-VIX around its regime level
_VIX_MARKET_CORR = -0.7  # leverage effect: VIX jumps when stocks fall


class SimulatedFeed:
    """Deterministic for a seed and a sequence of (now, dt) calls.

    Three random streams keep it so while letting `history` skip the books: one drives the
    VIX, regimes and prices, one the trades, one the book sizes.
    """

    name = "sim"

    def __init__(
        self,
        seed: int,
        instruments: dict[str, Instrument] | None = None,
        *,
        state_path: Path | None = None,
        keep_bars_s: float = 6 * 3600.0,
    ) -> None:
        self._seed = seed
        self._instruments = dict(DEFAULT_INSTRUMENTS if instruments is None else instruments)
        self._rng = random.Random(f"vigil-sim:{seed}:process")
        self._trade_rng = random.Random(f"vigil-sim:{seed}:trades")
        self._book_rng = random.Random(f"vigil-sim:{seed}:books")
        self._regime = "normal"
        self._vix = REGIME_LEVELS["normal"]
        self._now = _REFERENCE_TS
        self._options: dict[str, OptionSpec] = {}
        self._profiles: dict[str, Profile] = {}
        self._log_prices: dict[str, float] = {}
        self._shocks: dict[str, float] = {}
        for symbol, instrument in self._instruments.items():
            spec = parse_option(symbol) if instrument.asset_class is AssetClass.OPTION else None
            if spec is not None and spec.underlying in self._instruments:
                self._options[symbol] = spec
                self._profiles[symbol] = GENERIC_PROFILES[AssetClass.OPTION]
                continue
            asset = AssetClass.EQUITY if spec is not None else instrument.asset_class
            profile = PROFILES.get(symbol) or GENERIC_PROFILES[asset]
            self._profiles[symbol] = profile
            self._log_prices[symbol] = math.log(profile.start)
            self._shocks[symbol] = 0.0
        # symbol -> 1m bars [t, o, h, l, c, v] of the trades produced, oldest first.
        self._record = BarRecord(list(self._instruments), keep_bars_s)
        self.state_path = state_path
        self.resumed_at: float | None = None
        self.note = "a new simulated market"
        if state_path is not None:
            self._resume(state_path)

    @property
    def instruments(self) -> dict[str, Instrument]:
        return dict(self._instruments)

    @property
    def vix(self) -> float:
        return self._vix

    @property
    def regime(self) -> str:
        """The hidden regime driving the VIX: "calm", "normal" or "stressed"."""
        return self._regime

    def last_price(self, symbol: str) -> float:
        """The fair mid price, on the tick grid."""
        return round_to(self._fair(symbol), self._instruments[symbol].tick_size)

    def step(self, now: float, dt: float) -> list[SimEvent]:
        """Advance `dt` simulated seconds; every event is stamped `now`."""
        self._advance(now, dt)
        events: list[SimEvent] = [VixUpdate(value=round(self._vix, 2), ts=now)]
        for symbol in self._instruments:
            bid_n, ask_n = self._touch(symbol)
            book = self._book(symbol, bid_n, ask_n, now)
            tick = self._instruments[symbol].tick_size
            events.append(
                Quote(
                    symbol=symbol,
                    bid=price(bid_n, tick),
                    ask=price(ask_n, tick),
                    bid_size=book.bids[0].size,
                    ask_size=book.asks[0].size,
                    ts=now,
                )
            )
            trades = self._trades(symbol, bid_n, ask_n, now, dt)
            self._record.add(trades)
            events.extend(trades)
            events.append(book)
        return events

    def history_slices(
        self, end: float, seconds: float, dt: float, steps_per_slice: int
    ) -> Iterator[tuple[float, list[TradeTick | VixUpdate]]]:
        """`history` cut into slices of `steps_per_slice` steps: (fraction done, events).

        The engine handles its queue between two slices, so history never delays a command.
        A resumed market's history is its saved bars (see the module docstring).
        """
        if self.resumed_at is not None:
            chunk = steps_per_slice * 100
            yield from self._record.history(
                self._instruments, self.resumed_at, self._vix, seconds, chunk
            )
            return
        count = round(seconds / dt)
        start = end - count * dt
        done = 0
        while done < count:
            steps = min(steps_per_slice, count - done)
            done += steps
            slice_end = end if done == count else start + done * dt
            yield done / count, self.history(slice_end, steps * dt, dt)

    def history(self, end: float, seconds: float, dt: float) -> list[TradeTick | VixUpdate]:
        """Warm-up trades and VIX for the `seconds` before `end`, oldest first.

        Runs the same process as `step` (books skipped), so call it once before the first
        step and the next step carries on from where the history ends.
        """
        if dt <= 0 or seconds < 0:
            raise ValueError("history needs dt > 0 and seconds >= 0")
        count = round(seconds / dt)
        start = end - count * dt
        events: list[TradeTick | VixUpdate] = []
        for k in range(1, count + 1):
            ts = end if k == count else start + k * dt
            self._advance(ts, dt)
            events.append(VixUpdate(value=round(self._vix, 2), ts=ts))
            for symbol in self._instruments:
                bid_n, ask_n = self._touch(symbol)
                trades = self._trades(symbol, bid_n, ask_n, ts, dt)
                self._record.add(trades)
                events.extend(trades)
        return events

    # across a restart ----------------------------------------------------------------------

    def start_message(self) -> str:
        return f"simulated market: {self.note}"

    def checkpoint(self) -> dict[str, Any] | None:
        """A copy of everything a restart needs (taken on the thread that steps the market)."""
        if self.state_path is None:
            return None
        return {
            "seed": self._seed,
            "now": self._now,
            "regime": self._regime,
            "vix": self._vix,
            "log_prices": dict(self._log_prices),
            "shocks": dict(self._shocks),
            "rng": {
                "process": _rng_state(self._rng),
                "trades": _rng_state(self._trade_rng),
                "books": _rng_state(self._book_rng),
            },
            "bars": self._record.copy(),
        }

    def save(self, snapshot: dict[str, Any]) -> None:
        if self.state_path is not None:
            save_state(self.state_path, snapshot)

    def _resume(self, path: Path) -> None:
        try:
            state = load_state(path)
        except SimStateError as exc:
            self.note = f"a new simulated market (the saved one was not usable: {exc})"
            log.warning("simulated market: starting fresh: %s", exc)
            return
        if state is None:
            return
        if state["seed"] != self._seed:
            self.note = (
                f"a new simulated market (VIGIL_SEED changed from {state['seed']} to {self._seed})"
            )
            log.warning("simulated market: %s", self.note)
            return
        self._now = float(state["now"])
        self._regime = state["regime"]
        self._vix = float(state["vix"])
        for name, rng in (
            ("process", self._rng),
            ("trades", self._trade_rng),
            ("books", self._book_rng),
        ):
            version, internal, gauss = state["rng"][name]
            rng.setstate((version, tuple(internal), gauss))
        new = []
        for symbol in self._log_prices:
            if symbol in state["log_prices"]:
                self._log_prices[symbol] = float(state["log_prices"][symbol])
                self._shocks[symbol] = float(state["shocks"].get(symbol, 0.0))
            else:
                new.append(symbol)
        self._record.load(state["bars"])
        self.resumed_at = self._now
        self.note = f"resumed from its last prices ({format_ts(self._now)}, {path.name})"
        if new:
            self.note += f"; {', '.join(new)} start new"

    # the process ---------------------------------------------------------------------------

    def _advance(self, now: float, dt: float) -> None:
        if dt < 0 or not math.isfinite(dt):
            raise ValueError(f"dt must be a finite number of seconds >= 0, got {dt}")
        self._now = now
        rng = self._rng
        if rng.random() < 1.0 - math.exp(-dt / _REGIME_MEAN_S[self._regime]):
            self._regime = choose(rng.random(), _REGIME_NEXT[self._regime])
        market = rng.gauss(0.0, 1.0)
        crypto = rng.gauss(0.0, 1.0)
        vix_own = rng.gauss(0.0, 1.0)

        # Exact Ornstein-Uhlenbeck step on log-VIX, valid for any dt.
        decay = math.exp(-_VIX_KAPPA * dt)
        target = math.log(REGIME_LEVELS[self._regime])
        noise_sd = _VIX_LOG_SD * math.sqrt(1.0 - decay * decay)
        vix_shock = _VIX_MARKET_CORR * market + math.sqrt(1 - _VIX_MARKET_CORR**2) * vix_own
        log_vix = target + (math.log(self._vix) - target) * decay + noise_sd * vix_shock
        self._vix = min(max(math.exp(log_vix), 8.0), 90.0)

        vol_scale = self._vix / _VIX_REFERENCE
        for symbol in self._log_prices:
            p = self._profiles[symbol]
            own = rng.gauss(0.0, 1.0)
            own_weight = math.sqrt(max(0.0, 1.0 - p.market_corr**2 - p.crypto_corr**2))
            z = p.market_corr * market + p.crypto_corr * crypto + own_weight * own
            sigma = p.annual_vol * vol_scale
            years = dt / p.year_s
            self._log_prices[symbol] += -0.5 * sigma * sigma * years + sigma * math.sqrt(years) * z
            self._shocks[symbol] = z
        for symbol, spec in self._options.items():
            self._shocks[symbol] = self._shocks[spec.underlying] * (1 if spec.is_call else -1)

    def _fair(self, symbol: str) -> float:
        spec = self._options.get(symbol)
        if spec is None:
            return math.exp(self._log_prices[symbol])
        years = max(spec.expiry_ts - self._now, 0.0) / CALENDAR_YEAR_S
        spot = math.exp(self._log_prices[spec.underlying])
        value = black_scholes(spot, spec.strike, years, self._vix / 100.0, spec.is_call)
        return max(value, _OPTION_MIN_MID)

    # microstructure ------------------------------------------------------------------------

    def _touch(self, symbol: str) -> tuple[int, int]:
        """Best bid and ask in ticks; the spread widens with the VIX."""
        tick = self._instruments[symbol].tick_size
        profile = self._profiles[symbol]
        mid = self._fair(symbol)
        wanted = mid * profile.spread_bps * 1e-4 * self._vix / _VIX_REFERENCE
        spread = max(1, math.ceil(wanted / tick - 1e-9))
        bid_n = max(1, round(mid / tick - spread / 2))
        return bid_n, bid_n + spread

    def _trades(
        self, symbol: str, bid_n: int, ask_n: int, now: float, dt: float
    ) -> list[TradeTick]:
        rng = self._trade_rng
        instrument = self._instruments[symbol]
        profile = self._profiles[symbol]
        count = poisson(rng, profile.trade_rate * dt, _MAX_TRADES_PER_STEP)
        # Takers lean the way the price just moved.
        p_buy = 0.5 + 0.15 * math.tanh(self._shocks.get(symbol, 0.0))
        trades = []
        for _ in range(count):
            side = Side.BUY if rng.random() < p_buy else Side.SELL
            size = profile.trade_size * rng.lognormvariate(0.0, 0.8)
            trades.append(
                TradeTick(
                    symbol=symbol,
                    price=price(ask_n if side is Side.BUY else bid_n, instrument.tick_size),
                    size=lots(size, instrument.lot_size),
                    aggressor=side,
                    ts=now,
                )
            )
        return trades

    def _book(self, symbol: str, bid_n: int, ask_n: int, now: float) -> OrderBook:
        rng = self._book_rng
        instrument = self._instruments[symbol]
        profile = self._profiles[symbol]
        vol_scale = self._vix / _VIX_REFERENCE
        step = max(1, round(profile.level_ticks * vol_scale))
        # Never let the bid ladder reach zero on a cheap instrument.
        step = max(1, min(step, (bid_n - 1) // (_BOOK_DEPTH - 1)))
        # Liquidity thins out when volatility rises.
        base = profile.level_size / math.sqrt(vol_scale)

        def side(start: int, direction: int) -> tuple[BookLevel, ...]:
            levels = []
            for i in range(_BOOK_DEPTH):
                size = base * (1.0 + 0.4 * i) * rng.lognormvariate(0.0, 0.35)
                levels.append(
                    BookLevel(
                        price=price(start + direction * i * step, instrument.tick_size),
                        size=lots(size, instrument.lot_size),
                    )
                )
            return tuple(levels)

        return OrderBook(symbol=symbol, bids=side(bid_n, -1), asks=side(ask_n, 1), ts=now)


def _rng_state(rng: random.Random) -> list[Any]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]
