"""Publisher: the snapshot's account, market, trade and performance sections at boot, and the
equity curve and performance after, on the engine thread (the desk publishes its own changes)."""

from __future__ import annotations

from collections import deque
from typing import Any

from engine.bus import EventBus
from engine.market.view import MarketView
from engine.payloads import trade_payload
from engine.settings import EngineSettings
from engine.state import DashboardState
from engine.store import Store
from engine.trading.desk import TradingDesk
from engine.trading.metrics import compute_performance

EQUITY_CURVE_POINTS = 500


class Publisher:
    def __init__(
        self,
        settings: EngineSettings,
        bus: EventBus,
        state: DashboardState,
        *,
        market: MarketView,
        desk: TradingDesk,
        store: Store,
    ) -> None:
        self.settings, self.bus, self.state = settings, bus, state
        self.market, self.desk, self.store = market, desk, store
        # (time, equity): the performance's curve and the drawdown breakers' history.
        self.equity_points: deque[tuple[float, float]] = deque(maxlen=20_000)

    def publish_snapshot(self) -> None:
        """The market, account, positions, orders, trades and performance sections from the
        restored state (the safety sections are the safety loop's)."""
        self.state.set("market", {"symbols": self.market.symbols, "quotes": {}, "books": {}})
        self.desk.publish_account()
        self.desk.publish_positions()
        self.desk.publish_orders()
        self.state.set("trades", [trade_payload(t) for t in reversed(self.desk.trades)])
        self.publish_performance()

    def record_equity(self, now: float) -> None:
        equity = self.desk.ledger.equity
        self.equity_points.append((now, equity))
        self.store.save_equity(now, equity)
        self.publish_performance(equity_point={"t": int(now * 1000), "equity": equity})

    def publish_performance(self, equity_point: dict[str, Any] | None = None) -> None:
        performance = compute_performance(
            self.desk.all_trades, list(self.equity_points), self.settings.session.tz
        )
        performance["session_tz"] = self.settings.session.tz  # the page's daily P&L days
        self.state.set("performance", performance)
        step = max(len(self.equity_points) // EQUITY_CURVE_POINTS, 1)
        curve = [{"t": int(t * 1000), "equity": e} for t, e in list(self.equity_points)[::step]]
        self.state.set("equity_curve", curve)
        self.bus.publish(
            "performance_update", {"performance": performance, "equity_point": equity_point}
        )
