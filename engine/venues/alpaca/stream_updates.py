"""The Alpaca broker's side of the trade_updates stream: each message as OrderEvents, the
connection's changes as ConnectionEvents, and a resync of what a gap hid."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrderByIdRequest, GetOrdersRequest

from engine.clock import Clock
from engine.models import Fill
from engine.venues.alpaca.convert import iso
from engine.venues.alpaca.rest import AlpacaRest
from engine.venues.alpaca.updates import OrderUpdates
from engine.venues.base import ConnectionState, VenueError

log = logging.getLogger(__name__)


class StreamUpdates:
    """Mixed into AlpacaBroker, which provides the parts named below."""

    rest: AlpacaRest
    updates: OrderUpdates
    _clock: Clock
    _dropped_at: float | None
    stream_messages: int
    _read: Callable[..., Any]
    _report: Callable[..., None]
    _connection: Callable[[ConnectionState, int, str], None]
    _executions: Callable[[float], list[tuple[str, Fill]]]

    def on_message(self, message: dict[str, Any]) -> None:
        if message.get("stream") != "trade_updates":
            return
        try:
            data = message.get("data") or {}
            raw = data.get("order")
            if isinstance(raw, dict):
                event = str(data.get("event"))
                self._report(event, raw, data)
                if event == "fill" and raw.get("order_class") in ("bracket", "oto"):
                    self._exits_of(str(raw.get("id")))
        finally:
            self.stream_messages += 1  # counted once handled: tests wait on it

    def _exits_of(self, venue_id: str) -> None:
        """An entry filled: its exits work now. Alpaca's own updates for them may come or
        not; read them so Vigil knows its protection either way (reported once)."""
        request = GetOrderByIdRequest(nested=True)
        try:
            raw = self._read(
                "read a bracket", lambda: self.rest.client.get_order_by_id(venue_id, request)
            )
        except VenueError as exc:  # the next reconciliation round lists them
            log.warning("%s", exc)
            return
        for leg in raw.get("legs") or []:
            if leg.get("status") in ("new", "accepted", "partially_filled"):
                self._report("new", leg)

    def on_stream_state(self, state: str, attempt: int, message: str) -> None:
        if state == "reconnecting" and self._dropped_at is None:
            self._dropped_at = self._clock.time()
        self._connection(ConnectionState(state), attempt, message)

    def resync(self) -> None:
        """After a gap in the stream: what happened to orders meanwhile, as events."""
        since = (self._dropped_at or self._clock.time()) - 60.0
        self._dropped_at = None
        query = GetOrdersRequest(
            status=QueryOrderStatus.ALL, nested=True, limit=500, after=iso(since)
        )
        orders = self._read("read recent orders", lambda: self.rest.client.get_orders(query))
        by_id: dict[str, dict[str, Any]] = {}
        for raw in orders:
            for member in [raw, *(raw.get("legs") or [])]:
                by_id[str(member.get("id"))] = member
        missed = [
            (venue_id, fill)
            for venue_id, fill in self._executions(since)
            if venue_id in by_id and not self.updates.seen_fill(fill.id)
        ]
        for i, (venue_id, fill) in enumerate(missed):
            raw = by_id[venue_id]
            # Only an order's last execution fills it; the ones before were partial.
            later = any(other == venue_id for other, _ in missed[i + 1 :])
            final = raw.get("status") == "filled" and not later
            extra = {"qty": fill.qty, "price": fill.price, "execution_id": fill.id}
            extra["timestamp"] = iso(fill.ts)
            self._report("fill" if final else "partial_fill", raw, extra)
        for raw in by_id.values():
            status = str(raw.get("status"))
            if status in ("canceled", "expired", "rejected", "new", "accepted"):
                self._report(status, raw)
