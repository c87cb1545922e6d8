"""The Prometheus families /metrics exports, built at scrape time from plain data: the engine's
`metrics_data()` dict, the notifier's `delivery_counts()` dict and this web process's own
objects (the bridge, the open sockets, the webhook's counts)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.models import OrderStatus, TradingState
from engine.users import ROLES
from engine.venues.base import ConnectionState

if TYPE_CHECKING:
    from dashboard.bridge import SocketBridge

Data = Mapping[str, Any]
STATE_CODES = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}
OUTCOMES = tuple(s.value for s in OrderStatus if not s.is_open)  # always exported, 0 or more
ENGINE_QUEUES = {"commands": "engine_commands", "venue": "engine_venue", "market": "engine_market"}


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


def _counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_text, value=value)


class ClientCounts:
    """Open Socket.IO connections by the role of their user, kept by the connect and
    disconnect handlers (dashboard/sockets.py)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._roles: dict[str, str] = {}  # Socket.IO sid -> role

    def connected(self, sid: str, role: str) -> None:
        with self._lock:
            self._roles[sid] = role

    def disconnected(self, sid: str) -> None:
        with self._lock:
            self._roles.pop(sid, None)

    def by_role(self) -> dict[str, int]:
        counts = dict.fromkeys(ROLES, 0)
        with self._lock:
            for role in self._roles.values():
                counts[role] = counts.get(role, 0) + 1
        return counts


@dataclass
class Sources:
    """Where each number comes from, asked at every scrape.

    In one process `engine_data` and `notifier_data` call the local runtime and dispatcher; a
    web process that does not hold the engine passes callables that read the engine's latest
    published dicts instead. None means "not available here": those families are left out
    rather than invented. `now` is this process's clock (epoch seconds).
    """

    engine_data: Callable[[], Data | None]
    notifier_data: Callable[[], Data | None]
    now: Callable[[], float]
    bridge: Callable[[], SocketBridge]
    clients: ClientCounts
    webhook_counts: Callable[[], Mapping[str, int]]


