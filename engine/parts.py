"""EngineParts: the engine's parts (desk, safety, market, venue, store...) and the jobs over
them (market router, publisher, safety loop, command handlers), built once from settings; the
runtime drives them on its one writer thread."""

from __future__ import annotations

import json
import logging
from typing import Any

from engine.bus import EventBus
from engine.clock import Clock
from engine.controls import OperatorControls
from engine.market.view import MarketView
from engine.market_router import MarketRouter
from engine.publisher import Publisher
from engine.safety.breakers import BreakerBoard, build_breakers
from engine.safety.checks import Limits
from engine.safety.latch import KillSwitchLatch
from engine.safety.manager import SafetyManager
from engine.safety_loop import SafetyLoop
from engine.settings import EngineSettings
from engine.signals.inbox import SignalInbox
from engine.state import DashboardState
from engine.store import Store
from engine.strategies.book import Account, StrategyBook
from engine.strategies.demo import DemoStrategy
from engine.strategies.exits import ExitRule
from engine.strategies.registry import build_strategies
from engine.strategies.sizing import SizingRule
from engine.trading.desk import TradingDesk
from engine.trading.ledger import Ledger
from engine.trading.reconcile import Reconciler
from engine.venues.base import (
    AccountEvent,
    Broker,
    MarketFeed,
    OrderEvent,
    VenueAccount,
    VenuePosition,
)
from engine.venues.registry import build_broker, build_feed

log = logging.getLogger(__name__)
# The store's key for the strategies' switches, multipliers, holdings and trade attribution.
BOOK_KEY = "strategies"


class EngineParts:
    def __init__(
        self,
        settings: EngineSettings,
        clock: Clock,
        bus: EventBus,
        state: DashboardState,
        *,
        feed: MarketFeed | None,
        broker: Broker,
        store: Store,
        strategy: DemoStrategy | StrategyBook | None,
        market: MarketView,
        safety: SafetyManager,
        desk: TradingDesk,
        reconciler: Reconciler,
    ) -> None:
        self.settings, self.clock, self.bus, self.state = settings, clock, bus, state
        self.feed, self.broker, self.store, self.strategy = feed, broker, store, strategy
        self.market, self.safety, self.desk, self.reconciler = market, safety, desk, reconciler
        self.venue_account: VenueAccount | None = None
        self.publisher = Publisher(settings, bus, state, market=market, desk=desk, store=store)
        self.safety_loop = SafetyLoop(
            settings,
            clock,
            bus,
            state,
            safety=safety,
            desk=desk,
            market=market,
            publisher=self.publisher,
        )
        # Every signal (strategy, webhook) passes the inbox on its way to the desk.
        self.inbox = SignalInbox(
            settings.signals,
            settings.session.tz,
            clock=clock,
            bus=bus,
            state=state,
            store=store,
            submit=desk.submit,
            price_of=market.last_price,
            symbols=lambda: market.instruments,
        )
        self.router = MarketRouter(
            settings,
            bus,
            state,
            market=market,
            desk=desk,
            broker=broker,
            feed=feed,
            strategy=strategy,
            inbox=self.inbox,
        )
        self.commands = OperatorControls(
            clock=clock,
            desk=desk,
            market=market,
            safety=safety,
            store=store,
            strategy=strategy,
            bus=bus,
            safety_loop=self.safety_loop,
            inbox=self.inbox,
        )
        if isinstance(strategy, StrategyBook):
            self._wire_book(strategy)

    def _wire_book(self, book: StrategyBook) -> None:
        """What the book reads (equity, the gateway's limits, the regime) and where its
        record goes (the snapshot's `strategies`); closed trades are attributed as booked."""
        limits = self.safety.limits
        book.account = Account(
            equity=lambda: self.desk.ledger.equity,
            limits=lambda: (limits.max_order_qty, limits.max_notional),
            regime=self.router.regime,
            position=self._booked_qty,
        )
        book.on_change = self._book_changed

        def closed(topic: str, payload: dict[str, Any]) -> None:
            trades = self.desk.all_trades
            if trades and trades[-1].id == (payload.get("new") or {}).get("id"):
                book.on_trade_closed(trades[-1])

        self.bus.subscribe(closed, {"trade_history_update"})

    def _booked_qty(self, symbol: str) -> float:
        position = self.desk.ledger.position(symbol)
        return position.qty if position else 0.0

    def _book_changed(self) -> None:
        self.publish_strategies()
        if isinstance(self.strategy, StrategyBook):
            try:
                self.store.set_kv(BOOK_KEY, json.dumps(self.strategy.saved()))
            except Exception:  # the book runs on; the store's own health says why
                log.warning("could not save the strategies' state", exc_info=True)

    def _restore_book(self) -> None:
        if not isinstance(self.strategy, StrategyBook):
            return
        try:
            saved = json.loads(self.store.get_kv(BOOK_KEY) or "{}")
        except ValueError:
            saved = {}
        if isinstance(saved, dict):
            self.strategy.restore(saved, self.desk.all_trades)

    def publish_strategies(self) -> None:
        if not isinstance(self.strategy, StrategyBook):
            return
        ledger = self.desk.ledger

        def unrealized(symbol: str) -> float:
            position = ledger.position(symbol)
            return position.unrealized_pnl if position else 0.0

        payload = self.strategy.payload(unrealized)
        self.state.set("strategies", payload)
        self.bus.publish("strategies_update", payload)

    # ----- start -----
    def boot(self) -> None:
        """Restore the state from the store and the latch, then reconcile with the venue."""
        if self.store.migration is not None:  # the activity log says the upgrade happened
            self.bus.publish("system", {"message": self.store.migration.describe()})
        self.safety.boot()
        now = self.clock.time()
        self.safety_loop.booted(now)
        self.desk.restore(self.safety_loop.session_start(now))
        self._adopt_into_new_venue_record()
        self.desk.all_trades = list(reversed(self.store.load_trades()))
        self._restore_book()
        self.publisher.equity_points.extend(self.store.load_equity())
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

    def publish_snapshot(self) -> None:
        """The complete snapshot (account, safety, breakers...) from the restored state.

        Runs in boot, before the server answers anything, so no page ever sees an empty
        account or safety section; market history comes later, in `router.warm_up` slices.
        """
        self.publisher.publish_snapshot()
        self.inbox.publish()
        self.safety_loop.publish(force=True)
        self.publish_strategies()
        self.bus.publish("system", {"message": "engine started", "kind": "start"})

    # ----- what the venue reports -----
    def on_venue(self, event: OrderEvent | AccountEvent) -> None:
        """Order updates and account changes; connection changes go to `router.on_connection`."""
        if isinstance(event, OrderEvent):
            self.desk.on_order_event(event)
        elif isinstance(event, AccountEvent):
            self.venue_account = event.account

    def strategy_status(self) -> str:
        if self.strategy is None:
            return "none"
        return "running" if self.desk.strategy_attached else "stopped"

    def record_stop(self, reason: str) -> None:
        """The stop on the record, and the database whole in its main file (WAL checkpointed)."""
        try:
            snap = self.state.snapshot()
            safety = snap.get("safety") or {}
            details = {
                "positions": len(snap.get("positions") or []),
                "open_orders": len(snap.get("orders") or []),
                "kill_switch_engaged": bool(safety.get("kill_switch", {}).get("engaged")),
            }
            self.store.audit(
                "system", "engine_stopped", reason=reason, outcome="ok", details=details
            )
            self.store.checkpoint()
        except Exception:  # a full disk must not keep the process from ending
            log.warning("could not record the engine's stop", exc_info=True)

    def close(self) -> None:
        self.store.close()


