"""SafetyLoop: the engine's periodic safety work (latch poll, breakers, session roll-over,
flatten retry) and the safety and breaker sections it publishes."""

from __future__ import annotations

from typing import Any

from engine.bus import EventBus
from engine.clock import Clock
from engine.market.view import MarketView
from engine.publisher import Publisher
from engine.safety.breakers import SafetySnapshot
from engine.safety.manager import SafetyManager
from engine.safety.overrides import expire_overrides
from engine.settings import EngineSettings
from engine.state import DashboardState
from engine.trading.desk import TradingDesk
from engine.trading.session import session_start
from engine.trading.summary import daily_summary


class SafetyLoop:
    def __init__(
        self,
        settings: EngineSettings,
        clock: Clock,
        bus: EventBus,
        state: DashboardState,
        *,
        safety: SafetyManager,
        desk: TradingDesk,
        market: MarketView,
        publisher: Publisher,
    ) -> None:
        self.settings, self.clock, self.bus, self.state = settings, clock, bus, state
        self.safety, self.desk, self.market, self.publisher = safety, desk, market, publisher
        self._last_safety: dict[str, Any] = {}
        self._last_trips: frozenset[str] = frozenset()
        self._breakers_published = 0.0
        self._booted_at = clock.time()
        self.session_trips: set[str] = set()  # breakers tripped this session, for its summary

    def booted(self, now: float) -> None:
        """Staleness of market data is measured from here until the first tick."""
        self._booted_at = now

    def session_start(self, now: float) -> float:
        return session_start(now, self.settings.session.tz, self.settings.session.start)

    def poll_latch(self) -> None:
        if self.safety.poll_latch(self.desk):
            if self.safety.durability_problem:
                # The desk publishes orders after saving them; when the save failed, the
                # broker's cancels must still reach the page.
                self.desk.publish_orders()
            self.publish(force=True)

    def evaluate(self, now: float) -> None:
        self.safety.clear_dirty()
        if expire_overrides(self.safety, self.desk.record, self.bus, now):
            self.publish(force=True)
        if self.desk.performance_dirty:
            self.desk.performance_dirty = False
            self.publisher.publish_performance()
        new_start = self.session_start(now)
        if new_start != self.desk.session_start:
            self._end_session(new_start)
            self.desk.start_session(new_start)
        if self.safety.flatten_pending and not self.desk.is_flat():
            self.desk.flatten_positions("kill switch flatten (retry)")
        if self.safety.evaluate(self.snapshot(now), self.desk):
            self.publish(force=True)
        else:
            self.publish()

    def _end_session(self, new_start: float) -> None:
        """The session that just ended, summed up for the page's log and the notifier."""
        old_start = self.desk.session_start
        if old_start <= 0 or new_start <= old_start:
            return
        summary = daily_summary(
            old_start, new_start, self.desk.daily_pnl, self.desk.all_trades, self.session_trips
        )
        self.session_trips = {t.name for t in self.safety.board.tripped()}
        self.bus.publish("daily_summary", summary)
        self.bus.publish("system", {"message": summary["message"], "kind": "session_end"})

    def snapshot(self, now: float) -> SafetySnapshot:
        """What the breakers measure, now."""
        equity = self.desk.ledger.equity
        points = self.publisher.equity_points
        history = [p for p in points if p[0] >= now - 1200] + [(now, equity)]
        peak = max([equity, self.settings.paper.starting_balance] + [e for _, e in points])
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

    def publish(self, force: bool = False) -> None:
        """`safety_update` when it changed; `breaker_update` on a change of trips, else ≤1/s."""
        now = self.clock.time()
        payload = self.safety.payload(self.desk.daily_pnl, self.desk.ledger.open_position_count)
        if force or payload != self._last_safety:
            self._last_safety = payload
            self.state.set("safety", payload)
            self.bus.publish("safety_update", payload)
        trips = frozenset(t.name for t in self.safety.board.tripped())
        self.session_trips |= trips
        if force or trips != self._last_trips or now - self._breakers_published >= 1.0:
            self._last_trips, self._breakers_published = trips, now
            readings = self.safety.board.readings(self.snapshot(now))
            self.state.set("breakers", readings)
            self.bus.publish("breaker_update", {"breakers": readings})
