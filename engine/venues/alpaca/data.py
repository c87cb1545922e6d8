"""Alpaca market data over REST: the instruments VIGIL_SYMBOLS names and the bars for the charts.

Instruments are derived from the symbol's notation, not fetched: `SPY` is a US stock (a cent
tick, whole shares: Alpaca takes fractional quantities only on market day orders), `BTC/USD`
a crypto pair (a 0.000001 tick for sub-dollar coins, lots of 0.0001). Options are refused:
Alpaca's options data stream is not wired to this feed.

History is each symbol's last minute bars before `end` (Alpaca's /v2/stocks/bars or
/v1beta3/crypto/us/bars, newest first, up to `seconds / 60` of them within five days, so a
chart opened on a weekend shows the last session). Symbols are fetched in parallel, each
request with the HTTP timeout and no SDK retries (alpaca-py would sleep 3 s per 429), and
the whole load is bounded by one deadline: the engine thread waits for it, and a kill switch
must never wait long behind a chart.
"""

from __future__ import annotations

import math
import queue
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.data.enums import DataFeed
from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient
from alpaca.data.requests import CryptoBarsRequest, StockBarsRequest
from alpaca.data.timeframe import TimeFrame

from engine.models import AssetClass, BarEvent, Instrument
from engine.settings_group import SettingsError
from engine.venues.alpaca.settings import AlpacaSettings
from engine.venues.base import VenueError
from engine.venues.net import TimeoutSession

DEFAULT_SYMBOLS = ("SPY", "QQQ", "BTC/USD", "ETH/USD")
LOOKBACK_S = 5 * 86_400.0  # covers a long weekend: the chart shows the last session
_STOCK = re.compile(r"^[A-Z][A-Z0-9]{0,9}([.][A-Z]{1,2})?$")  # SPY, BRK.B
_CRYPTO = re.compile(r"^[A-Z0-9]{2,10}/[A-Z]{3,5}$")  # BTC/USD, ETH/USDT


def is_crypto(symbol: str) -> bool:
    return "/" in symbol


def alpaca_instruments(symbols: Sequence[str]) -> dict[str, Instrument]:
    """The instruments VIGIL_SYMBOLS names (a default set when empty), in Alpaca's notation.

    Raises SettingsError naming VIGIL_SYMBOLS and the first symbol it cannot serve.
    """
    instruments: dict[str, Instrument] = {}
    for symbol in symbols or DEFAULT_SYMBOLS:
        if _CRYPTO.match(symbol):
            instruments[symbol] = Instrument(
                symbol, AssetClass.CRYPTO, tick_size=0.000001, lot_size=0.0001
            )
        elif _STOCK.match(symbol):
            instruments[symbol] = Instrument(symbol, AssetClass.EQUITY, tick_size=0.01)
        else:
            raise SettingsError(
                f"VIGIL_SYMBOLS: the Alpaca feed cannot serve {symbol!r} (stocks as SPY, "
                "crypto pairs as BTC/USD; options data is not available from this feed)"
            )
    return instruments


