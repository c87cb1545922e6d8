"""TradingDesk: orders, fills, positions and P&L — the one order path, run on the engine thread."""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from engine.bus import EventBus
from engine.clock import Clock
from engine.commands import error
from engine.ledger import Ledger
from engine.market import MarketView
from engine.models import ClosedTrade, Fill, Order, OrderRequest, OrderStatus, OrderType, Side
from engine.paper_broker import PaperBroker
from engine.payloads import order_payload, position_payload, trade_payload
from engine.safety.checks import PreTradeContext
from engine.safety.manager import SafetyManager
from engine.state import DashboardState
from engine.store import Store

log = logging.getLogger(__name__)
TRADE_HISTORY_LIMIT = 200


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

    # ----- restart -----
    def restore(self, session_start: float) -> None:
        """Rebuild positions, cash and P&L from the store's fills; reload open orders."""
        for fill in self._store.load_fills():
            self.ledger.apply(fill)
        # Every stored order, so that new order ids never repeat old ones.
        self.broker.restore_orders(self._store.load_orders())
        self.trades.extend(reversed(self._store.load_trades(limit=TRADE_HISTORY_LIMIT)))
        self.start_session(session_start)

    def start_session(self, session_start: float) -> None:
        self.session_start = session_start
        self.realized_today = self._store.realized_pnl_since(session_start)

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
        for order in self.broker.open_orders():
            if order.symbol == symbol and order.reduce_only and order.parent_id:
                key = "stop_loss" if order.type is OrderType.STOP else "take_profit"
                prices[key] = (
                    order.stop_price if order.type is OrderType.STOP else order.limit_price
                )
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
        self._persist_orders()
        if order.status is OrderStatus.REJECTED:
            self.safety.record_error(now)
            self._bus.publish(
                "error",
                {
                    "message": f"broker rejected {order.id}: {order.reject_reason}",
                    "where": "broker",
                },
            )
            if req.source != "strategy":
                self._store.audit(
                    actor,
                    "order_rejected",
                    reason=order.reject_reason,
                    outcome="rejected",
                    details=order_payload(order),
                )
            return error("BROKER_REJECTED", order.reject_reason or "the broker rejected the order")
        self._bus.publish("order_placed", {"order": order_payload(order)})
        if req.source != "strategy":
            self._store.audit(
                actor, "order_placed", outcome=order.status.value, details=order_payload(order)
            )
        self.apply_fills(fills, req.source)
        self.publish_orders()
        return {"ok": True, "order": order_payload(order)}

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
        self._store.audit(actor, "order_denied", reason=message, outcome=code, details=payload)
        return error(code, message)

    def apply_fills(self, fills: list[Fill], source: str = "broker") -> None:
        if not fills:
            return
        self.safety.dirty = True
        for fill in fills:
            if not self._store.save_fill(fill):
                continue  # the broker sent this fill before; booking it twice would lie
            trades = self.ledger.apply(fill)
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
            if self.ledger.position(fill.symbol) is None:
                # Flat by any route: leftover stop-loss/take-profit orders would open a new
                # position if they fired, so they go.
                self.broker.cancel_symbol(fill.symbol, fill.ts, reduce_only=True)
        self._persist_orders()
        self.publish_positions()
        self.publish_account()
        self.publish_orders()

    def _record_trade(self, trade: ClosedTrade) -> None:
        self._store.save_trade(trade)
        self.trades.append(trade)
        self.all_trades.append(trade)
        self.performance_dirty = True
        if trade.exit_ts >= self.session_start:
            self.realized_today += trade.pnl
        history = [trade_payload(t) for t in reversed(self.trades)]
        self._state.set("trades", history)
        self._bus.publish("trade_history_update", {"trades": history, "new": trade_payload(trade)})

    def _persist_orders(self) -> None:
        self._store.save_orders(self.broker.drain_changed())

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
        if self.ledger.position(symbol) is None:
            return error("NO_POSITION", f"no open position in {symbol}")
        changed = self.broker.modify_stops(symbol, stop_loss, take_profit, self._clock.time())
        if not changed:
            return error("NO_BRACKET", f"{symbol} has no open stop-loss or take-profit order")
        self._persist_orders()
        self._store.audit(
            actor,
            "modify_stops",
            details={"symbol": symbol, "stop_loss": stop_loss, "take_profit": take_profit},
        )
        self.publish_orders()
        self.publish_positions()
        return {"ok": True, "orders": [order_payload(o) for o in changed]}

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
        self._persist_orders()
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
        self._persist_orders()
        return outcomes

    def is_flat(self) -> bool:
        return self.ledger.open_position_count == 0
