"""The pre-trade gateway: every order, from any source, passes these checks in a fixed order."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from engine.models import OrderRequest, OrderType, Quote, Side, TradingState
from engine.safety.settings import LimitSettings

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
STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
WRONG_SIDE = "WRONG_SIDE"
BRACKET_ON_REDUCING = "BRACKET_ON_REDUCING"
MARKET_CLOSED = "MARKET_CLOSED"

CHECK_CODES: tuple[str, ...] = (
    TRADING_HALTED,
    STORE_UNAVAILABLE,
    REDUCING_ONLY,
    ENTRIES_PAUSED,
    REDUCE_ONLY_VIOLATION,
    INVALID_ORDER,
    BRACKET_ON_REDUCING,
    MARKET_CLOSED,
    MAX_QTY,
    NO_QUOTE,
    STALE_QUOTE,
    MAX_NOTIONAL,
    WRONG_SIDE,
    PRICE_COLLAR,
    MAX_POSITIONS,
    ORDER_RATE,
    DAILY_LOSS_BUDGET,
)

# Floats like 3 * 166.6666 land a hair past a limit the operator meant as "exactly at".
_REL_TOL = 1e-9


@dataclass(frozen=True)
class Limits:
    """The limits in force: VIGIL_* at start, changed at run time by the `set_limit` command."""

    max_order_qty: float
    max_notional: float
    max_positions: int
    price_collar_pct: float
    stale_quote_s: float
    order_rate_max: int
    order_rate_window_s: float
    daily_loss_limit: float

    @classmethod
    def from_settings(cls, limits: LimitSettings) -> Limits:
        """The limits as configured; the same names as LimitSettings' fields."""
        return cls(**limits.model_dump())


@dataclass(frozen=True)
class PreTradeContext:
    now: float
    trading_state: TradingState
    entries_paused: bool
    quote: Quote | None
    # Signed qty held in the order's symbol, counting orders in flight (sent, not yet filled):
    # a fill that has not arrived yet is exposure all the same.
    position_qty: float
    open_positions: int  # positions held plus symbols with only an entry in flight
    recent_order_times: Sequence[float]
    daily_pnl: float  # session P&L, realized + unrealized; negative is a loss
    multiplier: float = 1.0
    lot_size: float = 0.0  # 0: unknown, not checked
    # False while the store refuses writes: nothing new may be booked that cannot be kept.
    store_writable: bool = True
    # Notional of the entries in flight in this symbol: the notional limit covers them too.
    pending_notional: float = 0.0
    # Why the venue would queue a market order instead of filling it (its market is closed
    # and the user has not allowed that); empty: it would fill now.
    market_closed: str = ""


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


def _invalid(req: OrderRequest, lot_size: float) -> str | None:
    if not _positive(req.qty):
        return f"quantity {req.qty} must be a positive number"
    for name in ("limit_price", "stop_price", "stop_loss", "take_profit"):
        price = getattr(req, name)
        if price is not None and not _positive(price):
            return f"{name} {price} must be a positive number"
    if req.type is OrderType.LIMIT and req.limit_price is None:
        return "a limit order needs a limit_price"
    if req.type is OrderType.STOP and req.stop_price is None:
        return "a stop order needs a stop_price"
    # The broker would refuse it too, but as its own fault: a typo is not a venue error.
    if lot_size > 0 and abs(req.qty - round(req.qty / lot_size) * lot_size) > 1e-9:
        return f"quantity {req.qty:g} must be a multiple of the lot size {lot_size:g}"
    return None


def _has_bracket(req: OrderRequest) -> bool:
    return req.stop_loss is not None or req.take_profit is not None


def _wrong_side(req: OrderRequest, quote: Quote) -> str | None:
    """Why a stop or a bracket price would fire at once or protect nothing; None if fine."""
    buying = req.side is Side.BUY
    touch = quote.ask if buying else quote.bid  # what this order trades against
    stop = req.stop_price
    if req.type is OrderType.STOP and stop is not None and (stop - touch) * req.side.sign <= 0:
        return (
            f"{req.side.value} stop {stop:g} is already through the "
            f"{'ask' if buying else 'bid'} {touch:g}: it would trigger at once"
        )
    if not _has_bracket(req):
        return None
    # Where the entry fills, and the touch its exits then trade against: the other side of
    # the book for an entry that fills now, about the entry price for one that rests.
    if req.type is OrderType.LIMIT and req.limit_price is not None:
        fills_now = (req.limit_price - touch) * req.side.sign >= 0
        entry = touch if fills_now else req.limit_price
    elif req.type is OrderType.STOP and req.stop_price is not None:
        fills_now, entry = False, req.stop_price
    else:
        fills_now, entry = True, touch
    exit_touch = (quote.bid if buying else quote.ask) if fills_now else entry
    return protective_problem(req.side, req.stop_loss, req.take_profit, exit_touch, entry)


