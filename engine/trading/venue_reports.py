"""What the venue reports, applied on the desk: order events move the state machine and book
fills; a rejection counts as a venue error; an order Vigil did not place is recorded and
raised as a reconciliation matter."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.models import Fill, Order
from engine.payloads import order_payload
from engine.trading.reconcile import Issue, IssueKind
from engine.venues.base import OrderEvent, OrderEventKind

if TYPE_CHECKING:
    from engine.bus import EventBus
    from engine.clock import Clock
    from engine.safety.manager import SafetyManager
    from engine.trading.orders import OrderTracker


class VenueReports:
    """Mixed into TradingDesk, which provides the parts named below."""

    _bus: EventBus
    _clock: Clock
    safety: SafetyManager
    orders: OrderTracker
    _booked_fill_ids: set[str]
    _audit: Callable[..., Any]
    _save: Callable[[], bool]
    publish_orders: Callable[[], None]
    publish_positions: Callable[[], None]
    apply_fills: Callable[[list[Fill], str], None]

    def _venue_rejected(self, order: Order, actor: str) -> None:
        # The gateway has already refused what an operator can get wrong, so a venue that
        # rejects what passed it (or cannot be reached) is a fault: the error-rate breaker
        # counts it.
        self.safety.record_error(self._clock.time())
        self._bus.publish(
            "error",
            {"message": f"broker rejected {order.id}: {order.reject_reason}", "where": "broker"},
        )
        if order.source != "strategy":
            self._audit(
                actor,
                "order_rejected",
                reason=order.reject_reason,
                outcome="rejected",
                details=order_payload(order),
            )
        self._save()
        self.publish_orders()

    # ----- what the venue reports -----
    def on_order_event(self, event: OrderEvent) -> None:
        """Apply one venue report: move the order, book its fill (once), tell the page."""
        fill = event.fill
        # A fill booked before (the venue repeated it, or reconciliation found it first) is not
        # booked again, but the order still moves: it must not stay open for ever.
        booked = fill is not None and bool(fill.id) and fill.id in self._booked_fill_ids
        applied = self.orders.apply(event)
        if applied.unknown:
            self._unknown_order(event)
        order = applied.order
        if applied.rejected and order is not None:
            self._venue_rejected(order, order.tag or order.source)
            return
        if fill is not None and not booked:
            self.apply_fills([fill], order.source if order is not None else "venue")
            return
        self._save()
        self.publish_orders()
        if event.kind is not OrderEventKind.ACCEPTED or applied.adopted:
            self.publish_positions()  # bracket prices shown beside the position

    def _unknown_order(self, event: OrderEvent) -> None:
        """An order Vigil did not place (or lost): recorded, and a reconciliation matter."""
        described = event.order
        if described is not None and described.status.is_open:
            self.orders.add(
                dataclasses.replace(
                    described,
                    id=event.order_id or event.venue_order_id,
                    venue_order_id=event.venue_order_id,
                    source="venue",
                )
            )
        message = (
            f"the venue reports order {event.venue_order_id or event.order_id} "
            f"({event.kind} {event.symbol}) that Vigil did not place"
        )
        details = {"order_id": event.order_id, "venue_order_id": event.venue_order_id}
        self._audit("system", "unknown_venue_order", reason=message, details=details)
        # One place raises reconciliation matters (REDUCING, audit, one alert, the page's list).
        issue = Issue(
            IssueKind.OTHER,
            symbol=event.symbol,
            order_id=event.venue_order_id or event.order_id,
            venue=message,
        )
        self.safety.report_reconciliation([issue], complete=False)
