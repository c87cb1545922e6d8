"""Alpaca's order updates (trade_updates messages, REST answers, a resync after a gap) as the
seam's OrderEvents: Vigil's ids, ACCEPTED before any fill, each event once.

Names: an order Vigil placed carries its id in client_order_id, followed by this data
directory's suffix (Alpaca never takes a client_order_id twice, and a fresh data directory
starts its ids again from 1: without the suffix its first order would be refused, and an
order from another Vigil would pass for ours); a bracket's exits (Alpaca names them
itself) are "<entry id>-TP" and "<entry id>-SL", the same after a restart; a replaced order
keeps its name on the order that replaces it. Thread-safe: the stream thread and the engine
thread both report here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from engine.clock import Clock
from engine.models import Fill, Instrument, Order, Side
from engine.venues.alpaca.convert import number, to_order, ts_of, vigil_symbol
from engine.venues.base import OrderEvent, OrderEventKind

_TERMINAL = {
    "canceled": OrderEventKind.CANCELED,
    "done_for_day": OrderEventKind.CANCELED,
    "expired": OrderEventKind.EXPIRED,
    "rejected": OrderEventKind.REJECTED,
    "suspended": OrderEventKind.REJECTED,
}
_WORKING = {"new", "accepted", "partially_filled", "pending_cancel", "pending_replace"}
_KEEP = 20_000  # remembered execution ids (a fill older than this is reconciliation's)


class OrderUpdates:
    def __init__(self, instruments: dict[str, Instrument], clock: Clock, suffix: str = "") -> None:
        self._instruments = instruments
        self.suffix = suffix
        self._clock = clock
        self._lock = threading.RLock()
        self._vigil: dict[str, str] = {}  # venue id -> Vigil's id
        self._venue: dict[str, str] = {}  # Vigil's id -> the venue id working now
        self._parent: dict[str, str] = {}  # an exit's venue id -> its entry's Vigil id
        self._accepted: set[str] = set()
        self._closed: set[str] = set()
        self._fills: OrderedDict[str, None] = OrderedDict()
        self._filled: dict[str, float] = {}  # venue id -> cumulative qty reported
        self._ours: set[str] = set()  # venue ids of the orders this Vigil placed

    # ----- names -----
    def learn(self, raw: dict[str, Any], parent: str | None = None, ours: bool = False) -> str:
        """Vigil's id for this Alpaca order (and its legs), remembered from now on."""
        with self._lock:
            venue_id = str(raw.get("id") or "")
            replaces = str(raw.get("replaces") or "")
            client = str(raw.get("client_order_id") or "")
            if ours or not self.suffix or client.endswith(self.suffix) or replaces in self._ours:
                self._ours.add(venue_id)
            vigil = self._vigil.get(venue_id)
            if vigil is None:
                if parent is not None:
                    exit_kind = "TP" if raw.get("type") == "limit" else "SL"
                    vigil = f"{parent}-{exit_kind}"
                elif replaces in self._vigil:
                    vigil = self._vigil[replaces]
                    if replaces in self._parent:
                        self._parent[venue_id] = self._parent[replaces]
                else:
                    vigil = self.vigil_of_client(str(raw.get("client_order_id") or venue_id))
                self._vigil[venue_id] = vigil
            if parent is not None:
                self._parent[venue_id] = parent
            if venue_id and (raw.get("status") in _WORKING or vigil not in self._venue):
                self._venue[vigil] = venue_id
            for leg in raw.get("legs") or []:
                self.learn(leg, parent=vigil, ours=venue_id in self._ours)
            return vigil

    def is_ours(self, venue_id: str) -> bool:
        """Placed by this Vigil (its data directory's mark), or an exit Alpaca made for such
        an order: the executions Vigil may book. Another app's fills stay a mismatch."""
        with self._lock:
            return venue_id in self._ours

    def client_id(self, vigil_id: str) -> str:
        return f"{vigil_id}{self.suffix}"

    def vigil_of_client(self, client_order_id: str) -> str:
        if self.suffix and client_order_id.endswith(self.suffix):
            return client_order_id[: -len(self.suffix)]
        return client_order_id

    def vigil_id(self, venue_id: str) -> str | None:
        with self._lock:
            return self._vigil.get(venue_id)

    def venue_id(self, vigil_id: str) -> str | None:
        with self._lock:
            return self._venue.get(vigil_id)

    def describe(self, raw: dict[str, Any], source: str = "venue") -> Order:
        with self._lock:
            vigil = self.learn(raw)
            order = to_order(raw, vigil, self._parent.get(str(raw.get("id"))), source)
        order.symbol = vigil_symbol(order.symbol, self._instruments)
        return order

    def flatten(self, orders: list[dict[str, Any]]) -> list[Order]:
        """Nested REST orders -> every order that works now, exits beside their entries."""
        result: list[Order] = []
        for raw in orders:
            self.learn(raw)
            for member in [raw, *(raw.get("legs") or [])]:
                if member.get("status") in _WORKING:
                    result.append(self.describe(member))
        return result

    # ----- events -----
    def translate(
        self, event: str, raw: dict[str, Any], extra: dict[str, Any] | None = None
    ) -> list[OrderEvent]:
        """One trade update -> the OrderEvents not reported before (maybe none)."""
        extra = extra or {}
        with self._lock:
            venue_id = str(raw.get("id") or "")
            self.learn(raw)
            ts = ts_of(extra.get("timestamp")) or self._clock.time()
            out: list[OrderEvent] = []
            if event == "replaced" or venue_id in self._closed:
                self._closed.add(venue_id)
                return out
            if event in ("new", "accepted") or event in ("fill", "partial_fill"):
                out += self._accept(raw, ts)
            if event in ("fill", "partial_fill"):
                out += self._fill(event == "fill", raw, extra, ts)
            elif event in _TERMINAL:
                if venue_id not in self._accepted and venue_id in self._parent:
                    # An exit that never worked (held until its entry filled) dies with it:
                    # Vigil never heard of it, so there is nothing to close.
                    self._closed.add(venue_id)
                    return out
                self._closed.add(venue_id)
                reason = str(raw.get("reject_reason") or extra.get("reason") or "")
                if event == "rejected" and not reason:
                    reason = "rejected by Alpaca"
                out.append(self._event(_TERMINAL[event], raw, ts, reason=reason))
            return out

    def rejected(self, order: Order, reason: str) -> OrderEvent:
        """Alpaca refused the order at submission (HTTP 4xx): it never had a venue id."""
        return OrderEvent(
            OrderEventKind.REJECTED, order.id, "", order.symbol, self._clock.time(), reason=reason
        )

    def seen_fill(self, fill_id: str) -> bool:
        with self._lock:
            return fill_id in self._fills

    def is_closed(self, venue_id: str) -> bool:
        with self._lock:
            return venue_id in self._closed

    def _accept(self, raw: dict[str, Any], ts: float) -> list[OrderEvent]:
        venue_id = str(raw.get("id") or "")
        if venue_id in self._accepted:
            return []
        self._accepted.add(venue_id)
        described = self.describe(raw)
        return [self._event(OrderEventKind.ACCEPTED, raw, ts, order=described)]

    def _fill(
        self, final: bool, raw: dict[str, Any], extra: dict[str, Any], ts: float
    ) -> list[OrderEvent]:
        venue_id = str(raw.get("id") or "")
        cumulative = number(raw.get("filled_qty"))
        before = self._filled.get(venue_id, 0.0)
        qty = number(extra.get("qty")) or max(cumulative - before, 0.0)
        price = number(extra.get("price")) or number(raw.get("filled_avg_price"))
        fill_id = str(extra.get("execution_id") or f"{venue_id}-{cumulative:g}")
        self._filled[venue_id] = max(before + qty, cumulative)
        if final:
            self._closed.add(venue_id)
        if fill_id in self._fills or qty <= 0:
            return []
        self._fills[fill_id] = None
        while len(self._fills) > _KEEP:
            self._fills.popitem(last=False)
        vigil = self._vigil[venue_id]
        fill = Fill(
            order_id=vigil,
            symbol=vigil_symbol(str(raw.get("symbol") or ""), self._instruments),
            side=Side.BUY if raw.get("side") == "buy" else Side.SELL,
            qty=qty,
            price=price,
            fee=0.0,
            ts=ts,
            id=fill_id,
        )
        kind = OrderEventKind.FILLED if final else OrderEventKind.PARTIALLY_FILLED
        return [self._event(kind, raw, ts, fill=fill)]

    def _event(
        self, kind: OrderEventKind, raw: dict[str, Any], ts: float, **more: Any
    ) -> OrderEvent:
        venue_id = str(raw.get("id") or "")
        return OrderEvent(
            kind,
            self._vigil.get(venue_id, venue_id),
            venue_id,
            vigil_symbol(str(raw.get("symbol") or ""), self._instruments),
            ts,
            **more,
        )
