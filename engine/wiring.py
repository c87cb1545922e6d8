"""Components: builds the engine's parts from settings; routes events and commands to them."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from typing import Any

from engine.bus import EventBus
from engine.clock import Clock
from engine.commands import KillSwitchCmd
from engine.controls import OperatorControls
from engine.market.regime import regime_payload
from engine.market.view import MarketView
from engine.models import BarEvent, KillLevel, OrderBook, Quote, TradeTick, VixUpdate
from engine.payloads import book_payload, signal_payload, trade_payload
from engine.safety.breakers import BreakerBoard, SafetySnapshot, build_breakers
from engine.safety.checks import Limits
from engine.safety.latch import KillSwitchLatch
from engine.safety.manager import SafetyManager
from engine.settings import Settings
from engine.state import DashboardState
from engine.store import Store
from engine.strategies.demo import DemoStrategy
from engine.trading.desk import TradingDesk
from engine.trading.ledger import Ledger
from engine.trading.metrics import compute_performance
from engine.trading.reconcile import Reconciler
from engine.trading.session import session_start
from engine.venues.base import (
    AccountEvent,
    Broker,
    ConnectionEvent,
    MarketEvent,
    MarketFeed,
    OrderEvent,
    VenueAccount,
    VenuePosition,
)
from engine.venues.pumped import PumpedFeed
from engine.venues.registry import build_broker, build_feed

log = logging.getLogger(__name__)
EQUITY_CURVE_POINTS = 500
WARMUP_STEP_S = 5.0
# Steps of history per slice: a few milliseconds of work between two queued commands.
WARMUP_SLICE_STEPS = 6


class Components(OperatorControls):
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        bus: EventBus,
        state: DashboardState,
        *,
        feed: MarketFeed | None,
        broker: Broker,
        store: Store,
        strategy: DemoStrategy | None,
        instruments: dict[str, Any],
    ) -> None:
        self.settings, self.clock, self.bus, self.state = settings, clock, bus, state
        self.feed, self.broker, self.store, self.strategy = feed, broker, store, strategy
        self.market = MarketView(instruments, clock)
        board = BreakerBoard(build_breakers(settings.breaker_names, settings))
        self.safety = SafetyManager(
            clock=clock,
            bus=bus,
            store=store,
            latch=KillSwitchLatch(settings.latch_path),
            board=board,
            limits=Limits.from_settings(settings),
        )
        self.desk = TradingDesk(
            clock=clock,
            bus=bus,
            state=state,
            store=store,
            broker=broker,
            ledger=Ledger(instruments, settings.starting_balance),
            market=self.market,
            safety=self.safety,
            starting_balance=settings.starting_balance,
        )
        self.reconciler = Reconciler(
            venue=broker,
            store=store,
            positions=lambda: {s: p.qty for s, p in self.desk.ledger.positions().items()},
            apply_fills=self.desk.apply_fills,
            safety=self.safety,
            bus=bus,
            clock=clock,
            every_s=settings.reconcile_every_s,
            grace_s=settings.reconcile_grace_s,
        )
        self.vix: float | None = None
        self.venue_account: VenueAccount | None = None
        self.equity_points: deque[tuple[float, float]] = deque(maxlen=20_000)
        self._last_safety: dict[str, Any] = {}
        self._last_trips: frozenset[str] = frozenset()
        self._breakers_published = 0.0
        self._booted_at = clock.time()

    # ----- start -----
    def boot(self) -> None:
        if self.store.migration is not None:  # the activity log says the upgrade happened
            self.bus.publish("system", {"message": self.store.migration.describe()})
        self.safety.boot()
        now = self._booted_at = self.clock.time()
        self.desk.restore(self._session_start(now))
        self._adopt_into_new_venue_record()
        self.desk.all_trades = list(reversed(self.store.load_trades()))
        self.equity_points.extend(self.store.load_equity())
        self.reconciler.run(now)  # the venue's record against the store, before any order
        if self.safety.trading_state.value == "HALTED":
            self.desk.detach_strategy(self.safety.state_reason())

    def _adopt_into_new_venue_record(self) -> None:
        """A data directory from before the paper venue kept its own record: the venue starts
        from the store's positions and open orders (the only record there was)."""
        adopt = getattr(self.broker, "adopt", None)
        if adopt is None:
            return
        positions = [
            VenuePosition(p.symbol, p.qty, p.avg_price, p.multiplier)
            for p in self.desk.ledger.positions().values()
        ]
        adopt(positions, self.store.load_orders(open_only=True), self.desk.ledger.cash)

    def start_publishing(self) -> None:
        """The complete snapshot (account, safety, breakers...) from the restored state.

        Runs in boot, before the server answers anything, so no page ever sees an empty
        account or safety section; market history comes later, in `warm_up` slices.
        """
        self.state.set("market", {"symbols": self.market.symbols, "quotes": {}, "books": {}})
        self.desk.publish_account()
        self.desk.publish_positions()
        self.desk.publish_orders()
        self.state.set("trades", [trade_payload(t) for t in reversed(self.desk.trades)])
        self._publish_performance()
        self._publish_safety(force=True)
        self.bus.publish("system", {"message": "engine started", "kind": "start"})

    def warm_up(self, end: float) -> Iterator[float]:
        """Load the simulated market history before `end`, one slice per step.

        A generator so the engine thread can take queued commands between slices: history
        never delays a kill switch. Yields the fraction loaded so far.
        """
        feed = self.feed
        assert feed is not None
        self.bus.publish("progress", {"message": "loading market history", "pct": 0})
        seconds = self.settings.sim_history_s
        slices = (
            feed.history_slices(end, seconds, WARMUP_STEP_S, WARMUP_SLICE_STEPS)
            if isinstance(feed, PumpedFeed)
            else iter([(1.0, list(feed.history(end, seconds)))])
        )
        for fraction, events in slices:
            self._warm_up(events)
            yield fraction
        self.bus.publish("progress", {"message": "market history loaded", "pct": 100})

    def _warm_up(self, events: list[TradeTick | BarEvent | VixUpdate]) -> None:
        # History is not live data: the stale-feed breaker must not see old ticks as fresh
        # (or as stale), so the last live timestamp is put back after the slice.
        last_live = self.market.last_data_ts
        for event in events:
            if isinstance(event, TradeTick):
                self.market.on_trade(event)
                if self.strategy is not None:
                    self.strategy.warm_up(event.symbol, event.price, event.ts)
            elif isinstance(event, BarEvent):
                _, latest = self.market.on_bar(event)
                if latest and event.closed and self.strategy is not None:
                    self.strategy.warm_up(event.symbol, event.close, event.ts - event.ts % 60 + 60)
            elif isinstance(event, VixUpdate):
                self.vix = event.value
        self.market.last_data_ts = last_live

    def close(self) -> None:
        self.store.close()

    def strategy_status(self) -> str:
        if self.strategy is None:
            return "none"
        return "running" if self.desk.strategy_attached else "stopped"

    # ----- what the venue reports -----
    def on_venue(self, event: OrderEvent | AccountEvent) -> None:
        """Order updates and account changes; connection changes go to `on_connection`."""
        if isinstance(event, OrderEvent):
            self.desk.on_order_event(event)
        elif isinstance(event, AccountEvent):
            self.venue_account = event.account

    # ----- market data -----
    def on_connection(self, event: ConnectionEvent) -> None:
        """A broker's or feed's connection changed: what it says goes to the activity log."""
        if event.message:
            self.bus.publish(
                "system", {"message": event.message, "kind": f"{event.source}_{event.state}"}
            )
        if event.halt:  # the venue cannot trade on safely (its keys were refused)
            reason = f"{event.source} {event.venue}: {event.message}"[:500]
            self.engage_kill_switch(KillSwitchCmd(level=KillLevel.HALT, reason=reason), "system")

    def on_market(self, event: MarketEvent | ConnectionEvent) -> None:
        if isinstance(event, TradeTick):
            self._on_trade(event)
        elif isinstance(event, BarEvent):
            self._on_bar(event)
        elif isinstance(event, Quote):
            self.market.on_quote(event)
            self.desk.ledger.mark(event.symbol, event.mid)
            self.broker.on_market(event)
            payload = self.market.quote_payload(event.symbol)
            if payload is not None:
                self.state.set_market("quotes", event.symbol, payload)
                self.bus.publish("quote_update", payload)
            if self.desk.ledger.position(event.symbol) is not None:
                self.desk.publish_positions()
                self.desk.publish_account()
        elif isinstance(event, OrderBook):
            self.broker.on_market(event)
            payload = book_payload(event)
            self.state.set_market("books", event.symbol, payload)
            self.bus.publish("orderbook_update", payload)
        elif isinstance(event, ConnectionEvent):
            self.on_connection(event)
        elif isinstance(event, VixUpdate):
            self.vix = event.value
            regime = regime_payload(
                event.value, self.settings.regime_ultra_low_below, self.settings.regime_high_above
            )
            self.state.set("regime", regime)
            self.bus.publish("regime_update", regime)

    def _on_trade(self, tick: TradeTick) -> None:
        self._publish_bars(tick.symbol, self.market.on_trade(tick))
        self.bus.publish(
            "price_update",
            {
                "symbol": tick.symbol,
                "price": tick.price,
                "size": tick.size,
                "side": str(tick.aggressor),
            },
        )
        self._feed_strategy(tick.symbol, tick.price, tick.ts)

    def _on_bar(self, event: BarEvent) -> None:
        """A provider's bar: the authority for its minute on every chart; a strategy that only
        knows prices sees the close of the newest closed minute, at the minute's end."""
        updates, latest = self.market.on_bar(event)
        self._publish_bars(event.symbol, updates)
        if latest and event.closed:
            self._feed_strategy(event.symbol, event.close, event.ts - event.ts % 60 + 60)

    def _publish_bars(self, symbol: str, updates: list[tuple[str, Any, bool]]) -> None:
        for timeframe, bar, closed in updates:
            self.bus.publish(
                "bar_update",
                {"symbol": symbol, "timeframe": timeframe, "bar": bar.to_dict(), "closed": closed},
            )

    def _feed_strategy(self, symbol: str, price: float, ts: float) -> None:
        if self.strategy is None or not self.desk.strategy_attached:
            return
        # With orders in flight counted: an entry not yet filled is not a reason to enter again.
        held = self.desk.exposure(symbol)
        for decision in self.strategy.on_price(symbol, price, ts, held):
            signal = decision.signal
            topic = "exit_signal" if signal.is_exit else "signal"
            self.bus.publish(topic, signal_payload(signal))
            self.market.add_marker(
                signal.symbol,
                signal.ts,
                str(signal.side),
                "signal",
                signal.price,
                # Short: the chart draws it beside the bar; the reason is in the activity log.
                "EXIT" if signal.is_exit else signal.side.value.upper(),
            )
            if decision.order is not None:
                self.desk.submit(decision.order, "strategy")

    # ----- periodic -----
    def poll_latch(self) -> None:
        if self.safety.poll_latch(self.desk):
            if self.safety.durability_problem:
                self._publish_unsaved_orders()
            self._publish_safety(force=True)

    def evaluate_safety(self, now: float) -> None:
        self.safety.dirty = False
        if self.desk.performance_dirty:
            self.desk.performance_dirty = False
            self._publish_performance()
        new_start = self._session_start(now)
        if new_start != self.desk.session_start:
            self.desk.start_session(new_start)
        if self.safety.flatten_pending and not self.desk.is_flat():
            self.desk.flatten_positions("kill switch flatten (retry)")
        if self.safety.evaluate(self._safety_snapshot(now), self.desk):
            self._publish_safety(force=True)
        else:
            self._publish_safety()

    def _safety_snapshot(self, now: float) -> SafetySnapshot:
        equity = self.desk.ledger.equity
        history = [p for p in self.equity_points if p[0] >= now - 1200] + [(now, equity)]
        peak = max([equity, self.settings.starting_balance] + [e for _, e in self.equity_points])
        return SafetySnapshot(
            now=now,
            equity=equity,
            peak_equity=peak,
            equity_history=history,
            daily_pnl=self.desk.daily_pnl,
            open_positions=self.desk.open_position_count,
            error_times=list(self.safety.error_times),
            order_times=list(self.safety.order_times),
            # Until the first tick, measure staleness from boot: "never" would trip at once.
            last_market_data_ts=self.market.last_data_ts or self._booted_at,
        )

    def _publish_safety(self, force: bool = False) -> None:
        now = self.clock.time()
        payload = self.safety.payload(self.desk.daily_pnl, self.desk.ledger.open_position_count)
        if force or payload != self._last_safety:
            self._last_safety = payload
            self.state.set("safety", payload)
            self.bus.publish("safety_update", payload)
        trips = frozenset(t.name for t in self.safety.board.tripped())
        if force or trips != self._last_trips or now - self._breakers_published >= 1.0:
            self._last_trips, self._breakers_published = trips, now
            readings = self.safety.board.readings(self._safety_snapshot(now))
            self.state.set("breakers", readings)
            self.bus.publish("breaker_update", {"breakers": readings})

    def record_equity(self, now: float) -> None:
        equity = self.desk.ledger.equity
        self.equity_points.append((now, equity))
        self.store.save_equity(now, equity)
        self._publish_performance(equity_point={"t": int(now * 1000), "equity": equity})

    def _publish_performance(self, equity_point: dict[str, Any] | None = None) -> None:
        performance = compute_performance(
            self.desk.all_trades, list(self.equity_points), self.settings.session_tz
        )
        performance["session_tz"] = self.settings.session_tz  # the page's daily P&L days
        self.state.set("performance", performance)
        step = max(len(self.equity_points) // EQUITY_CURVE_POINTS, 1)
        curve = [{"t": int(t * 1000), "equity": e} for t, e in list(self.equity_points)[::step]]
        self.state.set("equity_curve", curve)
        self.bus.publish(
            "performance_update", {"performance": performance, "equity_point": equity_point}
        )

    def _session_start(self, now: float) -> float:
        return session_start(now, self.settings.session_tz, self.settings.session_start)


def build_components(
    settings: Settings, clock: Clock, bus: EventBus, state: DashboardState
) -> Components:
    """The feed and the broker that VIGIL_FEED and VIGIL_BROKER name (engine/venues/registry)."""
    feed = build_feed(settings, clock)
    instruments = feed.instruments
    broker = build_broker(settings, clock, instruments)
    strategy = DemoStrategy(instruments) if settings.strategy == "demo" else None
    return Components(
        settings,
        clock,
        bus,
        state,
        feed=feed,
        broker=broker,
        store=Store(settings.db_path),
        strategy=strategy,
        instruments=instruments,
    )