def assemble_parts(
    settings: EngineSettings,
    clock: Clock,
    bus: EventBus,
    state: DashboardState,
    *,
    feed: MarketFeed | None,
    broker: Broker,
    store: Store,
    strategy: DemoStrategy | StrategyBook | None,
    instruments: dict[str, Any],
) -> EngineParts:
    """The safety manager, the desk and the reconciler around a given venue, feed and store."""
    market = MarketView(instruments, clock)
    safety = SafetyManager(
        clock=clock,
        bus=bus,
        store=store,
        latch=KillSwitchLatch(settings.store.latch_path),
        board=BreakerBoard(build_breakers(settings.breakers.names, settings.limits)),
        limits=Limits.from_settings(settings.limits),
    )
    desk = TradingDesk(
        clock=clock,
        bus=bus,
        state=state,
        store=store,
        broker=broker,
        ledger=Ledger(instruments, settings.paper.starting_balance),
        market=market,
        safety=safety,
        starting_balance=settings.paper.starting_balance,
    )
    reconciler = Reconciler(
        venue=broker,
        store=store,
        positions=lambda: {s: p.qty for s, p in desk.ledger.positions().items()},
        apply_fills=desk.apply_fills,
        safety=safety,
        bus=bus,
        clock=clock,
        every_s=settings.reconcile.every_s,
        grace_s=settings.reconcile.grace_s,
    )
    return EngineParts(
        settings,
        clock,
        bus,
        state,
        feed=feed,
        broker=broker,
        store=store,
        strategy=strategy,
        market=market,
        safety=safety,
        desk=desk,
        reconciler=reconciler,
    )


def build_parts(
    settings: EngineSettings, clock: Clock, bus: EventBus, state: DashboardState
) -> EngineParts:
    """The feed and the broker that VIGIL_FEED and VIGIL_BROKER name (engine/venues/registry)."""
    feed = build_feed(settings, clock)
    instruments = feed.instruments
    broker = build_broker(settings, clock, instruments)
    strategy = build_book(settings, instruments)
    return assemble_parts(
        settings,
        clock,
        bus,
        state,
        feed=feed,
        broker=broker,
        store=Store(settings.store.db_path),
        strategy=strategy,
        instruments=instruments,
    )


def build_book(settings: EngineSettings, instruments: dict[str, Any]) -> StrategyBook | None:
    """The strategies VIGIL_STRATEGIES names (or VIGIL_STRATEGY's one), behind one book."""
    names = settings.strategy.names
    if not names:
        return None
    cfg = settings.strategy
    return StrategyBook(
        instruments,
        build_strategies(names, instruments),
        bar_s=cfg.bar_s,
        sizing=SizingRule(
            risk_fraction=cfg.risk_fraction, kelly=cfg.kelly, kelly_cap=cfg.kelly_cap
        ),
        exits=ExitRule(stop_atr=cfg.stop_atr, take_r=cfg.take_r, trail_atr=cfg.trail_atr),
    )
