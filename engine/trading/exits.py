"""Why a trade closed: the exit reason named from the order whose fill closed it."""

from __future__ import annotations

from engine.models import Order, OrderType

STRATEGY_EXIT = "strategy_exit"
STOP_LOSS = "stop_loss"
TAKE_PROFIT = "take_profit"
TRAILING_STOP = "trailing_stop"
MANUAL = "manual"
FLATTEN = "flatten"
EXIT_REASONS = (STRATEGY_EXIT, STOP_LOSS, TAKE_PROFIT, TRAILING_STOP, MANUAL, FLATTEN)
# What the page and the audit log show for each reason.
EXIT_LABELS = {
    STRATEGY_EXIT: "strategy exit",
    STOP_LOSS: "stop-loss",
    TAKE_PROFIT: "take-profit",
    TRAILING_STOP: "trailing stop",
    MANUAL: "manual",
    FLATTEN: "flatten",
}
# An order's `tag` may name its exit outright ("exit:trailing_stop"): the protective orders
# added from a position's row, a trailing stop placed by the exits code.
TAG_PREFIX = "exit:"


def exit_tag(reason: str) -> str:
    return TAG_PREFIX + reason


def exit_reason(order: Order | None) -> str:
    """The reason a fill of `order` that reduced a position closed it.

    A protective order (reduce-only stop or limit: a bracket's child or one the operator
    added from the position's row) is a stop-loss or take-profit whoever placed its entry;
    the kill switch's closes are a flatten; any other strategy order is the strategy's exit;
    everything else (the operator's close, a venue's own close, an unknown order) is manual.
    """
    if order is None:
        return MANUAL
    tagged = order.tag.removeprefix(TAG_PREFIX)
    if order.tag.startswith(TAG_PREFIX) and tagged in EXIT_REASONS:
        return tagged
    if order.source == "kill_switch":
        return FLATTEN
    if order.reduce_only and order.type is OrderType.STOP:
        return TRAILING_STOP if order.source == TRAILING_STOP else STOP_LOSS
    if order.reduce_only and order.type is OrderType.LIMIT:
        return TAKE_PROFIT
    if order.source == "strategy":
        return STRATEGY_EXIT
    return MANUAL
