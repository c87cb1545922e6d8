"""TradingDesk: orders, fills, positions and P&L — the one order path, run on the engine thread.

An order goes out through the gateway and the venue (status new: sent, unconfirmed); its fate
comes back later as OrderEvents on the engine's queue, which the order state machine
(engine/trading/orders.py) applies and the ledger and store book.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from typing import Any

from engine.bus import EventBus
from engine.clock import Clock
from engine.commands import error
from engine.market.view import MarketView
from engine.models import (
    ClosedTrade,
    Fill,
    KillLevel,
    Order,
    OrderRequest,
    OrderStatus,
    Side,
)
from engine.payloads import order_payload, trade_payload
from engine.safety.checks import PreTradeContext
from engine.safety.manager import SafetyManager
from engine.state import DashboardState
from engine.store import Store
from engine.trading.exits import exit_reason
from engine.trading.halting import KillSwitchExecutor
from engine.trading.ledger import Ledger
from engine.trading.operator_actions import OperatorActions
from engine.trading.orders import OrderTracker
from engine.trading.publishing import DeskPublishing
from engine.trading.unsaved import DurableWriter
from engine.trading.venue_reports import VenueReports
from engine.venues.base import Broker, VenueError

log = logging.getLogger(__name__)
TRADE_HISTORY_LIMIT = 200
STORE_ACTOR = "system:store"
NOT_DURABLE = "NOT_DURABLE"


class TradingDesk(DeskPublishing, VenueReports, KillSwitchExecutor, OperatorActions):
    def __init__(
        self,
        *,
        clock: Clock,
        bus: EventBus,
        state: DashboardState,
        store: Store,
        broker: Broker,
        ledger: Ledger,
        market: MarketView,
        safety: SafetyManager,
        starting_balance: float,
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._state = state
        self._store = store
        self.broker = broker
        self.ledger = ledger
        self.market = market
        self.safety = safety
        self.starting_balance = starting_balance
        self.strategy_attached = True
        self.trades: deque[ClosedTrade] = deque(maxlen=TRADE_HISTORY_LIMIT)
        # Every closed trade, oldest first, for the performance metrics; `trades` is the
        # page's recent history only.
        self.all_trades: list[ClosedTrade] = []
        self.performance_dirty = False
        self.realized_today = 0.0
        self.session_start = 0.0
        # Ids of every fill in the ledger: a fill the broker sends again is booked once,
        # whether or not the store could take it the first time.
        self._booked_fill_ids: set[str] = set()
        self._writer = DurableWriter(store, bus, clock, self._halt_for_storage)
        self._audit = self._writer.audit
        self.orders = OrderTracker()
        # Orders the last kill switch could not get the venue to confirm as cancelled.
        self.unconfirmed_at_halt: list[str] = []

    # ----- restart -----
    def restore(self, session_start: float) -> None:
        """Rebuild positions, cash and P&L from the store's fills; reload open orders."""
        for fill in self._store.load_fills():
            self.ledger.apply(fill)
            if fill.id:
                self._booked_fill_ids.add(fill.id)
        # Every stored order, so that new order ids never repeat old ones; open ones are
        # tracked again and matched to the venue's events by Vigil's id.
        self.orders.restore(self._store.load_orders())
        self.trades.extend(reversed(self._store.load_trades(limit=TRADE_HISTORY_LIMIT)))
        self.start_session(session_start)

    def start_session(self, session_start: float) -> None:
        self.session_start = session_start
        unsaved = sum(t.pnl for t in self._writer.pending.trades if t.exit_ts >= session_start)
        self.realized_today = self._store.realized_pnl_since(session_start) + unsaved

    # ----- numbers -----
    @property
    def daily_pnl(self) -> float:
        return self.realized_today + self.ledger.unrealized_pnl

    # ----- the one order path -----
    def submit(self, req: OrderRequest, actor: str) -> dict[str, Any]:
        now = self._clock.time()
        self._bus.publish(
            "order_placing",
            {
                "symbol": req.symbol,
                "side": str(req.side),
                "qty": req.qty,
                "order_type": str(req.type),
                "source": req.source,
            },
        )
        if req.symbol not in self.market.instruments:
            return self._deny(req, actor, "UNKNOWN_SYMBOL", f"unknown symbol {req.symbol!r}")
        # A venue with its own precision and minimums (ccxt) rounds the order first, so the
        # checks see what would be sent, and denies what the exchange would refuse.
        prepare = getattr(self.broker, "prepare", None)
        if prepare is not None:
            quote = self.market.quote(req.symbol)
            touch = None if quote is None else quote.ask if req.side is Side.BUY else quote.bid
            req, code, message = prepare(req, touch)
            if code:
                return self._deny(req, actor, code, message)
        denial = self.safety.review(req, self._context(req, now))
        if denial is not None:
            return self._deny(req, actor, denial.code, denial.message)
        self.safety.record_order(now)
        order = self._send(req, now)
        if order.status is OrderStatus.REJECTED:
            self._venue_rejected(order, actor)
            return error("BROKER_UNAVAILABLE", order.reject_reason)
        self._bus.publish("order_placed", {"order": order_payload(order)})
        if req.source != "strategy":
            self._audit(
                actor, "order_placed", outcome=order.status.value, details=order_payload(order)
            )
        self.publish_orders()
        result: dict[str, Any] = {"ok": True, "order": order_payload(order)}
        return self._with_durability(result)

    def _send(self, req: OrderRequest, now: float) -> Order:
        """Give the order Vigil's id, track it as new (sent, unconfirmed) and send it. The
        tracker holds it before the venue sees it: in flight, it counts against the limits."""
        order = Order.from_request(self.orders.next_id(), req, now)
        self.orders.add(order)
        try:
            self.broker.submit(dataclasses.replace(order))
        except VenueError as exc:
            self.orders.close(order.id, OrderStatus.REJECTED, f"not sent: {exc}", now)
        found = self.orders.get(order.id)
        assert found is not None
        return found

    def _with_durability(self, result: dict[str, Any]) -> dict[str, Any]:
        """The truth for the operator: done, but not yet on disk if the store refused it."""
        self._save()
        if self.storage_problem:
            count = self.unsaved_fills
            kept = f"{count} fill{'' if count == 1 else 's'}" if count else "the records"
            result["warning"] = {
                "code": NOT_DURABLE,
                "message": f"done, but not yet saved ({self.storage_problem}); "
                f"{kept} kept in memory, retrying",
            }
        return result

    def _context(self, req: OrderRequest, now: float) -> PreTradeContext:
        state, paused = self.safety.context_state()
        quote = self.market.quote(req.symbol)
        multiplier = self.market.instruments[req.symbol].multiplier
        pending_notional = 0.0
        if quote is not None:
            for order in self.orders.in_flight():
                same = order.symbol == req.symbol and order.side is req.side
                if same and not order.reduce_only:
                    pending_notional += order.remaining * quote.mid * multiplier
        window_start = now - self.safety.limits.order_rate_window_s
        return PreTradeContext(
            now=now,
            trading_state=state,
            entries_paused=paused,
            quote=quote,
            position_qty=self.exposure(req.symbol),
            open_positions=self.open_position_count,
            recent_order_times=[t for t in self.safety.order_times if t >= window_start],
            daily_pnl=self.daily_pnl,
            multiplier=self.market.instruments[req.symbol].multiplier,
            lot_size=self.market.instruments[req.symbol].lot_size,
            store_writable=not self.storage_problem,
            pending_notional=pending_notional,
            market_closed=_market_closed(self.broker, req.symbol),
        )

    def exposure(self, symbol: str) -> float:
        """The position once every order in flight has filled: what the limits must see."""
        position = self.ledger.position(symbol)
        held = position.qty if position else 0.0
        return held + sum(
            o.side.sign * o.remaining for o in self.orders.in_flight() if o.symbol == symbol
        )

    @property
    def open_position_count(self) -> int:
        """Positions held, plus symbols where only an entry in flight would open one."""
        held = set(self.ledger.positions())
        pending = {o.symbol for o in self.orders.in_flight() if abs(self.exposure(o.symbol)) > 0}
        return len(held | pending)

    def _deny(self, req: OrderRequest, actor: str, code: str, message: str) -> dict[str, Any]:
        payload = {
            "code": code,
            "message": message,
            "symbol": req.symbol,
            "side": str(req.side),
            "qty": req.qty,
            "source": req.source,
        }
        self._bus.publish("risk_limit", payload)
        self._audit(actor, "order_denied", reason=message, outcome=code, details=payload)
        self._save()
        return error(code, message)

    def apply_fills(self, fills: list[Fill], source: str = "broker") -> None:
        """Book every fill the broker reports: ledger first, then the store, then the page.

        Memory is the truth the engine trades on. If the store refuses the write, the fill is
        kept in memory, trading halts and the write is retried (see `retry_unsaved`).
        """
        if not fills:
            return
        self.safety.mark_dirty()
        touched: set[str] = set()
        try:
            for fill in fills:
                if self._book(fill, source):
                    touched.add(fill.symbol)
        finally:
            # What was booked before a fill the ledger refused is kept and saved all the same.
            # (Brackets left larger than the position are the venue's to cut or cancel: it
            # reports that as order events.)
            self._save()
        self.publish_positions()
        self.publish_account()
        self.publish_orders()

    def _book(self, fill: Fill, source: str) -> bool:
        """Put one fill in the ledger and queue it for the store; False if booked before."""
        if fill.id and fill.id in self._booked_fill_ids:
            return False  # the broker sent this fill before; booking it twice would lie
        trades = self.ledger.apply(fill)
        if fill.id:
            self._booked_fill_ids.add(fill.id)
        self._writer.add_fill(fill)
        self.market.add_marker(
            fill.symbol,
            fill.ts,
            str(fill.side),
            "fill",
            fill.price,
            f"{fill.side.value[0].upper()} {fill.qty:g}",
        )
        self._bus.publish(
            "trade_executed",
            {
                "symbol": fill.symbol,
                "side": str(fill.side),
                "qty": fill.qty,
                "price": fill.price,
                "fee": fill.fee,
                "order_id": fill.order_id,
                "source": source,
            },
        )
        reason = exit_reason(self.orders.get(fill.order_id))
        for trade in trades:
            self._record_trade(dataclasses.replace(trade, exit_reason=reason))
        return True

    def _record_trade(self, trade: ClosedTrade) -> None:
        self._writer.add_trade(trade)
        self.trades.append(trade)
        self.all_trades.append(trade)
        self.performance_dirty = True
        if trade.exit_ts >= self.session_start:
            self.realized_today += trade.pnl
        history = [trade_payload(t) for t in reversed(self.trades)]
        self._state.set("trades", history)
        self._bus.publish("trade_history_update", {"trades": history, "new": trade_payload(trade)})

    # ----- durability -----
    @property
    def storage_problem(self) -> str:
        """Why the store is behind memory; "" when everything booked is on disk."""
        return self._writer.problem

    @property
    def unsaved_fills(self) -> int:
        """Fills in the ledger that the store has not taken yet (health is ERROR while > 0)."""
        return len(self._writer.pending.fills)

    @property
    def unsaved_count(self) -> int:
        """Records of any kind (fills, trades, orders, audit rows) waiting for the store."""
        return self._writer.pending.count

    def retry_unsaved(self) -> bool:
        """Retry the writes the store refused; True when nothing is left unsaved.

        The runtime calls this periodically while `storage_problem` is set. Trading stays
        halted after a recovery until an operator resets the kill switch.
        """
        return self._save()

    def _save(self) -> bool:
        self._writer.add_orders(self.orders.drain_changed())
        return self._writer.save()

    def _halt_for_storage(self, reason: str) -> None:
        try:
            self.safety.engage(KillLevel.HALT, reason, STORE_ACTOR, self)
        except Exception:  # the halt must hold even if persisting it fails
            log.exception("engaging the kill switch failed; halting in memory")
            self.safety.hold_halt_in_memory(reason)
            self.detach_strategy(reason)
            self.cancel_all_orders(reason)


def _market_closed(broker: Any, symbol: str) -> str:
    """A venue with market hours (Alpaca) says why it would queue a market order now."""
    closed = getattr(broker, "market_closed_reason", None)
    return closed(symbol) if callable(closed) else ""
