"""MarketRouter: routes market data (and its history) to the market view, the desk, the
venue and the strategy, and publishes what changed, on the engine thread."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.bus import EventBus
from engine.market.regime import classify_regime, regime_payload
from engine.market.view import MarketView
from engine.models import BarEvent, OrderBook, Quote, Regime, TradeTick, VixUpdate
from engine.payloads import book_payload, signal_payload
from engine.settings import EngineSettings
from engine.signals.inbox import IncomingSignal, SignalInbox
from engine.state import DashboardState
from engine.strategies.book import StrategyBook
from engine.strategies.demo import Decision, DemoStrategy
from engine.trading.desk import TradingDesk
from engine.venues.base import Broker, ConnectionEvent, MarketEvent, MarketFeed

WARMUP_STEP_S = 5.0
# Steps of history per slice: a few milliseconds of work between two queued commands.
WARMUP_SLICE_STEPS = 6


class MarketRouter:
    def __init__(
        self,
        settings: EngineSettings,
        bus: EventBus,
        state: DashboardState,
        *,
        market: MarketView,
        desk: TradingDesk,
        broker: Broker,
        feed: MarketFeed | None,
        strategy: DemoStrategy | StrategyBook | None,
        inbox: SignalInbox,
    ) -> None:
        self.settings, self.bus, self.state = settings, bus, state
        self.market, self.desk, self.broker = market, desk, broker
        self.feed, self.strategy, self.inbox = feed, strategy, inbox
        self.vix: float | None = None

    def regime(self) -> Regime | None:
        """The regime of the last volatility reading; None before one (or for a bad one)."""
        if self.vix is None:
            return None
        try:
            return classify_regime(
                self.vix, self.settings.regime.ultra_low_below, self.settings.regime.high_above
            )
        except ValueError:
            return None

    # ----- history -----
    def warm_up(self, end: float) -> Iterator[float]:
        """Load the simulated market history before `end`, one slice per step.

        A generator so the engine thread can take queued commands between slices: history
        never delays a kill switch. Yields the fraction loaded so far.
        """
        feed = self.feed
        assert feed is not None
        self.bus.publish("progress", {"message": "loading market history", "pct": 0})
        seconds = self.settings.feed.sim_history_s
        # A feed that can hand its history over in slices (the pumped sources, Polygon's
        # fetch on its own thread) does, so commands are handled between them.
        slicer = getattr(feed, "history_slices", None)
        slices = (
            slicer(end, seconds, WARMUP_STEP_S, WARMUP_SLICE_STEPS)
            if slicer is not None
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
            elif isinstance(event, VixUpdate):  # the regime is known before the first live tick
                self._set_regime(event)
        self.market.last_data_ts = last_live

    # ----- live -----
    def on_connection(self, event: ConnectionEvent) -> None:
        """A broker's or feed's connection changed: what it says goes to the activity log."""
        if event.message:
            self.bus.publish(
                "system", {"message": event.message, "kind": f"{event.source}_{event.state}"}
            )

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
            self._set_regime(event)

    def _set_regime(self, event: VixUpdate) -> None:
        self.vix = event.value
        regime = regime_payload(
            event.value, self.settings.regime.ultra_low_below, self.settings.regime.high_above
        )
        regime["source"] = event.source  # "VIX" or the feed's stand-in: the page says which
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
            self.emit(decision)

    def emit(self, decision: Decision) -> None:
        """The one place a strategy's signal leaves the strategies: published, marked on the
        chart and, with an order, handed to the signal inbox (held for approval in "approve"
        mode, filtered in both), which sends it through the desk (the safety gateway)."""
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
        if decision.order is None:
            return
        # The risk overrides in force (size multiplier, minimum confidence) shape automatic
        # entries before anything else looks at them; exits pass unchanged.
        lot = self.market.instruments[decision.order.symbol].lot_size
        order, skipped = self.desk.safety.overrides.adjust_entry(
            decision.order, signal.confidence, lot
        )
        if order is None:
            self.bus.publish("system", {"message": skipped})
            self._tell_strategy(decision, {"ok": False})
            return
        result = self.inbox.receive(
            IncomingSignal(
                signal.symbol,
                signal.side,
                order.qty,
                signal.confidence,
                "strategy",
                price=signal.price,
                strategy=order.tag,
                reason=signal.reason,
                order=order,
            ),
            "strategy",
        )
        # Filtered or denied: nothing went out, so the strategy holds nothing.
        went_out = result.get("ok") and result.get("status") in ("submitted", "pending")
        self._tell_strategy(decision, result if went_out else {**result, "ok": False})

    def _tell_strategy(self, decision: Decision, result: dict[str, Any]) -> None:
        submitted = getattr(self.strategy, "submitted", None)
        if submitted is not None:
            submitted(decision, result)