class VigilCollector(Collector):
    """Every family of /metrics, one collector so that each name is written once."""

    def __init__(self, sources: Sources) -> None:
        self._sources = sources

    def collect(self) -> Iterable[Metric]:
        src = self._sources
        engine, notifier, bridge = src.engine_data(), src.notifier_data(), src.bridge()
        if engine is not None:
            yield from self._engine(engine)
        if notifier is not None:
            yield _deliveries(notifier)
        queues = GaugeMetricFamily(
            "vigil_queue_depth", "Items waiting in each internal queue", labels=["queue"]
        )
        for name, depth in sorted(((engine or {}).get("queues") or {}).items()):
            queues.add_metric([ENGINE_QUEUES.get(name, f"engine_{name}")], depth)
        for name, depth in sorted(bridge.queue_depths().items()):
            queues.add_metric([f"bridge_{name}"], depth)
        if notifier is not None:
            queues.add_metric(["notifier_outbox"], notifier.get("queue_depth", 0))
        yield queues
        yield from _web(bridge, src.clients, src.webhook_counts())

    def _engine(self, data: Data) -> Iterable[Metric]:
        state = str(data.get("trading_state", "HALTED"))
        # A dict read from elsewhere may be old: its heartbeat age grows with it.
        age = data["heartbeat_age_s"] + max(self._sources.now() - data["ts"], 0.0)
        breakers = data.get("breakers") or {}
        yield _gauge("vigil_equity", "Account equity", data["equity"])
        yield _gauge("vigil_daily_pnl", "Session P&L", data["daily_pnl"])
        yield _gauge("vigil_open_positions", "Open positions", data["open_positions"])
        yield _gauge("vigil_open_orders", "Open orders", data["open_orders"])
        yield _gauge(
            "vigil_trading_state", "0 ACTIVE, 1 REDUCING, 2 HALTED", STATE_CODES.get(state, 2)
        )
        one_hot = GaugeMetricFamily(
            "vigil_trading_state_current",
            "1 for the engine's trading state, 0 for the others",
            labels=["state"],
        )
        for known in TradingState:
            one_hot.add_metric([known.value], int(known.value == state))
        yield one_hot
        yield _gauge(
            "vigil_kill_switch_engaged",
            "1 when the kill switch is engaged",
            int(bool(data["kill_switch_engaged"])),
        )
        yield _gauge(
            "vigil_breakers_tripped", "Breakers tripped", sum(map(bool, breakers.values()))
        )
        per_breaker = GaugeMetricFamily(
            "vigil_breaker_tripped", "1 when this circuit breaker is tripped", labels=["breaker"]
        )
        for name, tripped in sorted(breakers.items()):
            per_breaker.add_metric([name], int(bool(tripped)))
        yield per_breaker
        yield _counter("vigil_engine_errors_total", "Engine errors", data["errors"])
        yield _gauge(
            "vigil_engine_queue_depth", "Events waiting for the engine", data["queue_depth"]
        )
        yield _gauge("vigil_engine_heartbeat_age_seconds", "Seconds since the engine loop ran", age)
        yield _counter(
            "vigil_market_events_dropped_total",
            "Market events dropped under backlog",
            data["dropped_market_events"],
        )
        published = CounterMetricFamily(
            "vigil_events_published_total",
            "Events the engine published, by topic",
            labels=["topic"],
        )
        for topic, count in sorted((data.get("published") or {}).items()):
            published.add_metric([topic], count)
        yield published
        orders = CounterMetricFamily(
            "vigil_orders_total", "Orders closed, by final status", labels=["outcome"]
        )
        outcomes = {**dict.fromkeys(OUTCOMES, 0), **(data.get("orders") or {})}
        for outcome, count in sorted(outcomes.items()):
            orders.add_metric([outcome], count)
        yield orders
        yield _venues(data.get("venues") or [])
        relay = data.get("relay")
        if relay is not None:  # the engine process's own sends, over Redis
            yield _counter(
                "vigil_relay_emits_total", "Messages the engine process sent", relay["emitted"]
            )
            yield _counter(
                "vigil_relay_dropped_total", "Messages the engine process dropped", relay["dropped"]
            )


def _venues(venues: Iterable[Data]) -> Metric:
    family = GaugeMetricFamily(
        "vigil_venue_connection_state",
        "1 for each venue link's current connection state, 0 for the others",
        labels=["link", "venue", "state"],
    )
    for venue in venues:
        for state in ConnectionState:
            current = int(state.value == venue["state"])
            family.add_metric([venue["link"], venue["venue"], state.value], current)
    return family


def _deliveries(notifier: Data) -> Metric:
    family = CounterMetricFamily(
        "vigil_alert_deliveries_total",
        "Alert delivery attempts by channel and outcome (channel 'all': never offered to one)",
        labels=["channel", "outcome"],
    )
    for channel, outcomes in sorted((notifier.get("deliveries") or {}).items()):
        for outcome, count in sorted(outcomes.items()):
            family.add_metric([channel, outcome], count)
    return family


def _web(
    bridge: SocketBridge, clients: ClientCounts, webhook_counts: Mapping[str, int]
) -> Iterable[Metric]:
    """This web process's own families: the bridge's sends, open sockets, webhook requests."""
    yield _counter("vigil_socket_emits_total", "Socket.IO messages emitted", bridge.emitted)
    yield _counter("vigil_socket_dropped_total", "Socket.IO messages dropped", bridge.dropped)
    yield from bridge.latency.collect()
    by_role = GaugeMetricFamily(
        "vigil_connected_clients", "Open Socket.IO connections by role", labels=["role"]
    )
    for role, count in sorted(clients.by_role().items()):
        by_role.add_metric([role], count)
    yield by_role
    webhook = CounterMetricFamily(
        "vigil_webhook_requests_total", "Signal webhook requests by outcome", labels=["outcome"]
    )
    for outcome, count in sorted(dict(webhook_counts).items()):
        webhook.add_metric([outcome], count)
    yield webhook