def parse_time(value: Any) -> float:
    """An Alpaca RFC 3339 time ("2024-01-03T14:30:00Z") as epoch seconds."""
    if not isinstance(value, str):
        raise ValueError(f"time {value!r} is not a string")
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def number(value: Any, name: str, *, positive: bool = True) -> float:
    """A finite number from a provider payload (positive unless told otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} {value!r} is not a number")
    result = float(value)
    if not math.isfinite(result) or result < 0 or (positive and result == 0):
        raise ValueError(f"{name} {value!r} is out of range")
    return result


def bar_from_rest(symbol: str, raw: Any, end: float) -> BarEvent:
    """One REST bar as a BarEvent; a minute not over at `end` is marked open (`closed` False)."""
    if not isinstance(raw, dict):
        raise ValueError("a bar is not an object")
    ts = parse_time(raw.get("t"))
    o, h = number(raw.get("o"), "open"), number(raw.get("h"), "high")
    low, c = number(raw.get("l"), "low"), number(raw.get("c"), "close")
    if not low <= min(o, c) <= max(o, c) <= h:
        raise ValueError(f"bar at {raw.get('t')} has inconsistent prices")
    volume = number(raw.get("v", 0), "volume", positive=False)
    return BarEvent(symbol, ts, o, h, low, c, volume, closed=ts + 60 <= end)


def _client_error(exc: Exception) -> str:
    if isinstance(exc, APIError):
        status = exc.status_code
        try:
            detail = exc.message
        except Exception:  # noqa: BLE001 - the body was not Alpaca's JSON
            detail = str(exc)[:120]
        return f"HTTP {status}: {detail}" if status else str(exc)[:160]
    return f"{type(exc).__name__}: {str(exc)[:160]}"


class BarHistory:
    """Fetches minute bars with alpaca-py's historical clients, every call bounded in time."""

    def __init__(self, settings: AlpacaSettings, *, deadline_s: float | None = None) -> None:
        base = settings.data_url.rstrip("/")
        keys = {"api_key": settings.api_key, "secret_key": settings.secret_key}
        self._stocks = StockHistoricalDataClient(**keys, raw_data=True, url_override=base)
        self._crypto = CryptoHistoricalDataClient(**keys, raw_data=True, url_override=base)
        for client in (self._stocks, self._crypto):
            # alpaca-py sets no timeout and retries a 429 after sleeping 3 s, three times.
            client._session = TimeoutSession(settings.http_timeout_s)
            client._retry = 0
        self._feed = DataFeed(settings.data_feed)
        self.deadline_s = deadline_s if deadline_s is not None else settings.history_timeout_s

    def bars(self, symbol: str, end: float, seconds: float) -> list[BarEvent]:
        """The last bars of `symbol` before `end`, oldest first; raises VenueError."""
        limit = max(1, math.ceil(seconds / 60))
        window = {
            "symbol_or_symbols": [symbol],
            "timeframe": TimeFrame.Minute,
            "start": datetime.fromtimestamp(end - max(LOOKBACK_S, seconds), UTC),
            # Alpaca's end is inclusive; the bar opening at `end` is not history yet.
            "end": datetime.fromtimestamp(end - 0.001, UTC),
            "limit": limit,
            "sort": Sort.DESC,
        }
        try:
            if is_crypto(symbol):
                raw = self._crypto.get_crypto_bars(CryptoBarsRequest(**window))
            else:
                raw = self._stocks.get_stock_bars(StockBarsRequest(**window, feed=self._feed))
        except Exception as exc:  # noqa: BLE001 - the SDK raises whatever requests raised
            raise VenueError(f"{symbol}: {_client_error(exc)}") from None
        rows = raw.get(symbol, []) if isinstance(raw, dict) else []
        bars = []
        for row in rows if isinstance(rows, list) else []:
            try:
                bars.append(bar_from_rest(symbol, row, end))
            except ValueError:
                continue  # one malformed bar is skipped, not the chart
        bars.sort(key=lambda bar: bar.ts)
        return [bar for bar in bars if bar.ts < end]

    def load(
        self, symbols: Sequence[str], end: float, seconds: float
    ) -> tuple[list[BarEvent], list[str]]:
        """Every symbol's bars fetched in parallel within the deadline: (bars oldest first,
        one line per symbol that failed or did not answer in time)."""
        return load_parallel(symbols, lambda s: self.bars(s, end, seconds), self.deadline_s)


def load_parallel(
    symbols: Sequence[str], fetch: Callable[[str], list[BarEvent]], deadline_s: float
) -> tuple[list[BarEvent], list[str]]:
    """`fetch` each symbol on its own daemon thread; what did not finish by the deadline is
    named as a problem (its thread ends on its own HTTP timeout, its answer is dropped)."""
    done: queue.Queue[tuple[str, list[BarEvent] | None, str]] = queue.Queue()

    def one(symbol: str) -> None:
        try:
            done.put((symbol, fetch(symbol), ""))
        except VenueError as exc:
            done.put((symbol, None, str(exc)))
        except Exception as exc:  # noqa: BLE001 - reported, never fatal
            done.put((symbol, None, f"{symbol}: {type(exc).__name__}: {exc}"))

    for symbol in symbols:
        threading.Thread(target=one, args=(symbol,), name="vigil-alpaca-bars", daemon=True).start()
    bars: list[BarEvent] = []
    problems: list[str] = []
    pending = set(symbols)
    stop_at = time.monotonic() + deadline_s
    while pending:
        try:
            symbol, got, problem = done.get(timeout=max(stop_at - time.monotonic(), 0.0))
        except queue.Empty:
            break
        pending.discard(symbol)
        if got is None:
            problems.append(problem)
        else:
            bars.extend(got)
    problems.extend(f"{s}: no answer within {deadline_s:g} s" for s in sorted(pending))
    bars.sort(key=lambda bar: bar.ts)
    return bars, problems
