"""CcxtBroker: an account on a crypto exchange through ccxt, on the venue's own thread.

Orders go out as the exchange's orders with Vigil's id as the client order id; their fate
comes back by polling the account's trades and open orders (no websocket) and is reported
as OrderEvents. Brackets are Vigil's own on the exchange: when an entry fills, a reduce-only
stop-market and a reduce-only limit are placed (ids <entry>-SL / -TP), one cancelling the
other. ccxt's exceptions are sorted by errors.classify: faults retry with backoff and report
RECONNECTING (the error-rate breaker counts them), refusals reject the order with the
exchange's words, an authentication failure reports DISCONNECTED with halt set.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from engine.clock import Clock, SystemClock
from engine.models import Fill, Instrument, Order, OrderRequest, Side
from engine.venues.base import (
    AccountEvent,
    CancelOutcome,
    ConnectionEvent,
    ConnectionState,
    MarketEvent,
    OrderEvent,
    OrderEventKind,
    VenueAccount,
    VenueError,
    VenuePosition,
    VenueSink,
)
from engine.venues.ccxt import errors
from engine.venues.ccxt.brackets import Brackets
from engine.venues.ccxt.exchange import BELOW_MINIMUM, MarketRules, make_exchange, resolve_markets
from engine.venues.ccxt.orders import OrderBookkeeping
from engine.venues.ccxt.settings import CcxtSettings
from engine.venues.ccxt.translate import PerpPosition, account, perp_position, vigil_order
from engine.venues.ccxt.worker import VenueThread
from engine.venues.mode import TradingModeSettings, check_live_account
from engine.venues.net import Backoff

T = TypeVar("T")
NAME = "ccxt"
ACCOUNT_EVERY = 5  # polls between account reports
NOT_READY = "VENUE_NOT_READY"


class CcxtBroker(OrderBookkeeping, Brackets):
    name = NAME

    def __init__(
        self,
        settings: CcxtSettings,
        mode: TradingModeSettings,
        instruments: dict[str, Instrument],
        *,
        clock: Clock | None = None,
        exchange: Any = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.settings = settings
        self.mode = mode
        self.swap = settings.market == "swap"
        self.symbols = list(instruments)
        self._clock = clock or SystemClock()
        self.exchange = exchange or make_exchange(settings, mode.live)
        self._backoff = backoff or Backoff(base_s=0.5, cap_s=30.0)
        self.rules: dict[str, MarketRules] = {}
        self._sink: VenueSink | None = None
        self._thread = VenueThread(f"ccxt-broker-{settings.exchange}", self._poll, settings.poll_s)
        self._state = ConnectionState.CONNECTING
        self._message = ""
        self._polls = 0
        self.halt_reason = ""
        self.perp_positions: dict[str, PerpPosition] = {}
        self.last_account: VenueAccount | None = None
        self._ready = threading.Event()
        OrderBookkeeping.__init__(self)

    # ----- lifecycle -----
    def start(self, sink: VenueSink) -> None:
        self._sink = sink
        if self._state is not ConnectionState.CONNECTING:  # connect() ran before: say so now
            self._connection(self._state, self._message, halt=bool(self.halt_reason))
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop()

    def sync(self, timeout: float | None = None) -> None:
        """Poll now and return when done (tests; and a kill path that wants fresh news)."""
        self._call(self._poll, timeout)

    # ----- the engine asks -----
    def account(self) -> VenueAccount:
        return self._call(self._account)

    def positions(self) -> list[VenuePosition]:
        return self._call(self._positions)

    def open_orders(self) -> list[Order]:
        return self._call(self._open_orders)

    def fills_since(self, ts: float) -> list[Fill]:
        return self._call(lambda: self._fills_since(ts))

    def prepare(self, req: OrderRequest, price: float | None) -> tuple[OrderRequest, str, str]:
        """Round `req` to the exchange's precision; ("", "") or a denial code and message
        when it is under the exchange's minimum. Pure: no call to the exchange."""
        if not _positive(req.qty):
            return req, "", ""  # the gateway names what is wrong with it
        rules = self.rules.get(req.symbol)
        if rules is None:  # fail closed: without the exchange's rules nothing is checked
            return req, NOT_READY, f"{self.settings.exchange}'s markets are not loaded yet"
        rounded = dataclasses.replace(
            req,
            qty=rules.round_qty(req.qty),
            limit_price=_round(rules, req.limit_price),
            stop_price=_round(rules, req.stop_price),
            stop_loss=_round(rules, req.stop_loss),
            take_profit=_round(rules, req.take_profit),
        )
        ref = rounded.limit_price or rounded.stop_price or price
        problem = rules.minimum_problem(rounded.qty, None if req.reduce_only else ref)
        if problem is not None:
            if rounded.qty != req.qty:
                problem = f"{req.qty:g} rounds to {rounded.qty:g} at step {rules.step:g}: {problem}"
            return rounded, BELOW_MINIMUM, problem
        return rounded, "", ""

    def submit(self, order: Order) -> None:
        problem = _invalid(order)
        if problem is not None or order.symbol not in self.symbols:
            self._report_rejected(order, problem or f"{order.symbol} is not traded here")
            return
        # Urgent like cancels, in order: a cancel never overtakes the submit it cancels.
        self._thread.post(lambda: self._submit_task(order), urgent=True)

    def cancel(self, order_id: str) -> CancelOutcome:
        return self._call(lambda: self._cancel_one(order_id), urgent=True)

    def cancel_all(self) -> list[CancelOutcome]:
        return self._call(self._cancel_everything, urgent=True)

    def close_position(self, symbol: str, qty: float | None = None) -> Order | None:
        return self._call(lambda: self._close(symbol, qty), urgent=True)

    def replace_stops(
        self, symbol: str, stop_loss: float | None, take_profit: float | None
    ) -> list[Order]:
        return self._call(lambda: self._replace_stops(symbol, stop_loss, take_profit))

    def on_market(self, event: MarketEvent) -> None:
        pass  # the exchange matches; its book is not ours to feed

    def details(self) -> dict[str, Any]:
        """What the page shows about this venue (any thread; a snapshot of the last poll)."""
        return {
            "exchange": self.settings.exchange,
            "market": self.settings.market,
            "mode": "live" if self.mode.live else "testnet",
            "positions": [p.to_dict() for p in self.perp_positions.values()],
            "account": None if self.last_account is None else dataclasses.asdict(self.last_account),
            "halt_reason": self.halt_reason,
        }

    # ----- on the venue thread -----
    def _submit_task(self, order: Order) -> None:
        try:
            self._ensure_ready()
        except VenueError as exc:
            self._report_rejected(order, f"not sent: {exc}")
            return
        # Placed and reported; what failed after it (the fills' poll) is retried by the next poll.
        with contextlib.suppress(VenueError):
            self._translate(lambda: self._place(order))

    def _call(self, fn: Callable[[], T], timeout: float | None = None, urgent: bool = False) -> T:
        def guarded() -> T:
            self._ensure_ready()
            return self._translate(fn)

        return self._thread.call(guarded, timeout or self.settings.call_timeout_s, urgent=urgent)

    def _translate(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except VenueError:
            raise
        except Exception as exc:  # noqa: BLE001 - any ccxt failure is sorted by errors.classify
            self._fault(exc)
            raise VenueError(errors.describe(exc)) from None

    def _ensure_ready(self) -> None:
        if self._ready.is_set():
            return
        try:
            self.exchange.load_markets()
            self.rules = resolve_markets(
                self.exchange, self.symbols, "swap" if self.swap else "spot"
            )
            if self.mode.live:
                check_live_account(self.mode, self._account_id(), self.settings.exchange)
            self._adopt_open_orders()
        except VenueError:
            raise
        except ValueError as exc:  # the live-account guard: a refusal, said once
            self._halt(str(exc))
            raise VenueError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - any ccxt failure is sorted by errors.classify
            self._fault(exc)
            raise VenueError(errors.describe(exc)) from None
        self._ready.set()
        self._connected()

    def connect(self) -> None:
        """Load the markets and, in live mode, check the account now (the builder calls it
        before the thread starts, so a wrong live account refuses the start)."""
        self._call(lambda: None)

    def _account_id(self) -> str:
        """The account number the exchange reports for these keys (Binance: the user id of
        the spot account, shared by its futures; Bybit: the key's user id)."""
        if self.settings.exchange == "binance":
            return str(self.exchange.privateGetAccount().get("uid") or "")
        answer = self.exchange.privateGetV5UserQueryApi()
        return str((answer.get("result") or {}).get("userID") or "")

    def _poll(self) -> float:
        if self.halt_reason:
            return 30.0
        try:
            self._ensure_ready()
            self._translate(self._poll_once)
        except VenueError:
            return self._backoff.next_delay()
        self._backoff.reset()
        self._connected()
        return 0.0

    def _poll_once(self) -> None:
        for symbol in self.symbols:
            self._sync_symbol(symbol)
        self._polls += 1
        if self._polls % ACCOUNT_EVERY == 1:
            self._report_account()
            if self.swap:
                self._positions()  # liquidation price, leverage, P&L for the page

    def _report_account(self) -> None:
        self.last_account = self._account()
        self._emit(AccountEvent(self.last_account, self._clock.time()))

    def _account(self) -> VenueAccount:
        balance = self.exchange.fetch_balance()
        holdings = 0.0
        if not self.swap:
            totals = balance.get("total") or {}
            for rules in self.rules.values():
                qty = float(totals.get(rules.base) or 0.0)
                if qty:
                    ticker = self.exchange.fetch_ticker(rules.ccxt_symbol)
                    holdings += qty * float(ticker.get("bid") or ticker.get("last") or 0.0)
        mode = "live" if self.mode.live else "paper"
        quote = next(iter(self.rules.values())).quote if self.rules else "USDT"
        return account(balance, quote, self.swap, holdings, mode)

    def _positions(self) -> list[VenuePosition]:
        if self.swap:
            raw = self.exchange.fetch_positions([r.ccxt_symbol for r in self.rules.values()])
            by_symbol = {r.ccxt_symbol: r for r in self.rules.values()}
            found = {}
            for entry in raw:
                rules = by_symbol.get(entry.get("symbol"))
                position = perp_position(entry, rules) if rules else None
                if position is not None:
                    found[position.symbol] = position
            self.perp_positions = found
            return [p.venue() for p in found.values()]
        totals = self.exchange.fetch_balance().get("total") or {}
        held = []
        for rules in self.rules.values():
            qty = float(totals.get(rules.base) or 0.0)
            if qty >= rules.min_qty:  # dust below the minimum cannot be traded or closed
                held.append(VenuePosition(rules.vigil, qty, self.avg_price(rules.vigil)))
        return held

    def _open_orders(self) -> list[Order]:
        found: list[Order] = []
        for rules in self.rules.values():
            for raw in self._fetch_open(rules):
                order = vigil_order(raw, rules.vigil)
                known = self.tracked.get(order.id)
                if known is not None:
                    order = dataclasses.replace(
                        known.order, status=order.status, filled_qty=order.filled_qty,
                        venue_order_id=order.venue_order_id,
                    )  # fmt: skip
                found.append(order)
        return found

    def _fetch_open(self, rules: MarketRules) -> list[dict[str, Any]]:
        raw = list(self.exchange.fetch_open_orders(rules.ccxt_symbol))
        if self.swap and self.settings.exchange == "binance":
            raw += self.exchange.fetch_open_orders(rules.ccxt_symbol, params={"trigger": True})
        return raw

    # ----- faults and connection -----
    def _fault(self, exc: BaseException) -> None:
        if errors.clock_skew(exc):
            with contextlib.suppress(Exception):  # the retry says whether it worked
                self.exchange.load_time_difference()
        fate = errors.classify(exc)
        if fate is errors.Fate.AUTH:
            self._halt(f"{self.settings.exchange} refused the API key: {errors.message(exc)}")
            return
        self._connection(ConnectionState.RECONNECTING, errors.describe(exc))

    def _halt(self, reason: str) -> None:
        self.halt_reason = reason
        self._connection(ConnectionState.DISCONNECTED, reason, halt=True)

    def _connected(self) -> None:
        if self._state is not ConnectionState.CONNECTED:
            self._connection(ConnectionState.CONNECTED, "")

    def _connection(self, state: ConnectionState, message: str, halt: bool = False) -> None:
        self._state, self._message = state, message
        attempt = self._backoff.attempt
        self._emit(
            ConnectionEvent("broker", NAME, state, self._clock.time(), attempt, message, halt)
        )

    def _emit(self, event: Any) -> None:
        if self._sink is not None:
            self._sink(event)

    def _report_rejected(self, order: Order, reason: str) -> None:
        self._emit(
            OrderEvent(OrderEventKind.REJECTED, order.id, "", order.symbol, self._clock.time(),
                       reason=reason)
        )  # fmt: skip

    def _event(self, kind: OrderEventKind, subject: Order, venue_id: str, **kw: Any) -> None:
        self._emit(OrderEvent(kind, subject.id, venue_id, subject.symbol, self._clock.time(), **kw))


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def _round(rules: MarketRules, price: float | None) -> float | None:
    return rules.round_price(price) if _positive(price) else price


def _invalid(order: Order) -> str | None:
    if not _positive(order.qty):
        return f"quantity {order.qty} must be a positive number"
    if order.side not in (Side.BUY, Side.SELL):
        return "unknown side"
    return None
