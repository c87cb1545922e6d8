"""TradingDesk: orders, fills, positions and P&L — the one order path, run on the engine thread."""

from __future__ import annotations

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
    OrderType,
    Side,
)
from engine.payloads import order_payload, position_payload, trade_payload
from engine.safety.checks import PreTradeContext, review_protective_move
from engine.safety.manager import SafetyManager
from engine.state import DashboardState
from engine.store import Store
from engine.trading.ledger import Ledger
from engine.trading.unsaved import DurableWriter
from engine.venues.paper.broker import PaperBroker

log = logging.getLogger(__name__)
TRADE_HISTORY_LIMIT = 200
STORE_ACTOR = "system:store"
NOT_DURABLE = "NOT_DURABLE"


class TradingDesk:
    def __init__(
        self,
        *,
        clock: Clock,
        bus: EventBus,
        state: DashboardState,
        store: Store,
        broker: PaperBroker,
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

    # ----- restart -----
    def restore(self, session_start: float) -> None:
        """Rebuild positions, cash and P&L from the store's fills; reload open orders."""
        for fill in self._store.load_fills():
            self.ledger.apply(fill)
            if fill.id:
                self._booked_fill_ids.add(fill.id)
        # Every stored order, so that new order ids never repeat old ones.
        self.broker.restore_orders(self._store.load_orders())
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

    def account_payload(self) -> dict[str, Any]:
        equity = self.ledger.equity
        return {
            "balance": self.ledger.cash,
            "equity": equity,
            "starting_balance": self.starting_balance,
            "daily_pnl": self.daily_pnl,
            "total_pnl": equity - self.starting_balance,
            "realized_pnl": self.ledger.realized_pnl,
            "unrealized_pnl": self.ledger.unrealized_pnl,
            "fees": self.ledger.fees,
        }

    def publish_account(self) -> None:
        account = self.account_payload()
        self._state.set("account", account)
        self._bus.publish("pnl_update", account)

    def publish_positions(self) -> None:
        positions = [position_payload(p) for p in self.ledger.positions().values()]
        for entry in positions:
            child_prices = self._bracket_prices(entry["symbol"])
            entry.update(child_prices)
        self._state.set("positions", positions)
        self._bus.publish("positions_update", {"positions": positions})

    def publish_orders(self) -> None:
        orders = [order_payload(o) for o in self.broker.open_orders()]
        self._state.set("orders", orders)
        self._bus.publish("orders_update", {"orders": orders})

    def _bracket_prices(self, symbol: str) -> dict[str, float | None]:
        prices: dict[str, float | None] = {"stop_loss": None, "take_profit": None}
        position = self.ledger.position(symbol)
        for order in self.broker.protective_orders(symbol):
            # Only orders that close this position protect it.
            if position is None or position.qty * order.side.sign >= 0:
                continue
            key = "stop_loss" if order.type is OrderType.STOP else "take_profit"
            prices[key] = order.stop_price if order.type is OrderType.STOP else order.limit_price
        return prices

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
        denial = self.safety.review(req, self._context(req, now))
        if denial is not None:
            return self._deny(req, actor, denial.code, denial.message)
        self.safety.record_order(now)
        order, fills = self.broker.submit(req, now)
        if order.status is OrderStatus.REJECTED:
            # The gateway has already refused what an operator can get wrong, so a broker
            # that rejects what passed it is a fault of the venue: the error-rate breaker
            # counts it.
            self.safety.record_error(now)
            self._bus.publish(
                "error",
                {
                    "message": f"broker rejected {order.id}: {order.reject_reason}",
                    "where": "broker",
                },
            )
            if req.source != "strategy":
                self._audit(
                    actor,
                    "order_rejected",
                    reason=order.reject_reason,
                    outcome="rejected",
                    details=order_payload(order),
                )
            self._save()
            return error("BROKER_REJECTED", order.reject_reason or "the broker rejected the order")
        self._bus.publish("order_placed", {"order": order_payload(order)})
        if req.source != "strategy":
            self._audit(
                actor, "order_placed", outcome=order.status.value, details=order_payload(order)
            )
        self.apply_fills(fills, req.source)
        self.publish_orders()
        result: dict[str, Any] = {"ok": True, "order": order_payload(order)}
        return self._with_durability(result)

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
        position = self.ledger.position(req.symbol)
        state, paused = self.safety.context_state()
        window_start = now - self.safety.limits.order_rate_window_s
        return PreTradeContext(
            now=now,
            trading_state=state,
            entries_paused=paused,
            quote=self.market.quote(req.symbol),
            position_qty=position.qty if position else 0.0,
            open_positions=self.ledger.open_position_count,
            recent_order_times=[t for t in self.safety.order_times if t >= window_start],
            daily_pnl=self.daily_pnl,
            multiplier=self.market.instruments[req.symbol].multiplier,
            lot_size=self.market.instruments[req.symbol].lot_size,
            store_writable=not self.storage_problem,
        )

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
        self.safety.dirty = True
        touched: set[str] = set()
        try:
            for fill in fills:
                if self._book(fill, source):
                    touched.add(fill.symbol)
        finally:
            # What was booked before a fill the ledger refused is kept and saved all the same.
            for symbol in touched:
                # Flat, flipped or smaller by any route: stop-loss/take-profit orders left on
                # the wrong side or larger than the position would open a new one if they fired.
                position = self.ledger.position(symbol)
                held = position.qty if position else 0.0
                self.broker.fit_reduce_only(symbol, held, self._clock.time())
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
        for trade in trades:
            self._record_trade(trade)
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
        self._writer.add_orders(self.broker.drain_changed())
        return self._writer.save()

    def _halt_for_storage(self, reason: str) -> None:
        try:
            self.safety.engage(KillLevel.HALT, reason, STORE_ACTOR, self)
        except Exception:  # the halt must hold even if persisting it fails
            log.exception("engaging the kill switch failed; halting in memory")
            if not self.safety.fail_reason:
                self.safety.fail_reason = reason
            self.detach_strategy(reason)
            self.cancel_all_orders(reason)

    # ----- operator actions -----
    def close_position(self, symbol: str, actor: str, source: str = "manual") -> dict[str, Any]:
        position = self.ledger.position(symbol)
        if position is None:
            return error("NO_POSITION", f"no open position in {symbol}")
        side = Side.SELL if position.qty > 0 else Side.BUY
        req = OrderRequest(symbol, side, abs(position.qty), reduce_only=True, source=source)
        return self.submit(req, actor)

    def modify_stops(
        self, symbol: str, stop_loss: float | None, take_profit: float | None, actor: str
    ) -> dict[str, Any]:
        """Move a position's stop-loss / take-profit; each moved order passes the gateway."""
        position = self.ledger.position(symbol)
        if position is None:
            return error("NO_POSITION", f"no open position in {symbol}")
        children = self.broker.protective_orders(symbol)
        if not children:
            return error("NO_BRACKET", f"{symbol} has no open stop-loss or take-profit order")
        now = self._clock.time()
        entry_side = Side.BUY if position.qty > 0 else Side.SELL
        for child in children:
            is_stop = child.type is OrderType.STOP
            price = stop_loss if is_stop else take_profit
            if price is None:
                continue
            # The order as it would rest after the change, reviewed like a new one.
            req = OrderRequest(
                symbol,
                child.side,
                child.remaining,
                child.type,
                limit_price=None if is_stop else price,
                stop_price=price if is_stop else None,
                reduce_only=True,
                source="manual",
                tag=actor,
            )
            ctx = self._context(req, now)
            denial = review_protective_move(req, entry_side, ctx, self.safety.limits)
            if denial is not None:
                return self._deny(req, actor, denial.code, denial.message)
        changed = self.broker.modify_stops(symbol, stop_loss, take_profit, now)
        if not changed:
            return error("NO_BRACKET", f"{symbol} has no open stop-loss or take-profit order")
        self._audit(
            actor,
            "modify_stops",
            details={"symbol": symbol, "stop_loss": stop_loss, "take_profit": take_profit},
        )
        self.publish_orders()
        self.publish_positions()
        return self._with_durability({"ok": True, "orders": [order_payload(o) for o in changed]})

    # ----- the kill switch's executor (see SafetyManager) -----
    def detach_strategy(self, reason: str) -> None:
        if self.strategy_attached:
            self.strategy_attached = False
            self._bus.publish("system", {"message": f"strategy detached: {reason}"})

    def attach_strategy(self) -> None:
        self.strategy_attached = True

    def cancel_all_orders(self, reason: str) -> list[dict[str, Any]]:
        now = self._clock.time()
        outcomes = []
        for order in self.broker.open_orders():
            cancelled: Order | None = self.broker.cancel(order.id, now)
            ok = cancelled is not None and cancelled.status is OrderStatus.CANCELED
            outcomes.append(
                {
                    "action": "cancel",
                    "order_id": order.id,
                    "ok": ok,
                    "status": cancelled.status.value if cancelled else "unknown",
                }
            )
        self._save()
        self.publish_orders()
        return outcomes

    def flatten_positions(self, reason: str) -> list[dict[str, Any]]:
        now = self._clock.time()
        outcomes = []
        for symbol, position in list(self.ledger.positions().items()):
            side = Side.SELL if position.qty > 0 else Side.BUY
            req = OrderRequest(
                symbol, side, abs(position.qty), reduce_only=True, source="kill_switch", tag=reason
            )
            # Flattening bypasses the gateway on purpose: HALTED denies every order there.
            order, fills = self.broker.submit(req, now)
            outcomes.append(
                {
                    "action": "close",
                    "symbol": symbol,
                    "order_id": order.id,
                    "ok": order.status is OrderStatus.FILLED,
                    "status": order.status.value,
                }
            )
            self.apply_fills(fills, "kill_switch")
        self._save()
        return outcomes

    def is_flat(self) -> bool:
        return self.ledger.open_position_count == 0
