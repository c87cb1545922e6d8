"""The pre-trade gateway: every order, from any source, passes these checks in a fixed order."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.models import OrderRequest, OrderType, Quote, TradingState

TRADING_HALTED = "TRADING_HALTED"
REDUCING_ONLY = "REDUCING_ONLY"
ENTRIES_PAUSED = "ENTRIES_PAUSED"
REDUCE_ONLY_VIOLATION = "REDUCE_ONLY_VIOLATION"
INVALID_ORDER = "INVALID_ORDER"
MAX_QTY = "MAX_QTY"
NO_QUOTE = "NO_QUOTE"
STALE_QUOTE = "STALE_QUOTE"
MAX_NOTIONAL = "MAX_NOTIONAL"
PRICE_COLLAR = "PRICE_COLLAR"
MAX_POSITIONS = "MAX_POSITIONS"
ORDER_RATE = "ORDER_RATE"
DAILY_LOSS_BUDGET = "DAILY_LOSS_BUDGET"

CHECK_CODES: tuple[str, ...] = (
    TRADING_HALTED,
    REDUCING_ONLY,
    ENTRIES_PAUSED,
    REDUCE_ONLY_VIOLATION,
    INVALID_ORDER,
    MAX_QTY,
    NO_QUOTE,
    STALE_QUOTE,
    MAX_NOTIONAL,
    PRICE_COLLAR,
    MAX_POSITIONS,
    ORDER_RATE,
    DAILY_LOSS_BUDGET,
)

# Floats like 3 * 166.6666 land a hair past a limit the operator meant as "exactly at".
_REL_TOL = 1e-9


class _LimitSettings(Protocol):
    max_order_qty: float
    max_notional: float
    max_positions: int
    price_collar_pct: float
    stale_quote_s: float
    order_rate_max: int
    order_rate_window_s: float
    daily_loss_limit: float


@dataclass(frozen=True)
class Limits:
    max_order_qty: float
    max_notional: float
    max_positions: int
    price_collar_pct: float
    stale_quote_s: float
    order_rate_max: int
    order_rate_window_s: float
    daily_loss_limit: float

    @classmethod
    def from_settings(cls, settings: _LimitSettings) -> Limits:
        return cls(
            max_order_qty=settings.max_order_qty,
            max_notional=settings.max_notional,
            max_positions=settings.max_positions,
            price_collar_pct=settings.price_collar_pct,
            stale_quote_s=settings.stale_quote_s,
            order_rate_max=settings.order_rate_max,
            order_rate_window_s=settings.order_rate_window_s,
            daily_loss_limit=settings.daily_loss_limit,
        )


@dataclass(frozen=True)
class PreTradeContext:
    now: float
    trading_state: TradingState
    entries_paused: bool
    quote: Quote | None
    position_qty: float  # signed qty held in the order's symbol
    open_positions: int
    recent_order_times: Sequence[float]
    daily_pnl: float  # session P&L, realized + unrealized; negative is a loss
    multiplier: float = 1.0


@dataclass(frozen=True)
class Denial:
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def _usd(value: float) -> str:
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def _exceeds(value: float, limit: float) -> bool:
    if math.isnan(value) or math.isnan(limit):
        return True  # an unknown number is never proof of being within a limit
    return value > limit + abs(limit) * _REL_TOL


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def is_reducing(req: OrderRequest, position_qty: float) -> bool:
    """True when the order only shrinks an existing position (never flips or opens one)."""
    if position_qty == 0 or not math.isfinite(position_qty) or not _positive(req.qty):
        return False
    opposes = (position_qty > 0) != (req.side.sign > 0)
    return opposes and not _exceeds(req.qty, abs(position_qty))


def _invalid(req: OrderRequest) -> str | None:
    if not _positive(req.qty):
        return f"quantity {req.qty} must be a positive number"
    for name in ("limit_price", "stop_price"):
        price = getattr(req, name)
        if price is not None and not _positive(price):
            return f"{name} {price} must be a positive number"
    if req.type is OrderType.LIMIT and req.limit_price is None:
        return "a limit order needs a limit_price"
    if req.type is OrderType.STOP and req.stop_price is None:
        return "a stop order needs a stop_price"
    return None


def _reference_price(req: OrderRequest, quote: Quote) -> float:
    if req.type is OrderType.LIMIT and req.limit_price is not None:
        return req.limit_price
    if req.type is OrderType.STOP and req.stop_price is not None:
        return req.stop_price
    # A market order crosses the spread: a buy pays the ask, a sell gets the bid.
    return quote.ask if req.side.sign > 0 else quote.bid


def review_order(req: OrderRequest, ctx: PreTradeContext, limits: Limits) -> Denial | None:
    """The first failing check as a Denial, or None when the order may go to the broker."""
    reducing = is_reducing(req, ctx.position_qty)
    side = req.side.value

    if ctx.trading_state is TradingState.HALTED:
        return Denial(TRADING_HALTED, "trading is HALTED: no new orders")
    if ctx.trading_state is TradingState.REDUCING and not reducing:
        return Denial(
            REDUCING_ONLY,
            f"trading is REDUCING: only orders that shrink a position are accepted "
            f"({side} {req.qty:g} {req.symbol} against a position of {ctx.position_qty:g})",
        )
    if ctx.entries_paused and not reducing:
        return Denial(ENTRIES_PAUSED, "entries are paused: only orders that reduce a position")
    if req.reduce_only and not reducing:
        return Denial(
            REDUCE_ONLY_VIOLATION,
            f"reduce-only {side} {req.qty:g} {req.symbol} would not reduce "
            f"the position of {ctx.position_qty:g}",
        )
    problem = _invalid(req)
    if problem is not None:
        return Denial(INVALID_ORDER, problem)
    if _exceeds(req.qty, limits.max_order_qty):
        return Denial(MAX_QTY, f"quantity {req.qty:g} exceeds the {limits.max_order_qty:g} limit")

    quote = ctx.quote
    if (
        quote is None
        or quote.symbol != req.symbol
        or not _positive(quote.bid)
        or not _positive(quote.ask)
    ):
        return Denial(NO_QUOTE, f"no usable quote for {req.symbol}")
    age = ctx.now - quote.ts
    if _exceeds(age, limits.stale_quote_s):
        return Denial(
            STALE_QUOTE,
            f"quote for {req.symbol} is {age:.1f}s old (limit {limits.stale_quote_s:g}s)",
        )

    if not reducing:
        notional = req.qty * _reference_price(req, quote) * ctx.multiplier
        if _exceeds(notional, limits.max_notional):
            return Denial(
                MAX_NOTIONAL,
                f"notional {_usd(notional)} exceeds the {_usd(limits.max_notional)} limit",
            )

    mid = quote.mid
    for price in (req.limit_price, req.stop_price):
        if price is None:
            continue
        distance_pct = abs(price - mid) / mid * 100
        if _exceeds(distance_pct, limits.price_collar_pct):
            return Denial(
                PRICE_COLLAR,
                f"price {price:g} is {distance_pct:.2f}% from the mid {mid:g} "
                f"(collar {limits.price_collar_pct:g}%)",
            )

    if not reducing and ctx.position_qty == 0 and ctx.open_positions + 1 > limits.max_positions:
        return Denial(
            MAX_POSITIONS,
            f"a new position in {req.symbol} would make {ctx.open_positions + 1} open "
            f"(limit {limits.max_positions})",
        )

    window_start = ctx.now - limits.order_rate_window_s
    recent = sum(1 for t in ctx.recent_order_times if t > window_start)
    if recent >= limits.order_rate_max:
        return Denial(
            ORDER_RATE,
            f"{recent} orders in the last {limits.order_rate_window_s:g}s "
            f"(limit {limits.order_rate_max})",
        )

    loss = -ctx.daily_pnl
    if not reducing and (math.isnan(loss) or loss >= limits.daily_loss_limit):
        return Denial(
            DAILY_LOSS_BUDGET,
            f"session loss {_usd(loss)} has used the {_usd(limits.daily_loss_limit)} "
            f"daily loss budget",
        )
    return None
