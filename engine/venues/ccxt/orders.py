"""The crypto broker's order work on its own thread: place, poll fills and states, cancel,
close, brackets. Mixed into CcxtBroker, which provides the exchange, rules and reporting."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.clock import Clock
from engine.models import Order, OrderStatus, OrderType
from engine.venues.base import CancelOutcome, OrderEventKind, VenuePosition
from engine.venues.ccxt import errors
from engine.venues.ccxt.exchange import MarketRules
from engine.venues.ccxt.settings import CcxtSettings
from engine.venues.ccxt.translate import (
    Trade,
    order_args,
    trade,
    vigil_order,
)
from engine.venues.net import Backoff

_EPS = 1e-9
_TERMINAL = {
    "canceled": OrderEventKind.CANCELED,
    "expired": OrderEventKind.EXPIRED,
    "rejected": OrderEventKind.REJECTED,
}
# Trades this far back are fetched again at start: the exchange's clock and ours differ.
SINCE_MARGIN_MS = 5_000
MEMORY = 20_000  # trade ids and order ids remembered


@dataclass
class Tracked:
    order: Order
    venue_id: str
    trigger: bool
    filled: float = 0.0


class OrderBookkeeping:
    exchange: Any
    settings: CcxtSettings
    rules: dict[str, MarketRules]
    swap: bool
    _clock: Clock
    _backoff: Backoff
    _fault: Callable[[BaseException], None]
    _report_rejected: Callable[[Order, str], None]
    _event: Callable[..., None]
    _positions: Callable[[], list[VenuePosition]]
    _fetch_open: Callable[[MarketRules], list[dict[str, Any]]]
    _after_fill: Callable[[Tracked], None]

    def __init__(self) -> None:
        self.tracked: dict[str, Tracked] = {}
        self._vigil_ids: dict[str, str] = {}  # venue order id -> Vigil id
        self._seen: dict[str, None] = {}  # trade ids reported (insertion-ordered, bounded)
        self._since: dict[str, int] = {}
        self._start_ms = int(time.time() * 1000) - SINCE_MARGIN_MS
        self._bought: dict[str, tuple[float, float]] = {}  # spot: qty, cost of what we hold
        self._close_seq = 0
        self._ended: dict[str, OrderEventKind] = {}  # how orders left `tracked`

    def avg_price(self, symbol: str) -> float:
        qty, cost = self._bought.get(symbol, (0.0, 0.0))
        return cost / qty if qty > _EPS else 0.0

    # ----- placing -----
    def _place(self, order: Order, describe: bool = False) -> bool:
        """Send one order (retrying faults, finding it if a lost answer had placed it); report
        ACCEPTED or REJECTED. True when the exchange holds it."""
        rules = self.rules[order.symbol]
        trigger = order.type is OrderType.STOP
        raw: dict[str, Any] | None = None
        for attempt in range(self.settings.submit_attempts):
            try:
                args = order_args(order, rules, self.swap, self.settings.exchange)
                raw = self.exchange.create_order(**args)
                break
            except Exception as exc:  # noqa: BLE001 - any ccxt failure is sorted by errors.classify
                fate = errors.classify(exc)
                if fate is not errors.Fate.RETRY:
                    if fate is errors.Fate.AUTH:
                        self._fault(exc)
                    self._report_rejected(order, errors.message(exc))
                    return False
                self._fault(exc)
                raw = self._lookup(order.id, rules, trigger)
                if raw is not None:
                    break
                if attempt + 1 < self.settings.submit_attempts:
                    time.sleep(self._backoff.next_delay())
        if raw is None:
            self._report_rejected(order, "not sent: the exchange did not answer")
            return False
        venue_id = str(raw.get("id") or "")
        self.tracked[order.id] = Tracked(order, venue_id, trigger)
        self._vigil_ids[venue_id] = order.id
        shown = dataclasses.replace(order, status=OrderStatus.ACCEPTED, venue_order_id=venue_id)
        self._event(OrderEventKind.ACCEPTED, order, venue_id, order=shown if describe else None)
        self._sync_symbol(order.symbol)
        return True

    def _lookup(self, client_id: str, rules: MarketRules, trigger: bool) -> dict[str, Any] | None:
        params: dict[str, Any] = {"clientOrderId": client_id}
        if trigger and self.swap:
            params["trigger"] = True
        try:
            return self.exchange.fetch_order(None, rules.ccxt_symbol, params)
        except Exception:  # noqa: BLE001 - not found or not reachable: try sending
            return None

    def _adopt_open_orders(self) -> None:
        """At start: the exchange's open orders (ours from before a restart, or anyone's) are
        tracked so their fills and cancels are reported under their client ids."""
        for rules in self.rules.values():
            for raw in self._fetch_open(rules):
                order = vigil_order(raw, rules.vigil)
                trigger = order.type is OrderType.STOP
                self.tracked[order.id] = Tracked(
                    order, order.venue_order_id, trigger, order.filled_qty
                )
                self._vigil_ids[order.venue_order_id] = order.id

    # ----- polling -----
    def _sync_symbol(self, symbol: str) -> None:
        rules = self.rules[symbol]
        self._sync_trades(rules)
        open_ids = {str(raw.get("id")) for raw in self._fetch_open(rules)}
        for tracked in [t for t in self.tracked.values() if t.order.symbol == symbol]:
            if tracked.venue_id in open_ids:
                continue
            raw = self._fetch_order(tracked, rules)
            status = str(raw.get("status"))
            actual = (raw.get("info") or {}).get("actualOrderId")
            if actual:  # a triggered conditional order trades under a new order id
                self._vigil_ids[str(actual)] = tracked.order.id
            if status in _TERMINAL:
                self._sync_trades(rules)
                if tracked.order.id in self.tracked:
                    self._finish(tracked, _TERMINAL[status])
            elif status == "closed" and actual:
                self._sync_trades(rules)

    def _fetch_order(self, tracked: Tracked, rules: MarketRules) -> dict[str, Any]:
        params = {"trigger": True} if tracked.trigger and self.swap else {}
        return self.exchange.fetch_order(tracked.venue_id, rules.ccxt_symbol, params)

    def _sync_trades(self, rules: MarketRules) -> None:
        # Never older than the exchange's window (see _fills_since): after a quiet day the
        # window from the last trade would end before today's.
        floor = int((self._clock.time() - self._window_s()) * 1000)
        since = max(self._since.get(rules.vigil, self._start_ms), floor)
        raws = self.exchange.fetch_my_trades(rules.ccxt_symbol, since=since)
        for raw in sorted(raws, key=lambda r: (r.get("timestamp") or 0, str(r.get("id")))):
            done = trade(raw, rules)
            if done.id in self._seen:
                continue
            self._seen[done.id] = None
            _bound(self._seen)
            self._since[rules.vigil] = max(since, int(done.ts * 1000))
            self._on_trade(done, rules)

    def _on_trade(self, done: Trade, rules: MarketRules) -> None:
        vigil_id = self._vigil_id(done.venue_order_id, rules)
        fill = done.fill(vigil_id, self.settings.exchange)
        if not self.swap:
            qty, cost = self._bought.get(rules.vigil, (0.0, 0.0))
            if done.side.sign > 0:
                self._bought[rules.vigil] = (qty + done.qty, cost + done.qty * done.price)
            elif qty > _EPS:
                left = max(qty - done.qty, 0.0)
                self._bought[rules.vigil] = (left, cost * left / qty)
        tracked = self.tracked.get(vigil_id)
        if tracked is None:
            self._event(OrderEventKind.FILLED, _stub(vigil_id, rules.vigil), done.venue_order_id,
                        fill=fill)  # fmt: skip
            return
        tracked.filled += done.gross_qty or done.qty
        final = tracked.filled >= tracked.order.qty - _EPS
        kind = OrderEventKind.FILLED if final else OrderEventKind.PARTIALLY_FILLED
        self._event(kind, tracked.order, tracked.venue_id, fill=fill)
        if final:
            self._untrack(tracked)
            self._after_fill(tracked)

    def _window_s(self) -> float:
        return (7 if self.swap else 1) * 86_400 - 60

    def _vigil_id(self, venue_id: str, rules: MarketRules) -> str:
        known = self._vigil_ids.get(venue_id)
        if known is not None:
            return known
        try:
            raw = self.exchange.fetch_order(venue_id, rules.ccxt_symbol)
            client_id = str(raw.get("clientOrderId") or venue_id)
        except Exception:  # noqa: BLE001 - unknown: the venue id stands in
            client_id = venue_id
        self._vigil_ids[venue_id] = client_id
        return client_id

    def _finish(self, tracked: Tracked, kind: OrderEventKind, reason: str = "") -> None:
        self._untrack(tracked, kind)
        self._event(kind, tracked.order, tracked.venue_id, reason=reason)

    def _untrack(self, tracked: Tracked, kind: OrderEventKind = OrderEventKind.FILLED) -> None:
        self.tracked.pop(tracked.order.id, None)
        self._ended[tracked.order.id] = kind
        _bound(self._ended)
        _bound(self._vigil_ids)

    def _fills_since(self, ts: float) -> list[Any]:
        # Binance answers a start time only within a window from it (spot 24 h, futures 7 d):
        # an older start would list nothing, so the exchange's most recent trades are asked.
        since = int(ts * 1000) if ts > self._clock.time() - self._window_s() else None
        fills = []
        for rules in self.rules.values():
            for raw in self.exchange.fetch_my_trades(rules.ccxt_symbol, since=since):
                done = trade(raw, rules)
                vigil_id = self._vigil_id(done.venue_order_id, rules)
                fills.append(done.fill(vigil_id, self.settings.exchange))
        return fills

    # ----- cancelling and closing (the kill path) -----
    def _cancel_one(self, order_id: str) -> CancelOutcome:
        tracked = self.tracked.get(order_id)
        if tracked is None:
            return CancelOutcome(order_id, False, "unknown", "not open at the exchange")
        return self._cancel_tracked(tracked)

    def _cancel_tracked(self, tracked: Tracked) -> CancelOutcome:
        rules = self.rules[tracked.order.symbol]
        try:
            self.exchange.cancel_order(
                tracked.venue_id, rules.ccxt_symbol, trigger_params(tracked, self.swap)
            )
        except Exception as exc:  # noqa: BLE001 - any ccxt failure is sorted by errors.classify
            if errors.classify(exc) is not errors.Fate.REFUSED:
                self._fault(exc)
                return CancelOutcome(tracked.order.id, False, "unconfirmed", errors.describe(exc))
            self._sync_symbol(rules.vigil)  # it may have filled meanwhile
            if tracked.order.id not in self.tracked:
                return CancelOutcome(tracked.order.id, False, "closed", errors.message(exc))
            return CancelOutcome(tracked.order.id, False, "open", errors.message(exc))
        self._sync_trades(rules)
        if tracked.order.id in self.tracked:
            self._finish(tracked, OrderEventKind.CANCELED)
        return CancelOutcome(tracked.order.id, True, OrderStatus.CANCELED.value)

    def _cancel_everything(self) -> list[CancelOutcome]:
        """Per symbol: the exchange's cancel-all, then each order still open cancelled on its
        own; one outcome per order the exchange listed or Vigil tracked."""
        outcomes: list[CancelOutcome] = []
        for rules in self.rules.values():
            try:
                for raw in self._fetch_open(rules):
                    order = vigil_order(raw, rules.vigil)
                    if order.id not in self.tracked:
                        trigger = order.type is OrderType.STOP
                        self.tracked[order.id] = Tracked(order, order.venue_order_id, trigger)
            except Exception as exc:  # noqa: BLE001 - any ccxt failure is sorted by errors.classify
                self._fault(exc)
            listed = [t.order.id for t in self.tracked.values() if t.order.symbol == rules.vigil]
            if listed:
                self._cancel_symbol(rules)
            for order_id in listed:
                tracked = self.tracked.get(order_id)
                if tracked is not None:
                    outcomes.append(self._cancel_tracked(tracked))
                elif self._ended.get(order_id) is OrderEventKind.CANCELED:
                    outcomes.append(CancelOutcome(order_id, True, OrderStatus.CANCELED.value))
                else:
                    status = str(self._ended.get(order_id, "closed"))
                    outcomes.append(CancelOutcome(order_id, False, status, f"{status} first"))
        return outcomes

    def _cancel_symbol(self, rules: MarketRules) -> None:
        try:  # one request per symbol; what it leaves open is cancelled one by one after
            self.exchange.cancel_all_orders(rules.ccxt_symbol)
            if self.swap and self.settings.exchange == "binance":
                self.exchange.cancel_all_orders(rules.ccxt_symbol, {"trigger": True})
        except Exception as exc:  # noqa: BLE001 - any ccxt failure is sorted by errors.classify
            if errors.classify(exc) is not errors.Fate.REFUSED:
                self._fault(exc)
        try:
            self._sync_symbol(rules.vigil)  # fills first, then what was cancelled
        except Exception as exc:  # noqa: BLE001 - any ccxt failure is sorted by errors.classify
            self._fault(exc)

    def _close(self, symbol: str, qty: float | None) -> Order | None:
        held = next((p for p in self._positions() if p.symbol == symbol), None)
        if held is None or abs(held.qty) < _EPS:
            return None
        rules = self.rules[symbol]
        amount = rules.round_qty(abs(held.qty) if qty is None else min(qty, abs(held.qty)))
        self._close_seq += 1
        now = self._clock.time()
        order = Order(
            id=f"CL-{rules.market_id}-{int(now * 1000) % 10**10}-{self._close_seq}",
            symbol=symbol, side=_closing_side(held.qty), qty=amount, type=OrderType.MARKET,
            status=OrderStatus.NEW, created_ts=now, updated_ts=now, reduce_only=True,
            source="venue",
        )  # fmt: skip
        self._place(order)
        return order


def _bound(memory: dict[str, Any], limit: int = MEMORY) -> None:
    """Forget the oldest entries: a process that runs for months must not grow for ever."""
    while len(memory) > limit:
        del memory[next(iter(memory))]


def trigger_params(tracked: Tracked, swap: bool) -> dict[str, Any]:
    """ccxt's params for a Binance futures conditional (algo) order's own endpoints."""
    return {"trigger": True} if tracked.trigger and swap else {}


def _closing_side(qty: float) -> Any:
    from engine.models import Side

    return Side.SELL if qty > 0 else Side.BUY


def _stub(order_id: str, symbol: str) -> Order:
    from engine.models import Side

    return Order(order_id, symbol, Side.BUY, 0.0, OrderType.MARKET, OrderStatus.ACCEPTED, 0.0, 0.0)
