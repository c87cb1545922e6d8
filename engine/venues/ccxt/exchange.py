"""One configured ccxt exchange (testnet unless live, URLs overridable) and its market rules.

The rules are what the exchange says at load_markets: price tick, amount step, minimum amount
and minimum notional. Vigil's symbols are the exchange's market ids (BTCUSDT); a bare base
asset (BTC) or a ccxt symbol (BTC/USDT, BTC/USDT:USDT) names the same market.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlsplit

import ccxt

from engine.models import AssetClass, Instrument
from engine.venues.base import VenueError
from engine.venues.ccxt.settings import CcxtSettings

BELOW_MINIMUM = "BELOW_EXCHANGE_MINIMUM"


def make_exchange(settings: CcxtSettings, live: bool) -> Any:
    """A sync ccxt client for the configured exchange and market type, on its testnet unless
    `live`; every REST URL rewritten to VIGIL_CCXT_API_URL when that is set."""
    klass = getattr(ccxt, settings.exchange)
    swap = settings.market == "swap"
    if settings.exchange == "binance":
        types = ["linear"] if swap else ["spot"]
        options: dict[str, Any] = {
            "defaultType": "swap" if swap else "spot",
            "fetchMarkets": {"types": types},
            "fetchCurrencies": False,
            # positionRisk v2 carries the leverage; v3 does not.
            "fetchPositionsRisk": {"useV2": True},
        }
        if swap:  # recent trades weigh 5 on futures, aggregate trades 20
            options["fetchTradesMethod"] = "fapiPublicGetTrades"
    else:
        options = {
            "defaultType": "swap" if swap else "spot",
            "fetchMarkets": {"types": ["linear"] if swap else ["spot"]},
        }
    # Signed requests carry a timestamp the exchange checks against its clock: ccxt measures
    # the difference when it loads the markets, so a drifting local clock is not a refusal.
    options["adjustForTimeDifference"] = True
    exchange = klass(
        {
            "apiKey": settings.api_key,
            "secret": settings.secret,
            "enableRateLimit": True,
            "timeout": int(settings.http_timeout_s * 1000),
            "options": options,
        }
    )
    if not live:
        exchange.set_sandbox_mode(True)
    if settings.api_url:
        override_urls(exchange, settings.api_url)
    return exchange


def override_urls(exchange: Any, base: str) -> None:
    """Replace scheme and host of every URL in urls["api"], keeping each path."""
    base = base.rstrip("/")

    def rewrite(value: Any) -> Any:
        if isinstance(value, str):
            return base + urlsplit(value).path
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        return value

    exchange.urls["api"] = rewrite(exchange.urls["api"])


@dataclass(frozen=True)
class MarketRules:
    """One market as Vigil trades it: its Vigil symbol and the exchange's rules."""

    vigil: str
    ccxt_symbol: str
    market_id: str
    base: str
    quote: str
    tick: float
    step: float
    min_qty: float
    min_notional: float
    contract_size: float = 1.0

    def round_qty(self, qty: float) -> float:
        """Down to the amount step: never more than was asked for."""
        return _to_step(qty, self.step, ROUND_DOWN)

    def round_price(self, price: float) -> float:
        return _to_step(price, self.tick, ROUND_HALF_UP)

    def minimum_problem(self, qty: float, price: float | None) -> str | None:
        """Why the exchange would refuse this size; None when it meets the minimums."""
        if qty <= 0 or qty < self.min_qty - 1e-12:
            return (
                f"quantity {qty:g} is below {self.vigil}'s exchange minimum "
                f"{self.min_qty:g} (step {self.step:g})"
            )
        if price is not None and qty * price * self.contract_size < self.min_notional - 1e-9:
            return (
                f"notional {qty * price:,.2f} is below {self.vigil}'s exchange minimum "
                f"{self.min_notional:g} {self.quote}"
            )
        return None

    def instrument(self) -> Instrument:
        return Instrument(
            self.vigil,
            AssetClass.CRYPTO,
            multiplier=self.contract_size,
            tick_size=self.tick,
            lot_size=self.step,
        )


def _to_step(value: float, step: float, rounding: str) -> float:
    if step <= 0 or not math.isfinite(value):
        return value
    d_step = Decimal(repr(step))
    units = (Decimal(repr(value)) / d_step).quantize(Decimal(1), rounding=rounding)
    return float(units * d_step)


def resolve_markets(exchange: Any, symbols: list[str], market_type: str) -> dict[str, MarketRules]:
    """Vigil symbol -> rules, from the loaded markets; a symbol with no market raises."""
    found: dict[str, MarketRules] = {}
    markets = [m for m in exchange.markets.values() if m.get("type") == market_type]
    for symbol in symbols:
        market = _find(markets, symbol)
        if market is None:
            raise VenueError(f"{exchange.id} has no {market_type} market {symbol!r}")
        found[symbol] = _rules(symbol, market)
    return found


def _find(markets: list[dict[str, Any]], symbol: str) -> dict[str, Any] | None:
    wanted = symbol.upper()
    for key in ("id", "symbol"):
        for market in markets:
            if str(market.get(key, "")).upper() == wanted:
                return market
    bare = [m for m in markets if str(m.get("base", "")).upper() == wanted]
    usdt = [m for m in bare if m.get("quote") == "USDT"]
    return (usdt or bare or [None])[0]


def _rules(vigil: str, market: dict[str, Any]) -> MarketRules:
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    step = float(precision.get("amount") or 0.0)
    return MarketRules(
        vigil=vigil,
        ccxt_symbol=market["symbol"],
        market_id=market["id"],
        base=market["base"],
        quote=market["quote"],
        tick=float(precision.get("price") or 0.01),
        step=step,
        min_qty=float((limits.get("amount") or {}).get("min") or step or 0.0),
        min_notional=float((limits.get("cost") or {}).get("min") or 0.0),
        contract_size=float(market.get("contractSize") or 1.0),
    )
