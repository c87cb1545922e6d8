"""HealthReport: the engine's health payload (status, counters, event rate, venue connections)
and the plain numbers /metrics exports."""

from __future__ import annotations

import queue
import threading
from collections import deque
from typing import Any

from engine.bus import EventBus
from engine.clock import Clock
from engine.models import Health
from engine.parts import EngineParts
from engine.queue_items import COMMAND_PRIORITY, MARKET_PRIORITY, VENUE_PRIORITY
from engine.settings import EngineSettings
from engine.state import DashboardState
from engine.venues.base import ConnectionEvent, ConnectionState


class HealthReport:
    """Mixin for EngineRuntime: builds and publishes `system_health_update` from its fields."""

    settings: EngineSettings
    clock: Clock
    bus: EventBus
    state: DashboardState
    parts: EngineParts
    _queue: queue.PriorityQueue[Any]
    started_at: float
    errors: int
    last_error: str | None
    dropped_market_events: int
    heartbeat: float
    _event_counts: deque[list[float]]
    history_loaded: threading.Event
    connections: dict[str, ConnectionEvent]

    def _count_event(self, now: float) -> None:
        second = float(int(now))
        if self._event_counts and self._event_counts[-1][0] == second:
            self._event_counts[-1][1] += 1
        else:
            self._event_counts.append([second, 1.0])

    def health_payload(self) -> dict[str, Any]:
        current = float(int(self.clock.monotonic()))
        # The five whole seconds before the current (incomplete) one.
        recent = sum(n for second, n in self._event_counts if current - 5 <= second < current)
        return {
            "status": str(self._health_status()),
            "errors": self.errors,
            "last_error": self.last_error,
            "uptime_s": round(self.clock.time() - self.started_at, 1),
            "heartbeat_ts": int(self.heartbeat * 1000),
            "feed": self.settings.feed.name,
            "broker": self.settings.broker.name,
            "strategy": self.parts.strategy_status(),
            "queue_depth": self._queue.qsize(),
            "events_per_s": recent / 5.0,
            "dropped_market_events": self.dropped_market_events,
            "history_loaded": self.history_loaded.is_set(),
            "venues": {source: self._venue_status(source) for source in self.connections},
            "trading": self._trading_status(),
        }

    def metrics_data(self) -> dict[str, Any]:
        """Every engine number /metrics exports, as plain JSON-able data; any thread may ask.

        dashboard/metric_families.py turns it into Prometheus families; a web process that
        does not hold the engine can read the same dict from wherever the engine left it.
        """
        snap = self.state.snapshot()
        account, safety = snap.get("account") or {}, snap.get("safety") or {}
        now = self.clock.time()
        return {
            "ts": now,
            "equity": account.get("equity", 0.0),
            "daily_pnl": account.get("daily_pnl", 0.0),
            "open_positions": len(snap.get("positions") or []),
            "open_orders": len(snap.get("orders") or []),
            # No safety section yet reads as HALTED: never report a state that was not read.
            "trading_state": safety.get("trading_state", "HALTED"),
            "kill_switch_engaged": bool((safety.get("kill_switch") or {}).get("engaged")),
            "breakers": {b["name"]: bool(b.get("triggered")) for b in snap.get("breakers") or []},
            "errors": self.errors,
            "heartbeat_age_s": max(now - self.heartbeat, 0.0),
            "dropped_market_events": self.dropped_market_events,
            "queue_depth": self._queue.qsize(),
            "queues": self._queue_depths(),
            "published": self.bus.published_counts(),
            "orders": dict(self.parts.desk.orders.outcomes),
            "venues": [
                {"link": source, "venue": event.venue, "state": str(self._venue_state(source)[0])}
                for source, event in list(self.connections.items())
            ],
        }

    def _queue_depths(self) -> dict[str, int]:
        names = {COMMAND_PRIORITY: "commands", VENUE_PRIORITY: "venue", MARKET_PRIORITY: "market"}
        depths = dict.fromkeys(names.values(), 0)
        with self._queue.mutex:  # a scan of at most MAX_MARKET_BACKLOG items, per scrape
            for item in self._queue.queue:
                name = names.get(item.priority)
                if name is not None:
                    depths[name] += 1
        return depths

    def _trading_status(self) -> dict[str, Any]:
        """Paper or live and the account traded, always shown; a venue with market hours
        (Alpaca) adds whether its market is open."""
        broker = self.parts.broker
        live = getattr(broker, "mode", "paper") == "live"
        account = self.parts.venue_account or getattr(broker, "last_account", None)
        number = account.account_id if account is not None and broker.name != "paper" else ""
        status: dict[str, Any] = {
            "mode": "LIVE" if live else "PAPER",
            "account": number or "paper",
            "market": None,
            # The venue's own figures (Vigil's balance and equity are its ledger's).
            "venue": None,
        }
        if number and account is not None:
            status["venue"] = {
                "cash": account.cash,
                "equity": account.equity,
                "buying_power": account.buying_power,
                "currency": account.currency,
            }
        clock = getattr(broker, "market_clock", None)
        if clock is not None and clock.known:
            status["market"] = {
                "open": clock.is_open,
                "next_open_ts": int(clock.next_open * 1000),
                "next_close_ts": int(clock.next_close * 1000),
                "extended_hours": bool(getattr(broker, "extended_hours", False)),
            }
        return status

    def _venue_status(self, source: str) -> dict[str, Any]:
        event = self.connections[source]
        state, message = self._venue_state(source)
        status: dict[str, Any] = {
            "name": event.venue,
            "state": str(state),
            "attempt": event.attempt,
            "message": message,
            "since_ts": int(event.ts * 1000),
        }
        # A venue that says more about itself (the crypto exchange, market type, mode, its
        # balances, perpetual positions, funding) has it shown beside its state.
        venue = self.parts.broker if source == "broker" else self.parts.feed
        details = getattr(venue, "details", None)
        if callable(details):
            status["details"] = details()
        return status

    def _venue_state(self, source: str) -> tuple[ConnectionState, str]:
        event = self.connections[source]
        state, message = event.state, event.message
        if source == "feed" and state is ConnectionState.CONNECTED:
            # Connected but silent is not healthy: say "stale" as the stale-quote check would.
            last = self.parts.market.last_data_ts or event.ts
            silent = self.clock.time() - last
            if silent > self.settings.limits.stale_quote_s:
                state, message = ConnectionState.STALE, f"no market data for {silent:.0f} s"
        return state, message

    def _health_status(self) -> Health:
        # ERROR: safety state (e.g. an engaged kill switch) holds in memory but not on disk.
        # Also while fills or orders the venue reported are held in memory, not yet stored.
        # ERROR holds until the published safety section says durable too: the journal
        # clears its problem a moment before the engine publishes it, and /healthz must not
        # say OK while the page and /api/state still say NOT DURABLE.
        not_durable = self.parts.safety.durability_problem or (
            self.state.peek("safety", "durable", True) is False
        )
        if not_durable or self.parts.desk.storage_problem:
            return Health.ERROR
        return Health.DEGRADED if self.errors else Health.OK

    def _publish_health(self) -> None:
        health = self.health_payload()
        self.state.set("health", health)
        self.bus.publish("system_health_update", health)
