"""The paper venue: a Broker that keeps its own record (paper_venue.json) and answers later.

It matches orders with the PaperBroker matching engine against the market data it is fed,
keeps its own orders, positions, cash and fills in a file of its own in the data directory
(never in the store: reconciliation compares the two), and reports every outcome as an
OrderEvent through the sink after a configurable latency, from its own delivery thread. Tests
and rehearsals can make it reject, fail or stall (never answer).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import deque
from pathlib import Path

from engine.clock import Clock
from engine.models import (
    Fill,
    Instrument,
    Order,
    OrderBook,
    OrderRequest,
    Quote,
    Side,
)
from engine.venues.base import (
    CancelOutcome,
    MarketEvent,
    OrderEvent,
    OrderEventKind,
    VenueAccount,
    VenueError,
    VenueEvent,
    VenuePosition,
    VenueSink,
)
from engine.venues.paper.account import PaperAccount
from engine.venues.paper.broker import PaperBroker
from engine.venues.paper.delivery import Outbox
from engine.venues.paper.record import VenueRecord, load_record, save_record
from engine.venues.paper.reports import VenueReports

log = logging.getLogger(__name__)
_KEEP_CLOSED = 500  # closed orders kept in the record for late questions


class PaperVenue(VenueReports):
    """An asynchronous paper account: orders go in, OrderEvents come back through the sink."""

    name = "paper"

    def __init__(
        self,
        instruments: dict[str, Instrument],
        record_path: Path | None,
        *,
        clock: Clock,
        fee_bps: float = 1.0,
        slippage_bps: float = 1.0,
        latency_ms: int = 20,
        max_fill_qty: float = 0.0,
        starting_cash: float = 100_000.0,
        faults: str = "",
    ) -> None:
        self._instruments = dict(instruments)
        self._matcher = PaperBroker(
            instruments,
            fee_bps=fee_bps,
            slippage_bps=slippage_bps,
            id_prefix="PV",
            max_fill_qty=max_fill_qty,
        )
        self._path = record_path
        self._clock = clock
        self._latency = latency_ms / 1000.0
        self._client: dict[str, str] = {}  # venue id -> Vigil's (client) id
        self._venue: dict[str, str] = {}  # Vigil's id -> venue id
        self._reported: dict[str, tuple[float, float | None, float | None]] = {}
        self._filled: dict[str, float] = {}  # venue id -> quantity reported filled
        self._closed: deque[Order] = deque(maxlen=_KEEP_CLOSED)
        self._account = PaperAccount(self._instruments, starting_cash)
        # Faults, for tests and rehearsals (VIGIL_PAPER_FAULTS sets a standing one).
        self._standing_fault = faults
        self._reject_reason: str | None = None
        self._fail = False
        self._stalled = faults == "stall"
        self._held: list[VenueEvent] = []
        self._held_orders: list[Order] = []
        self._outbox = Outbox(self._latency)
        self.record_problem = ""
        self.has_record = False
        self._load()

    # ----- lifecycle -----
    def start(self, sink: VenueSink) -> None:
        """Connect and from now on report order updates and account changes to `sink`."""
        self._outbox.start(sink)

    def stop(self) -> None:
        """Stop delivering; events not yet delivered are lost, as on a disconnect."""
        self._outbox.stop()

    # ----- the record -----
    def account(self) -> VenueAccount:
        """The account as the venue reports it now."""
        return self._account.snapshot(self._mark)

    def positions(self) -> list[VenuePosition]:
        """Every open position the venue holds for the account."""
        return list(self._account.positions.values())

    def open_orders(self) -> list[Order]:
        """Every order the venue holds open, with Vigil's id."""
        return [self._vigil(o) for o in self._matcher.open_orders()]

    def fills_since(self, ts: float) -> list[Fill]:
        """Every execution at or after `ts` that the record still holds."""
        return [f for f in self._account.fills if f.ts >= ts]

    def order(self, order_id: str) -> Order | None:
        """One order by Vigil's id (open or recently closed)."""
        found = self._matcher.order(self._venue.get(order_id, order_id))
        return self._vigil(found) if found is not None else None

    def adopt(self, positions: list[VenuePosition], orders: list[Order], cash: float) -> None:
        """First start on a data directory from before the venue kept a record of its own
        (the old paper broker was rebuilt from the store): take over what the store says the
        account held, so the upgrade is not a mismatch. A venue with a record ignores this."""
        if self.has_record:
            return
        self._account.positions = {p.symbol: p for p in positions if p.qty}
        self._account.cash = cash
        opened = [dataclasses.replace(o, venue_order_id="") for o in orders if o.status.is_open]
        self._matcher.restore_orders(opened)
        for order in opened:
            self._client[order.id] = self._venue[order.id] = order.id
            self._reported[order.id] = (order.qty, order.limit_price, order.stop_price)
            if order.filled_qty > 0:
                self._filled[order.id] = order.filled_qty
        self.has_record = True
        self._save()

    # ----- faults (test and operator hooks) -----
    def reject_next(self, reason: str) -> None:
        """The next order is rejected with `reason`."""
        self._reject_reason = reason

    def fail_next(self) -> None:
        """The next submit cannot be sent at all: it raises VenueError."""
        self._fail = True

    def stall(self) -> None:
        """From now on the venue never answers: orders vanish, cancels time out."""
        self._stalled = True

    def resume(self) -> None:
        """Answer again: what was held is processed and reported."""
        self._stalled = False
        held, self._held = self._held, []
        orders, self._held_orders = self._held_orders, []
        self._emit(held)
        for order in orders:
            self.submit(order)

    # ----- orders -----
    def submit(self, order: Order) -> None:
        """Send a new order; ACCEPTED then fills, or REJECTED, arrive later as events."""
        if self._fail or self._standing_fault == "fail":
            self._fail = False
            raise VenueError("the paper venue could not be reached (injected fault)")
        if self._stalled:
            self._held_orders.append(dataclasses.replace(order))
            return
        now = self._clock.time()
        reason = self._reject_reason
        if reason is None and self._standing_fault == "reject":
            reason = "rejected by the paper venue (VIGIL_PAPER_FAULTS=reject)"
        if reason is None and order.id in self._venue:
            reason = f"duplicate client order id {order.id}"
        if reason is not None:
            self._reject_reason = None
            self._emit(
                [
                    OrderEvent(
                        OrderEventKind.REJECTED, order.id, "", order.symbol, now, reason=reason
                    )
                ]
            )
            return
        req = OrderRequest(
            order.symbol,
            order.side,
            order.qty,
            order.type,
            order.limit_price,
            order.stop_price,
            order.take_profit,
            order.stop_loss,
            reduce_only=order.reduce_only,
            source=order.source,
            tag=order.tag,
        )
        placed, fills = self._matcher.submit(req, now)
        self._client[placed.id] = order.id
        self._venue[order.id] = placed.id
        self._report(fills, first=placed.id)

    def cancel(self, order_id: str) -> CancelOutcome:
        """Ask the venue to cancel one order; the CANCELED event confirms it."""
        self._reachable()
        venue_id = self._venue.get(order_id, order_id)
        cancelled = self._matcher.cancel(venue_id, self._clock.time())
        if cancelled is None:
            known = self._matcher.order(venue_id)
            status = known.status.value if known is not None else "unknown"
            return CancelOutcome(order_id, False, status, "not open at the venue")
        self._report([])
        return CancelOutcome(order_id, True, cancelled.status.value)

    def cancel_all(self) -> list[CancelOutcome]:
        """Cancel every open order; one outcome per order."""
        self._reachable()
        cancelled = self._matcher.cancel_all(self._clock.time())
        self._report([])
        return [
            CancelOutcome(self._client.get(o.id, o.id), True, o.status.value) for o in cancelled
        ]

    def close_position(self, symbol: str, qty: float | None = None) -> Order | None:
        """Send a reduce-only market order closing `qty` (default all) of `symbol`."""
        position = self._account.positions.get(symbol)
        if position is None:
            return None
        amount = abs(position.qty) if qty is None else min(abs(qty), abs(position.qty))
        side = Side.SELL if position.qty > 0 else Side.BUY
        now = self._clock.time()
        self._reachable()
        placed, fills = self._matcher.submit(
            OrderRequest(symbol, side, amount, reduce_only=True, source="venue"), now
        )
        self._client[placed.id] = placed.id
        self._venue[placed.id] = placed.id
        self._report(fills, first=placed.id)
        return self._vigil(placed)

    def replace_stops(
        self, symbol: str, stop_loss: float | None, take_profit: float | None
    ) -> list[Order]:
        """Move the stop-loss / take-profit orders protecting `symbol`; the orders changed."""
        self._reachable()
        changed = self._matcher.modify_stops(symbol, stop_loss, take_profit, self._clock.time())
        self._report([])
        return [self._vigil(o) for o in changed]

    def on_market(self, event: MarketEvent) -> None:
        """Match resting orders against the market data the engine sees."""
        if isinstance(event, Quote):
            fills = self._matcher.update_quote(event)
        elif isinstance(event, OrderBook):
            fills = self._matcher.update_book(event)
        else:
            return
        if fills:
            self._report(fills)

    def _emit(self, events: list[VenueEvent], hops: int = 1) -> None:
        if self._stalled:
            self._held.extend(events)
        else:
            self._outbox.put(events, hops)

    def idle(self) -> bool:
        """True when every event produced so far has been handed to the sink (any thread)."""
        return self._outbox.idle()

    def _reachable(self) -> None:
        if self._stalled:
            raise VenueError("the paper venue did not answer in time (stalled)")

    def _vigil(self, order: Order) -> Order:
        """The venue's order as Vigil names it: Vigil's id, the venue's id beside it."""
        parent = self._client.get(order.parent_id or "", order.parent_id)
        return dataclasses.replace(
            order,
            id=self._client.get(order.id, order.id),
            venue_order_id=order.id,
            parent_id=parent,
        )

    def _mark(self, symbol: str, fallback: float) -> float:
        quote = self._matcher.last_quote(symbol)
        return quote.mid if quote is not None and math.isfinite(quote.mid) else fallback

    # ----- the record file -----
    def _save(self) -> None:
        if self._path is None:
            return
        record = VenueRecord(
            self._account.cash,
            self._client,
            self._matcher.open_orders(),
            list(self._closed),
            list(self._account.positions.values()),
            list(self._account.fills),
        )
        try:
            save_record(self._path, record)
        except OSError as exc:
            # The venue's disk is not the engine's business: what it did stands (a real venue
            # would not undo a fill), and the next change writes the whole record again.
            self.record_problem = str(exc)
            log.warning("the paper venue could not save its record: %s", exc)
        else:
            self.record_problem = ""

    def _load(self) -> None:
        if self._path is None or not self._path.exists():
            return
        record = load_record(self._path)
        self._account.cash = record.cash
        self._client = record.clients
        self._venue = {v: k for k, v in self._client.items()}
        opened, closed = record.open_orders, record.closed_orders
        self._account.positions = {p.symbol: p for p in record.positions}
        self._account.fills.extend(record.fills)
        self.has_record = True
        self._matcher.restore_orders(closed + opened)
        self._closed.extend(closed)
        for order in opened:
            self._reported[order.id] = (order.qty, order.limit_price, order.stop_price)
            if order.filled_qty > 0:
                self._filled[order.id] = order.filled_qty
                fills = sum(
                    1 for f in self._account.fills if self._venue.get(f.order_id) == order.id
                )
                self._matcher._fill_counts[order.id] = fills  # fill ids stay unique
