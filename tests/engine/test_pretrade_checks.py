"""The pre-trade gateway: one row per check for pass and deny, in the documented order."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dashboard.settings import load_settings
from engine.clock import FakeClock
from engine.models import OrderRequest, OrderType, Quote, Side, TradingState
from engine.safety.checks import (
    CHECK_CODES,
    Limits,
    PreTradeContext,
    is_reducing,
    review_order,
)

NOW = FakeClock().time()
QUOTE = Quote("SPY", bid=99.0, ask=101.0, bid_size=5, ask_size=5, ts=NOW)  # mid 100
LIMITS = Limits(
    max_order_qty=100,
    max_notional=2020,
    max_positions=3,
    price_collar_pct=5.0,
    stale_quote_s=10.0,
    order_rate_max=5,
    order_rate_window_s=60.0,
    daily_loss_limit=500.0,
)
BASE = PreTradeContext(
    now=NOW,
    trading_state=TradingState.ACTIVE,
    entries_paused=False,
    quote=QUOTE,
    position_qty=0.0,
    open_positions=0,
    recent_order_times=(),
    daily_pnl=0.0,
)


def buy(qty: float = 1, **kw: Any) -> OrderRequest:
    return OrderRequest("SPY", Side.BUY, qty, **kw)


def sell(qty: float = 1, **kw: Any) -> OrderRequest:
    return OrderRequest("SPY", Side.SELL, qty, **kw)


def limit(side_fn, qty: float, price: float, **kw: Any) -> OrderRequest:
    return side_fn(qty, type=OrderType.LIMIT, limit_price=price, **kw)


def stop(side_fn, qty: float, price: float, **kw: Any) -> OrderRequest:
    return side_fn(qty, type=OrderType.STOP, stop_price=price, **kw)


HALTED = {"trading_state": TradingState.HALTED}
REDUCING = {"trading_state": TradingState.REDUCING}
LONG5 = {"position_qty": 5.0, "open_positions": 1}
SHORT3 = {"position_qty": -3.0, "open_positions": 1}

CASES: list[tuple[str, OrderRequest, dict[str, Any], str | None]] = [
    ("plain_market_buy_passes", buy(), {}, None),
    # trading state
    ("halted_denies_entry", buy(), HALTED, "TRADING_HALTED"),
    ("halted_denies_even_reducing", sell(2), {**HALTED, **LONG5}, "TRADING_HALTED"),
    ("halted_wins_over_stale_quote", buy(), {**HALTED, "quote": None}, "TRADING_HALTED"),
    ("reducing_denies_entry", buy(), REDUCING, "REDUCING_ONLY"),
    ("reducing_denies_adding", buy(2), {**REDUCING, **LONG5}, "REDUCING_ONLY"),
    ("reducing_denies_flip", sell(6), {**REDUCING, **LONG5}, "REDUCING_ONLY"),
    ("reducing_accepts_partial_sell", sell(2), {**REDUCING, **LONG5}, None),
    ("reducing_accepts_full_close", sell(5, reduce_only=True), {**REDUCING, **LONG5}, None),
    ("reducing_accepts_short_cover", buy(3), {**REDUCING, **SHORT3}, None),
    # entries paused
    ("paused_denies_entry", buy(), {"entries_paused": True}, "ENTRIES_PAUSED"),
    ("paused_denies_adding", buy(), {"entries_paused": True, **LONG5}, "ENTRIES_PAUSED"),
    ("paused_accepts_exit", sell(1), {"entries_paused": True, **LONG5}, None),
    # reduce_only flag
    ("reduce_only_without_position", buy(reduce_only=True), {}, "REDUCE_ONLY_VIOLATION"),
    ("reduce_only_too_big", sell(6, reduce_only=True), LONG5, "REDUCE_ONLY_VIOLATION"),
    ("reduce_only_same_side", buy(1, reduce_only=True), LONG5, "REDUCE_ONLY_VIOLATION"),
    ("reduce_only_that_reduces", sell(5, reduce_only=True), LONG5, None),
    # malformed orders
    ("zero_qty", buy(0), {}, "INVALID_ORDER"),
    ("negative_qty", buy(-1), {}, "INVALID_ORDER"),
    ("nan_qty", buy(math.nan), {}, "INVALID_ORDER"),
    ("limit_without_price", buy(1, type=OrderType.LIMIT), {}, "INVALID_ORDER"),
    ("stop_without_price", sell(1, type=OrderType.STOP), {}, "INVALID_ORDER"),
    ("negative_limit_price", limit(buy, 1, -100), {}, "INVALID_ORDER"),
    # max quantity
    ("qty_at_limit", sell(100), {"position_qty": 100.0, "open_positions": 1}, None),
    ("qty_above_limit", buy(100.5), {}, "MAX_QTY"),
    ("qty_limit_applies_to_exits", sell(150), {"position_qty": 200.0}, "MAX_QTY"),
    # quotes
    ("no_quote", buy(), {"quote": None}, "NO_QUOTE"),
    ("quote_for_another_symbol", buy(), {"quote": replace(QUOTE, symbol="QQQ")}, "NO_QUOTE"),
    ("quote_with_zero_bid", buy(), {"quote": replace(QUOTE, bid=0.0)}, "NO_QUOTE"),
    ("quote_exactly_stale_limit_old", buy(), {"quote": replace(QUOTE, ts=NOW - 10)}, None),
    ("quote_too_old", buy(), {"quote": replace(QUOTE, ts=NOW - 10.01)}, "STALE_QUOTE"),
    ("missing_quote_denies_exit", sell(1), {**LONG5, "quote": None}, "NO_QUOTE"),
    # max notional: market buys at the ask (101), sells at the bid (99)
    ("market_buy_notional_at_limit", buy(20), {}, None),
    ("market_buy_notional_above", buy(20.01), {}, "MAX_NOTIONAL"),
    ("market_sell_uses_bid", sell(20.4), {}, None),
    ("market_sell_above_at_bid", sell(20.41), {}, "MAX_NOTIONAL"),
    ("limit_uses_limit_price", limit(buy, 20, 102), {}, "MAX_NOTIONAL"),
    ("stop_uses_stop_price", stop(buy, 19.4, 104), {}, None),
    ("multiplier_counts", buy(1), {"multiplier": 100.0}, "MAX_NOTIONAL"),
    ("exit_exempt_from_notional", sell(30), {"position_qty": 30.0, "open_positions": 1}, None),
    # price collar against the mid (100), 5%
    ("limit_exactly_at_collar", limit(buy, 1, 105), {}, None),
    ("limit_above_collar", limit(buy, 1, 105.01), {}, "PRICE_COLLAR"),
    ("limit_below_collar", limit(sell, 1, 94.99), {}, "PRICE_COLLAR"),
    ("stop_at_collar", stop(sell, 1, 95), {}, None),
    ("stop_outside_collar", stop(sell, 1, 90), LONG5, "PRICE_COLLAR"),
    ("exit_not_exempt_from_collar", limit(sell, 1, 80), LONG5, "PRICE_COLLAR"),
    # open positions, limit 3
    ("third_position_allowed", buy(), {"open_positions": 2}, None),
    ("fourth_position_denied", buy(), {"open_positions": 3}, "MAX_POSITIONS"),
    ("adding_to_existing_allowed", buy(), {"position_qty": 1.0, "open_positions": 3}, None),
    ("exit_allowed_over_limit", sell(1), {"position_qty": 1.0, "open_positions": 5}, None),
    # order rate, 5 per 60 s
    ("four_recent_orders", buy(), {"recent_order_times": [NOW - i for i in range(4)]}, None),
    (
        "fifth_in_window_denies_sixth",
        buy(),
        {"recent_order_times": [NOW - i for i in range(5)]},
        "ORDER_RATE",
    ),
    (
        "order_exactly_window_old_left_out",
        buy(),
        {"recent_order_times": [NOW - 60, *[NOW - i for i in range(4)]]},
        None,
    ),
    (
        "rate_applies_to_exits",
        sell(1),
        {**LONG5, "recent_order_times": [NOW] * 5},
        "ORDER_RATE",
    ),
    # daily loss budget, 500
    ("loss_just_inside_budget", buy(), {"daily_pnl": -499.99}, None),
    ("loss_exactly_at_budget", buy(), {"daily_pnl": -500.0}, "DAILY_LOSS_BUDGET"),
    ("loss_beyond_budget", buy(), {"daily_pnl": -800.0}, "DAILY_LOSS_BUDGET"),
    ("profit_is_no_loss", buy(), {"daily_pnl": 900.0}, None),
    ("unknown_pnl_fails_closed", buy(), {"daily_pnl": math.nan}, "DAILY_LOSS_BUDGET"),
    ("exit_allowed_beyond_budget", sell(1), {**LONG5, "daily_pnl": -800.0}, None),
    # the store cannot be written: no new risk, exits still go
    ("unwritable_store_denies_entry", buy(), {"store_writable": False}, "STORE_UNAVAILABLE"),
    (
        "unwritable_store_denies_adding",
        buy(),
        {**LONG5, "store_writable": False},
        "STORE_UNAVAILABLE",
    ),
    ("unwritable_store_allows_exit", sell(2), {**LONG5, "store_writable": False}, None),
    (
        "unwritable_store_allows_close",
        sell(5, reduce_only=True),
        {**LONG5, "store_writable": False},
        None,
    ),
    ("halted_wins_over_unwritable", buy(), {**HALTED, "store_writable": False}, "TRADING_HALTED"),
    # stops already through the market would fire at once (bid 99, ask 101)
    ("buy_stop_below_ask", stop(buy, 1, 100), {}, "WRONG_SIDE"),
    ("buy_stop_at_ask", stop(buy, 1, 101), {}, "WRONG_SIDE"),
    ("sell_stop_above_bid", stop(sell, 1, 100), LONG5, "WRONG_SIDE"),
    ("buy_stop_above_ask", stop(buy, 1, 102), {}, None),
    # brackets: finite, the right side of the entry and the market, inside the collar
    ("bracket_ok", buy(1, stop_loss=97, take_profit=104), {}, None),
    ("bracket_nan_take_profit", buy(1, take_profit=math.nan), {}, "INVALID_ORDER"),
    ("bracket_inf_stop_loss", buy(1, stop_loss=math.inf), {}, "INVALID_ORDER"),
    ("bracket_absurd_take_profit", buy(1, take_profit=1e11), {}, "PRICE_COLLAR"),
    ("bracket_stop_loss_outside_collar", buy(1, stop_loss=90), {}, "PRICE_COLLAR"),
    ("bracket_buy_stop_loss_above_bid", buy(1, stop_loss=100), {}, "WRONG_SIDE"),
    ("bracket_buy_take_profit_below_ask", buy(1, take_profit=100.5), {}, "WRONG_SIDE"),
    ("bracket_sell_stop_loss_below_ask", sell(1, stop_loss=100), {}, "WRONG_SIDE"),
    ("bracket_sell_take_profit_above_bid", sell(1, take_profit=99.5), {}, "WRONG_SIDE"),
    ("bracket_sell_ok", sell(1, stop_loss=103, take_profit=96), {}, None),
    ("bracket_resting_limit_uses_its_price", limit(buy, 1, 97, stop_loss=98), {}, "WRONG_SIDE"),
    ("bracket_resting_limit_ok", limit(buy, 1, 97, stop_loss=96, take_profit=98), {}, None),
    ("bracket_buy_stop_entry_ok", stop(buy, 1, 103, stop_loss=102, take_profit=104), {}, None),
    ("bracket_adding_to_long_ok", buy(1, stop_loss=97), LONG5, None),
    (
        "bracket_on_reducing_buy",
        buy(1, stop_loss=103, take_profit=96),
        SHORT3,
        "BRACKET_ON_REDUCING",
    ),
    ("bracket_on_flipping_sell", sell(8, stop_loss=103), LONG5, "BRACKET_ON_REDUCING"),
    # a venue whose market is closed would queue a market order: denied; a limit rests
    ("market_order_while_closed", buy(), {"market_closed": "market closed"}, "MARKET_CLOSED"),
    ("limit_order_while_closed", limit(buy, 1, 100), {"market_closed": "market closed"}, None),
    # lot size, when known
    ("lot_size_multiple", buy(0.3), {"lot_size": 0.1}, None),
    ("lot_size_violated", buy(0.25), {"lot_size": 0.1}, "INVALID_ORDER"),
]


@pytest.mark.parametrize(
    ("req", "changes", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_review_order_gives_the_expected_denial(
    req: OrderRequest, changes: dict[str, Any], expected: str | None
):
    denial = review_order(req, replace(BASE, **changes), LIMITS)
    assert (denial.code if denial else None) == expected
    if denial is not None:
        assert denial.message


def test_check_codes_each_exercised_by_a_denial_in_the_table():
    denied = {code for *_, code in CASES if code is not None}
    assert denied == set(CHECK_CODES)
    assert len(CHECK_CODES) == len(set(CHECK_CODES))


def test_denial_message_names_the_numbers():
    denial = review_order(limit(buy, 20, 102), BASE, LIMITS)
    assert denial is not None
    assert denial.message == "notional $2,040.00 exceeds the $2,020.00 limit"
    assert denial.to_dict() == {"code": "MAX_NOTIONAL", "message": denial.message}
    rate = review_order(buy(), replace(BASE, recent_order_times=[NOW] * 5), LIMITS)
    assert rate is not None and "5 orders" in rate.message and "60s" in rate.message


@pytest.mark.parametrize(
    ("req", "position", "expected"),
    [
        (sell(5), 5.0, True),
        (sell(2), 5.0, True),
        (sell(5.5), 5.0, False),
        (buy(1), 5.0, False),
        (buy(3), -3.0, True),
        (buy(4), -3.0, False),
        (sell(3), -3.0, False),
        (sell(1), 0.0, False),
        (sell(0), 5.0, False),
        (sell(1), math.nan, False),
    ],
)
def test_is_reducing(req: OrderRequest, position: float, expected: bool):
    assert is_reducing(req, position) is expected


def test_limits_from_settings_takes_every_limit(tmp_path: Path):
    settings = load_settings(
        {
            "VIGIL_DATA_DIR": str(tmp_path),
            "VIGIL_MAX_ORDER_QTY": "7",
            "VIGIL_MAX_NOTIONAL": "750",
            "VIGIL_MAX_POSITIONS": "2",
            "VIGIL_PRICE_COLLAR_PCT": "1.5",
            "VIGIL_STALE_QUOTE_S": "4",
            "VIGIL_ORDER_RATE_MAX": "9",
            "VIGIL_ORDER_RATE_WINDOW_S": "30",
            "VIGIL_DAILY_LOSS_LIMIT": "250",
        }
    )
    assert Limits.from_settings(settings.engine.limits) == Limits(
        max_order_qty=7,
        max_notional=750,
        max_positions=2,
        price_collar_pct=1.5,
        stale_quote_s=4,
        order_rate_max=9,
        order_rate_window_s=30,
        daily_loss_limit=250,
    )
