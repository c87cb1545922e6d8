"""The Alpaca broker: Vigil's orders through alpaca-py's TradingClient, their fate from the
trade_updates stream, the account and the market clock polled on a timer.

Every REST call is bounded (a timeout, no SDK retry-sleeps) and counted against a budget whose
reserve belongs to cancels and closes. A 4xx is Alpaca saying no (a REJECTED event or a failed
CancelOutcome with its message); a 5xx, 429 or timeout is a VenueError.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetOrdersRequest,
    ReplaceOrderRequest,
)

from engine.clock import Clock
from engine.models import AssetClass, Fill, Instrument, Order, OrderType, Side
from engine.venues.alpaca.convert import (
    iso,
    number,
    order_request,
    to_account,
    to_fill,
    to_position,
)
from engine.venues.alpaca.market_clock import MarketClock
from engine.venues.alpaca.rest import AlpacaRefused, AlpacaRest
from engine.venues.alpaca.stream import TradeUpdatesThread
from engine.venues.alpaca.stream_updates import StreamUpdates
from engine.venues.alpaca.updates import OrderUpdates
from engine.venues.base import (
    AccountEvent,
    CancelOutcome,
    ConnectionEvent,
    ConnectionState,
    MarketEvent,
    OrderEvent,
    VenueAccount,
    VenueError,
    VenueEvent,
    VenuePosition,
    VenueSink,
)

log = logging.getLogger(__name__)
_NO_QTY = "insufficient qty"


class AlpacaBroker(StreamUpdates):
    name = "alpaca"

    def __init__(
        self,
        rest: AlpacaRest,
        stream: TradeUpdatesThread | None,
        instruments: dict[str, Instrument],
        *,
        clock: Clock,
        mode: str = "paper",
        extended_hours: bool = False,
        poll_s: float = 15.0,
        client_suffix: str = "",
    ) -> None:
        self.rest = rest
        self._stream = stream
        self._instruments = dict(instruments)
        self._clock = clock
        self.mode = mode
        self.extended_hours = extended_hours
        self.poll_s = poll_s
        self.updates = OrderUpdates(self._instruments, clock, client_suffix)
        self.market_clock = MarketClock()
        self.last_account: VenueAccount | None = None
        self._sink: VenueSink | None = None
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._dropped_at: float | None = None
        # Translating and handing over under one lock: the engine thread (an order's answer)
        # and the stream thread (its updates) never deliver one order's events out of order.
        self._emit_lock = threading.RLock()
        self.stream_messages = 0

    # ----- lifecycle -----
    def attach_stream(self, stream: TradeUpdatesThread) -> None:
        self._stream = stream

    def connect(self) -> VenueAccount:
        """Read the account and the market clock once (before start: the live guard)."""
        account = self.account()
        self.refresh_clock()
        return account

    def start(self, sink: VenueSink) -> None:
        self._sink = sink
        self._stop.clear()
        if self._stream is not None:
            self._stream.start()
        else:
            self._connection(ConnectionState.CONNECTED, 0, "")
        self._poller = threading.Thread(target=self._poll, name="alpaca-poll", daemon=True)
        self._poller.start()

    def stop(self) -> None:
        self._stop.set()
        if self._stream is not None:
            self._stream.stop()
        if self._poller is not None:
            self._poller.join(5)

    # ----- the record -----
    def account(self) -> VenueAccount:
        raw = self._read("read the account", lambda: self.rest.client.get_account())
        account = to_account(raw, self.mode)
        self.last_account = account
        return account

    def positions(self) -> list[VenuePosition]:
        raw = self._read("read positions", lambda: self.rest.client.get_all_positions())
        return [to_position(p, self._instruments) for p in raw if number(p.get("qty"))]

    def open_orders(self) -> list[Order]:
        query = GetOrdersRequest(status=QueryOrderStatus.OPEN, nested=True, limit=500)
        raw = self._read("read open orders", lambda: self.rest.client.get_orders(query))
        return self.updates.flatten(raw)

    def fills_since(self, ts: float) -> list[Fill]:
        """Executions of the orders this Vigil placed. Another app's trades on the account
        are not booked as if Vigil had missed them: their positions stay a mismatch
        (REDUCING until an admin acknowledges)."""
        return [fill for venue_id, fill in self._executions(ts) if self.updates.is_ours(venue_id)]

    def _executions(self, ts: float) -> list[tuple[str, Fill]]:
        """(Alpaca's order id, the fill) of every execution at or after `ts`, oldest first."""
        found: list[tuple[str, Fill]] = []
        params: dict[str, Any] = {"after": iso(ts - 1.0), "direction": "asc", "page_size": 100}
        for _ in range(50):  # 5000 fills: far beyond any reconciliation window
            page = self.rest.get("read fills", "/account/activities/FILL", params)
            if not isinstance(page, list):
                raise VenueError("alpaca: the fill activities answer is not a list")
            if any(self.updates.vigil_id(str(a.get("order_id"))) is None for a in page):
                self._learn_orders(ts)
            for raw in page:
                venue_id = str(raw.get("order_id"))
                vigil = self.updates.vigil_id(venue_id) or venue_id
                fill = to_fill(raw, vigil, self._instruments)
                if fill.ts >= ts:
                    found.append((venue_id, fill))
            if len(page) < params["page_size"]:
                break
            params["page_token"] = page[-1].get("id")
        return found

    def _learn_orders(self, ts: float) -> None:
        """Names for the orders behind fills not seen yet (placed before a restart): one
        listing of the orders of the week before, not one request per order."""
        query = GetOrdersRequest(
            status=QueryOrderStatus.ALL, nested=True, limit=500, after=iso(ts - 7 * 86400.0)
        )
        for raw in self._read("read recent orders", lambda: self.rest.client.get_orders(query)):
            self.updates.learn(raw)

    def refresh_clock(self) -> MarketClock:
        raw = self._read("read the market clock", lambda: self.rest.client.get_clock())
        self.market_clock.update(raw)
        return self.market_clock

    def market_closed_reason(self, symbol: str) -> str:
        """Why Alpaca would queue a market order in `symbol` now; empty when it would fill."""
        instrument = self._instruments.get(symbol)
        crypto = instrument is not None and instrument.asset_class is AssetClass.CRYPTO
        if crypto or self.extended_hours:
            return ""
        return self.market_clock.closed_reason()

    # ----- orders -----
    def submit(self, order: Order) -> None:
        try:
            request = order_request(
                order,
                self._instruments.get(order.symbol),
                client_order_id=self.updates.client_id(order.id),
                extended_hours=self.extended_hours and not self.market_clock.is_open,
            )
        except ValueError as exc:  # alpaca-py's own validation: the order cannot be right
            self._emit([self.updates.rejected(order, f"invalid order: {_first_line(exc)}")])
            return
        try:
            raw = self._send(order, request)
        except AlpacaRefused as exc:
            self._emit([self.updates.rejected(order, exc.message)])
            return
        self._report("new", raw)

    def _send(self, order: Order, request: Any) -> dict[str, Any]:
        urgent = order.reduce_only
        submit = self.rest.client.submit_order
        try:
            return self.rest.call("submit an order", lambda: submit(request), urgent=urgent)
        except AlpacaRefused as exc:
            if not (order.reduce_only and _NO_QTY in exc.message):
                raise
        # A close refused because the exits of a bracket hold the shares: cancel them, retry.
        for working in self.open_orders():
            if working.symbol == order.symbol and working.side is order.side:
                self.cancel(working.id)
        return self.rest.call("submit an order", lambda: submit(request), urgent=True)

    def cancel(self, order_id: str) -> CancelOutcome:
        venue_id = self.updates.venue_id(order_id) or self._lookup(order_id)
        if venue_id is None:
            return CancelOutcome(order_id, False, "unknown", "Alpaca does not know this order")
        delete = self.rest.client.cancel_order_by_id
        try:
            self.rest.call("cancel an order", lambda: delete(venue_id), urgent=True)
        except AlpacaRefused as exc:
            return CancelOutcome(order_id, False, "cancel_refused", exc.message)
        return CancelOutcome(order_id, True, "pending_cancel")

    def cancel_all(self) -> list[CancelOutcome]:
        answers = self.rest.call(
            "cancel all orders", lambda: self.rest.client.cancel_orders(), urgent=True
        )
        outcomes = []
        for answer in answers or []:
            venue_id = str(answer.get("id"))
            body = answer.get("body") or {}
            if body.get("id"):  # the order itself: it names itself
                self.updates.learn(body)
            order_id = self.updates.vigil_id(venue_id) or venue_id
            if 200 <= int(answer.get("status") or 0) < 300:
                outcomes.append(CancelOutcome(order_id, True, str(body.get("status") or "")))
            else:
                reason = str(body.get("message") or f"status {answer.get('status')}")
                outcomes.append(CancelOutcome(order_id, False, "cancel_refused", reason))
        return outcomes

    def close_position(self, symbol: str, qty: float | None = None) -> Order | None:
        held = [p for p in self.positions() if p.symbol == symbol]
        if not held:
            return None
        side = Side.SELL if held[0].qty > 0 else Side.BUY
        for working in self.open_orders():  # exits hold the shares: Alpaca would refuse
            if working.symbol == symbol and working.side is side:
                self.cancel(working.id)
        options = ClosePositionRequest(qty=f"{qty:g}") if qty is not None else None
        alpaca_symbol = symbol.replace("/", "")
        close = self.rest.client.close_position
        try:
            raw = self.rest.call(
                "close a position", lambda: close(alpaca_symbol, options), urgent=True
            )
        except AlpacaRefused as exc:
            if exc.status == 404:
                return None
            raise VenueError(f"alpaca refused to close {symbol}: {exc.message}") from None
        self._report("new", raw)
        order = self.updates.describe(raw, source="venue")
        order.reduce_only = True
        return order

    def close_all_positions(self) -> list[dict[str, Any]]:
        """DELETE /v2/positions with cancel_orders: Alpaca's own flatten, one answer per symbol."""
        answers = self.rest.call(
            "close all positions",
            lambda: self.rest.client.close_all_positions(cancel_orders=True),
            urgent=True,
        )
        for answer in answers or []:
            body = answer.get("body") or {}
            if body.get("id"):
                self._report("new", body)
        return list(answers or [])

    def replace_stops(
        self, symbol: str, stop_loss: float | None, take_profit: float | None
    ) -> list[Order]:
        changed: list[Order] = []
        for working in self.open_orders():
            if working.symbol != symbol or working.parent_id is None:
                continue
            if working.type is OrderType.STOP and stop_loss is not None:
                if working.stop_price == stop_loss:
                    continue
                request = ReplaceOrderRequest(stop_price=stop_loss)
            elif working.type is OrderType.LIMIT and take_profit is not None:
                if working.limit_price == take_profit:
                    continue
                request = ReplaceOrderRequest(limit_price=take_profit)
            else:
                continue
            try:
                raw = self.rest.call(
                    "replace an order",
                    lambda v=working.venue_order_id, r=request: (
                        self.rest.client.replace_order_by_id(v, r)
                    ),
                    urgent=True,
                )
            except AlpacaRefused as exc:
                raise VenueError(f"alpaca refused to move {working.id}: {exc.message}") from None
            self._report("new", raw)
            changed.append(self.updates.describe(raw))
        return changed

    def on_market(self, event: MarketEvent) -> None:
        """Alpaca matches orders itself: Vigil's market data is not its business."""

    # ----- internals -----
    def _poll(self) -> None:
        next_clock = self._clock.monotonic() + 60.0
        while not self._stop.wait(self.poll_s):
            try:
                account = self.account()
                self._emit([AccountEvent(account, self._clock.time())])
                if self._clock.monotonic() >= next_clock:
                    next_clock = self._clock.monotonic() + 60.0
                    self.refresh_clock()
            except VenueError as exc:
                log.warning("alpaca poll: %s", exc)

    def _read(self, what: str, fn: Any) -> Any:
        try:
            return self.rest.call(what, fn)
        except AlpacaRefused as exc:
            raise VenueError(f"alpaca refused to {what} ({exc.status}): {exc.message}") from None

    def _lookup(self, order_id: str) -> str | None:
        find = self.rest.client.get_order_by_client_id
        try:
            raw = self.rest.call(
                "find an order", lambda: find(self.updates.client_id(order_id)), urgent=True
            )
        except AlpacaRefused:
            return None
        self.updates.learn(raw)
        return str(raw.get("id"))

    def _report(self, event: str, raw: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        with self._emit_lock:
            self._emit(self.updates.translate(event, raw, extra))

    def _emit(self, events: list[OrderEvent] | list[VenueEvent]) -> None:
        if self._sink is None:
            return
        with self._emit_lock:
            for event in events:
                self._sink(event)

    def _connection(self, state: ConnectionState, attempt: int, message: str) -> None:
        event = ConnectionEvent("broker", self.name, state, self._clock.time(), attempt, message)
        self._emit([event])


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