def protective_problem(
    entry_side: Side,
    stop_loss: float | None,
    take_profit: float | None,
    exit_touch: float,
    entry: float | None = None,
) -> str | None:
    """Check the stop-loss and take-profit that protect a position entered on `entry_side`.

    The stop must sit on the losing side of the market its exit trades against
    (`exit_touch`) and of the entry, if given; the take-profit on the winning side of both.
    Otherwise the stop fires at once, or the "profit" is a loss the operator did not mean.
    """
    refs = [exit_touch] if entry is None else [exit_touch, entry]
    where = f"the market {exit_touch:g}" + ("" if entry is None else f" and the entry {entry:g}")
    if entry_side is Side.BUY:
        if stop_loss is not None and stop_loss >= min(refs):
            return f"stop-loss {stop_loss:g} of a long must be below {where}"
        if take_profit is not None and take_profit <= max(refs):
            return f"take-profit {take_profit:g} of a long must be above {where}"
    else:
        if stop_loss is not None and stop_loss <= max(refs):
            return f"stop-loss {stop_loss:g} of a short must be above {where}"
        if take_profit is not None and take_profit >= min(refs):
            return f"take-profit {take_profit:g} of a short must be below {where}"
    return None


def review_protective_move(
    req: OrderRequest, entry_side: Side, ctx: PreTradeContext, limits: Limits
) -> Denial | None:
    """A position's stop-loss or take-profit order at a new price (`modify_stops`).

    Reviewed as a new order would be (state, finite price, quote, collar, a stop not already
    through the market), and a take-profit must not be marketable at once either.
    """
    denial = review_order(req, ctx, limits)
    if denial is not None or ctx.quote is None:
        return denial
    exit_touch = ctx.quote.bid if entry_side is Side.BUY else ctx.quote.ask
    is_stop = req.type is OrderType.STOP
    problem = protective_problem(
        entry_side,
        req.stop_price if is_stop else None,
        None if is_stop else req.limit_price,
        exit_touch,
    )
    return Denial(WRONG_SIDE, problem) if problem is not None else None


def collar_problem(price: float, mid: float, collar_pct: float) -> str | None:
    distance_pct = abs(price - mid) / mid * 100
    if _exceeds(distance_pct, collar_pct):
        return (
            f"price {price:g} is {distance_pct:.2f}% from the mid {mid:g} (collar {collar_pct:g}%)"
        )
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
    if not ctx.store_writable and not reducing:
        return Denial(
            STORE_UNAVAILABLE,
            "the store cannot be written: no new risk until it can (orders that reduce a "
            "position are still accepted)",
        )
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
    problem = _invalid(req, ctx.lot_size)
    if problem is not None:
        return Denial(INVALID_ORDER, problem)
    if _has_bracket(req) and ctx.position_qty * req.side.sign < 0:
        # Its stop-loss and take-profit would be sized for a position it does not open, on
        # the side that adds to the existing one.
        return Denial(
            BRACKET_ON_REDUCING,
            f"a stop-loss/take-profit needs an order that opens or adds to a position; this "
            f"{side} {req.qty:g} {req.symbol} reduces the position of {ctx.position_qty:g} "
            f"(close or reduce without a bracket, then open anew)",
        )
    if req.type is OrderType.MARKET and ctx.market_closed:
        return Denial(MARKET_CLOSED, ctx.market_closed)
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
        if _exceeds(notional + ctx.pending_notional, limits.max_notional):
            if ctx.pending_notional > 0:
                return Denial(
                    MAX_NOTIONAL,
                    f"notional {_usd(notional)} plus {_usd(ctx.pending_notional)} in flight "
                    f"exceeds the {_usd(limits.max_notional)} limit",
                )
            return Denial(
                MAX_NOTIONAL,
                f"notional {_usd(notional)} exceeds the {_usd(limits.max_notional)} limit",
            )

    wrong = _wrong_side(req, quote)
    if wrong is not None:
        return Denial(WRONG_SIDE, wrong)
    for price in (req.limit_price, req.stop_price, req.stop_loss, req.take_profit):
        if price is None:
            continue
        outside = collar_problem(price, quote.mid, limits.price_collar_pct)
        if outside is not None:
            return Denial(PRICE_COLLAR, outside)

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
