"""How the paper venue turns what its matcher did into OrderEvents (part of PaperVenue)."""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable

from engine.clock import Clock
from engine.models import Fill, Order, OrderStatus
from engine.venues.base import (
    AccountEvent,
    OrderEvent,
    OrderEventKind,
    VenueAccount,
    VenueEvent,
)
from engine.venues.paper.account import PaperAccount
from engine.venues.paper.broker import PaperBroker

_EPS = 1e-9


class VenueReports:
    """PaperVenue's reporting half: the events for accepts, fills, cancels and rejects.

    A mixin: PaperVenue owns the state named below and the methods it calls back.
    """

    _clock: Clock
    _matcher: PaperBroker
    _account: PaperAccount
    _closed: deque[Order]
    _client: dict[str, str]  # venue id -> Vigil's (client) id
    _reported: dict[str, tuple[float, float | None, float | None]]
    _filled: dict[str, float]  # venue id -> quantity reported filled
    account: Callable[[], VenueAccount]
    _save: Callable[[], None]
    _emit: Callable[..., None]  # (events, hops=1)
    _vigil: Callable[[Order], Order]

    def _report(self, fills: list[Fill], first: str | None = None) -> None:
        """Turn what the matcher did into events (accepted, fills, the rest) and save."""
        now = self._clock.time()
        events: list[VenueEvent] = []
        if first is not None:
            placed = self._matcher.order(first)
            if placed is not None and placed.status is OrderStatus.REJECTED:
                events.append(
                    self._event(OrderEventKind.REJECTED, placed, now, placed.reject_reason)
                )
            elif placed is not None:
                events.append(self._accepted(placed, now))
        touched: set[str] = set()
        for fill in fills:
            events.append(self._fill_event(fill))
            touched.add(fill.symbol)
        for symbol in touched:
            # Brackets left larger than the position, or on its wrong side, would open a new one.
            position = self._account.positions.get(symbol)
            self._matcher.fit_reduce_only(symbol, position.qty if position else 0.0, now)
        for order in self._matcher.drain_changed():
            if order.status is OrderStatus.CANCELED:
                events.append(self._event(OrderEventKind.CANCELED, order, now))
            elif order.status is OrderStatus.REJECTED and order.id != first:
                events.append(self._event(OrderEventKind.REJECTED, order, now, order.reject_reason))
            elif order.status.is_open:
                shape = (order.qty, order.limit_price, order.stop_price)
                if self._reported.get(order.id) != shape:
                    events.append(self._accepted(order, now))
            if not order.status.is_open:
                self._closed.append(dataclasses.replace(order))
        if fills:
            events.append(AccountEvent(self.account(), now))
        if events:
            self._save()
            # The acknowledgement travels first; the outcome one latency later, as at a real
            # venue (and so an order is seen accepted before it is seen filled).
            split = 1 if first is not None else 0
            self._emit(events[:split])
            self._emit(events[split:], hops=2 if split else 1)

    def _accepted(self, order: Order, now: float) -> OrderEvent:
        self._reported[order.id] = (order.qty, order.limit_price, order.stop_price)
        return self._event(OrderEventKind.ACCEPTED, order, now, described=True)

    def _event(
        self,
        kind: OrderEventKind,
        order: Order,
        now: float,
        reason: str = "",
        *,
        described: bool = False,
    ) -> OrderEvent:
        if not order.status.is_open:
            self._reported.pop(order.id, None)
        vigil = self._vigil(order)
        return OrderEvent(
            kind,
            vigil.id,
            order.id,
            order.symbol,
            max(now, order.updated_ts),
            reason=reason,
            order=vigil if described else None,
        )

    def _fill_event(self, fill: Fill) -> OrderEvent:
        venue_id = fill.order_id
        ours = dataclasses.replace(fill, order_id=self._client.get(venue_id, venue_id))
        self._account.book(ours)
        order = self._matcher.order(venue_id)
        self._filled[venue_id] = self._filled.get(venue_id, 0.0) + fill.qty
        done = order is not None and self._filled[venue_id] >= order.qty - _EPS
        if done:
            self._filled.pop(venue_id, None)
        kind = OrderEventKind.FILLED if done else OrderEventKind.PARTIALLY_FILLED
        return OrderEvent(kind, ours.order_id, venue_id, fill.symbol, fill.ts, fill=ours)
