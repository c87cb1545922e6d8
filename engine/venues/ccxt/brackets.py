"""Vigil's brackets on a crypto exchange: when an entry fills, its stop-loss (a reduce-only
stop-market) and take-profit (a reduce-only limit) go out under the entry's id plus -SL / -TP,
one cancelling the other; on Binance spot the pair is one OCO order list (both sells lock the
same coins). Moving them cancels and places again under the same client ids. Mixed into
CcxtBroker with OrderBookkeeping."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from engine.clock import Clock
from engine.models import Order, OrderStatus, OrderType
from engine.venues.base import CancelOutcome, OrderEventKind
from engine.venues.ccxt import errors
from engine.venues.ccxt.exchange import MarketRules
from engine.venues.ccxt.orders import Tracked, trigger_params
from engine.venues.ccxt.translate import STOP_SUFFIX, TAKE_SUFFIX


class Brackets:
    exchange: Any
    rules: dict[str, MarketRules]
    swap: bool
    tracked: dict[str, Tracked]
    _vigil_ids: dict[str, str]
    _clock: Clock
    _fault: Callable[[BaseException], None]
    _report_rejected: Callable[[Order, str], None]
    _event: Callable[..., None]
    _place: Callable[..., bool]
    _cancel_tracked: Callable[[Tracked], CancelOutcome]

    def _after_fill(self, tracked: Tracked) -> None:
        order = tracked.order
        if order.parent_id is not None:
            for sibling in [
                t for t in self.tracked.values() if t.order.parent_id == order.parent_id
            ]:
                self._cancel_tracked(sibling)
            return
        children = []
        for child, kind in order.exit_orders(tracked.filled, self._clock.time()):
            child.id = order.id + (STOP_SUFFIX if kind == "SL" else TAKE_SUFFIX)
            children.append(child)
        if len(children) == 2 and not self.swap:
            self._place_oco(children[0], children[1])  # spot sells lock the coins: one list
            return
        for child in children:
            self._place(child, describe=True)

    def _place_oco(self, stop: Order, take: Order) -> None:
        """Binance spot: the stop-loss and the take-profit as one OCO order list."""
        rules = self.rules[stop.symbol]
        stop_leg = {"Type": "STOP_LOSS", "StopPrice": stop.stop_price, "ClientOrderId": stop.id}
        take_leg = {"Type": "LIMIT_MAKER", "Price": take.limit_price, "ClientOrderId": take.id}
        above, below = (take_leg, stop_leg) if stop.side.sign < 0 else (stop_leg, take_leg)
        request: dict[str, Any] = {
            "symbol": rules.market_id,
            "side": stop.side.value.upper(),
            "quantity": self.exchange.amount_to_precision(rules.ccxt_symbol, stop.qty),
            "listClientOrderId": f"{stop.parent_id}-OCO",
        }
        for prefix, leg in (("above", above), ("below", below)):
            for key, value in leg.items():
                price = key.endswith("Price")
                shown = (
                    self.exchange.price_to_precision(rules.ccxt_symbol, value) if price else value
                )
                request[prefix + key] = shown
        try:
            raw = self.exchange.privatePostOrderListOco(request)
        except Exception as exc:  # noqa: BLE001 - any ccxt failure is sorted by errors.classify
            if errors.classify(exc) is not errors.Fate.REFUSED:
                self._fault(exc)
            for child in (stop, take):
                self._report_rejected(child, errors.message(exc))
            return
        venue_ids = {str(r["clientOrderId"]): str(r["orderId"]) for r in raw["orderReports"]}
        for child in (stop, take):
            venue_id = venue_ids.get(child.id, "")
            self.tracked[child.id] = Tracked(child, venue_id, False)
            self._vigil_ids[venue_id] = child.id
            shown = dataclasses.replace(child, status=OrderStatus.ACCEPTED, venue_order_id=venue_id)
            self._event(OrderEventKind.ACCEPTED, child, venue_id, order=shown)

    def _replace_stops(
        self, symbol: str, stop_loss: float | None, take_profit: float | None
    ) -> list[Order]:
        """Cancel and place again under the same client ids (free once cancelled); a spot
        OCO pair moves as one list."""
        rules = self.rules[symbol]
        changed: list[Order] = []
        children = [t for t in self.tracked.values() if t.order.symbol == symbol]
        by_parent: dict[str, list[Tracked]] = {}
        for tracked in children:
            if tracked.order.parent_id is not None:
                by_parent.setdefault(tracked.order.parent_id, []).append(tracked)
        for group in by_parent.values():
            moved = [_moved(t, rules, stop_loss, take_profit) for t in group]
            if all(m == t.order for m, t in zip(moved, group, strict=True)):
                continue
            paired = len(group) == 2 and not self.swap
            for tracked in group[:1] if paired else group:
                self.exchange.cancel_order(
                    tracked.venue_id, rules.ccxt_symbol, trigger_params(tracked, self.swap)
                )
            for tracked in group:
                self.tracked.pop(tracked.order.id, None)
            if paired:
                stop, take = sorted(moved, key=lambda o: o.type is not OrderType.STOP)
                self._place_oco(stop, take)
            else:
                for order in moved:
                    self._place(order, describe=True)
            for order, tracked in zip(moved, group, strict=True):
                now = self.tracked.get(order.id)
                if now is not None and order != tracked.order:
                    changed.append(
                        dataclasses.replace(
                            order, status=OrderStatus.ACCEPTED, venue_order_id=now.venue_id
                        )
                    )
        return changed


def _moved(
    tracked: Tracked, rules: MarketRules, stop_loss: float | None, take_profit: float | None
) -> Order:
    order = dataclasses.replace(tracked.order, qty=tracked.order.qty - tracked.filled)
    if order.type is OrderType.STOP and stop_loss is not None:
        return dataclasses.replace(order, stop_price=rules.round_price(stop_loss))
    if order.type is OrderType.LIMIT and take_profit is not None:
        return dataclasses.replace(order, limit_price=rules.round_price(take_profit))
    return order
