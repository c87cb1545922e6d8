"""The kill switch's executor on the desk: detach the strategy, cancel every order, flatten.

A venue that never answers must not keep the engine from halting: the halt is in memory
before anything here runs (see SafetyManager.engage), cancels the venue cannot confirm are
named as unconfirmed, and flattening never sends a second close while one is in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.models import Order, OrderRequest, OrderStatus, Side

if TYPE_CHECKING:
    from engine.bus import EventBus
    from engine.clock import Clock
    from engine.trading.ledger import Ledger
    from engine.trading.orders import OrderTracker
    from engine.venues.base import Broker

from engine.venues.base import CancelOutcome, VenueError

# Statuses of a refused cancel that say the order is no longer open: ours, plus ccxt's "closed"
# (its word for an order that filled before the cancel reached it).
_CLOSED = {s.value for s in OrderStatus if not s.is_open} | {"closed"}


def _still_open(answer: CancelOutcome) -> bool:
    """A refused cancel, unless the venue says the order is closed anyway (it filled)."""
    return not answer.ok and answer.status not in _CLOSED


class KillSwitchExecutor:
    """Mixed into TradingDesk, which provides the parts named below."""

    _bus: EventBus
    _clock: Clock
    broker: Broker
    ledger: Ledger
    orders: OrderTracker
    strategy_attached: bool
    unconfirmed_at_halt: list[str]
    _save: Callable[[], bool]
    publish_orders: Callable[[], None]
    _send: Callable[[OrderRequest, float], Order]
    _venue_rejected: Callable[[Order, str], None]

    def detach_strategy(self, reason: str) -> None:
        if self.strategy_attached:
            self.strategy_attached = False
            self._bus.publish("system", {"message": f"strategy detached: {reason}"})

    def attach_strategy(self) -> None:
        self.strategy_attached = True

    def cancel_all_orders(self, reason: str) -> list[dict[str, Any]]:
        """Ask the venue to cancel everything; one outcome per order Vigil knows or the venue
        listed. Orders the venue did not confirm (it failed, or never heard of them) are named
        `unconfirmed`: the page and the audit say which."""
        ours = self.orders.open_orders()
        for order in ours:
            self.orders.cancel_requested.add(order.id)
        problem = ""
        try:
            answers = {a.order_id: a for a in self.broker.cancel_all()}
        except VenueError as exc:
            answers, problem = {}, str(exc)
        outcomes: list[dict[str, Any]] = [
            {
                "action": "cancel",
                "order_id": a.order_id,
                "ok": a.ok,
                "status": a.status,
                "reason": a.reason,
            }
            for a in answers.values()
        ]
        now = self._clock.time()
        for answer in answers.values():
            if answer.ok and answer.status == OrderStatus.CANCELED.value:
                # The venue's own answer says cancelled (not merely "requested"): closed now,
                # saved with the halt; its CANCELED event later is old news.
                self.orders.close(answer.order_id, OrderStatus.CANCELED, "", now)
        missing = [o for o in ours if o.id not in answers]
        for order in missing:
            outcomes.append(
                {
                    "action": "cancel",
                    "order_id": order.id,
                    "ok": False,
                    "status": "unconfirmed",
                    "reason": problem or "the venue did not list it as open",
                }
            )
        # An order the venue answered for but would not cancel is as open as one it never
        # confirmed: named with the venue's reason, and the system stays HALTED. Not an answer
        # whose status says the order is closed anyway (it filled before it could be cancelled).
        refused = [a for a in answers.values() if _still_open(a)]
        self.unconfirmed_at_halt = [o.id for o in missing] + [a.order_id for a in refused]
        if self.unconfirmed_at_halt:
            names = ", ".join(self.unconfirmed_at_halt)
            reasons = [problem] if problem else []
            reasons += [f"{a.order_id}: {a.reason or a.status}" for a in refused]
            cause = f" ({'; '.join(reasons)})" if reasons else ""
            self._bus.publish(
                "risk_limit",
                {
                    "code": "UNCONFIRMED_ORDERS",
                    "message": f"{reason}: the venue has not confirmed cancelling {names}{cause}",
                    "orders": self.unconfirmed_at_halt,
                },
            )
        self._save()
        self.publish_orders()
        return outcomes

    def flatten_positions(self, reason: str) -> list[dict[str, Any]]:
        now = self._clock.time()
        outcomes: list[dict[str, Any]] = []
        closing = {
            o.symbol
            for o in self.orders.open_orders()
            if o.source == "kill_switch" and o.reduce_only
        }
        for symbol, position in list(self.ledger.positions().items()):
            if symbol in closing:  # a close is in flight: a second one would flip the position
                outcomes.append(
                    {"action": "close", "symbol": symbol, "ok": True, "status": "in_flight"}
                )
                continue
            side = Side.SELL if position.qty > 0 else Side.BUY
            req = OrderRequest(
                symbol, side, abs(position.qty), reduce_only=True, source="kill_switch", tag=reason
            )
            # Flattening bypasses the gateway on purpose: HALTED denies every order there.
            order = self._send(req, now)
            if order.status is OrderStatus.REJECTED:
                self._venue_rejected(order, "kill_switch")
            outcomes.append(
                {
                    "action": "close",
                    "symbol": symbol,
                    "order_id": order.id,
                    "ok": order.status is not OrderStatus.REJECTED,
                    "status": order.status.value,
                }
            )
        self._save()
        self.publish_orders()
        return outcomes

    def is_flat(self) -> bool:
        return self.ledger.open_position_count == 0
