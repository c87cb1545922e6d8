"""What the desk shows the page: the account, positions (with their bracket prices) and open
orders, set in the snapshot and published on the bus."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.models import OrderType
from engine.payloads import order_payload, position_payload

if TYPE_CHECKING:
    from engine.bus import EventBus
    from engine.state import DashboardState
    from engine.trading.ledger import Ledger
    from engine.trading.orders import OrderTracker


class DeskPublishing:
    """Mixed into TradingDesk, which provides the parts named below."""

    _bus: EventBus
    _state: DashboardState
    ledger: Ledger
    orders: OrderTracker
    starting_balance: float
    daily_pnl: float

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
        orders = [
            {**order_payload(o), "cancel_requested": o.id in self.orders.cancel_requested}
            for o in self.orders.open_orders()
        ]
        self._state.set("orders", orders)
        self._bus.publish("orders_update", {"orders": orders})

    def _bracket_prices(self, symbol: str) -> dict[str, float | None]:
        prices: dict[str, float | None] = {"stop_loss": None, "take_profit": None}
        position = self.ledger.position(symbol)
        for order in self.orders.protective(symbol):
            # Only orders that close this position protect it.
            if position is None or position.qty * order.side.sign >= 0:
                continue
            key = "stop_loss" if order.type is OrderType.STOP else "take_profit"
            prices[key] = order.stop_price if order.type is OrderType.STOP else order.limit_price
        return prices
