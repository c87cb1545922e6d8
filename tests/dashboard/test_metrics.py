"""GET /metrics on a served app: every family with its type, counters that move when the thing
happens (an order filled, a topic published, a socket opened and closed, an alert delivered to
a loopback Pushover), and every name the hand-written exporter had."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from dashboard import create_app
from dashboard.metrics import AppMetrics
from dashboard.services import Services
from engine.runtime import EngineRuntime
from engine.users import UserStore
from notifier.config import build_dispatcher
from notifier.dispatcher import Dispatcher
from tests.conftest import CHEAP_HASHER, make_settings, wait_until
from tests.dashboard.conftest import PASSWORDS, LiveApp
from tests.dashboard.realserver import RealServer, ack
from tests.notifier.pushover_fake import TOKEN, USER, PushoverFake

# Every sample name the hand-written exporter wrote; dashboards query these.
OLD_NAMES = (
    "vigil_equity",
    "vigil_daily_pnl",
    "vigil_open_positions",
    "vigil_open_orders",
    "vigil_trading_state",
    "vigil_kill_switch_engaged",
    "vigil_breakers_tripped",
    "vigil_engine_errors_total",
    "vigil_engine_queue_depth",
    "vigil_engine_heartbeat_age_seconds",
    "vigil_market_events_dropped_total",
    "vigil_socket_emits_total",
    "vigil_socket_dropped_total",
    "vigil_webhook_requests_total",
)
# Family name (as the parser names it: a counter without `_total`) -> type.
FAMILIES = {
    "vigil_events_published": "counter",
    "vigil_emit_latency_seconds": "histogram",
    "vigil_connected_clients": "gauge",
    "vigil_queue_depth": "gauge",
    "vigil_breaker_tripped": "gauge",
    "vigil_trading_state": "gauge",
    "vigil_trading_state_current": "gauge",
    "vigil_kill_switch_engaged": "gauge",
    "vigil_orders": "counter",
    "vigil_alert_deliveries": "counter",
    "vigil_venue_connection_state": "gauge",
    "vigil_engine_errors": "counter",
    "vigil_webhook_requests": "counter",
}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Served:
    """The serve() wiring (engine, notifier on the bus, bridge) behind a real HTTP server."""

    def __init__(self, data_dir: Path, pushover: PushoverFake) -> None:
        settings = make_settings(
            data_dir,
            PUSHOVER_USER_KEY=USER,
            PUSHOVER_API_TOKEN=TOKEN,
            VIGIL_PUSHOVER_API_URL=pushover.url,
            VIGIL_STRATEGY="none",
        )
        self.runtime = EngineRuntime(settings.engine)
        self.runtime.boot()
        users = UserStore(settings.engine.store.db_path, hasher=CHEAP_HASHER)
        users.ensure_admin(settings.web.admin_password)
        users.add("tina", PASSWORDS["tina"], "trader")
        users.add("vic", PASSWORDS["vic"], "viewer")
        self.notifier: Dispatcher = build_dispatcher(settings.alerts, data_dir)
        self.app = create_app(settings, self.runtime, notifier=self.notifier, users=users)
        self.services = Services.of(self.app)
        self.services.start_bridge()
        self.notifier.attach(self.runtime.bus)
        self.notifier.start()
        self.runtime.start(feed=False)
        for event in self.runtime.parts.feed.step(self.runtime.clock.time(), 0.2):
            self.runtime.submit_market(event)  # a price per symbol, so a market order fills
        assert self.runtime.wait_idle(10)

    def close(self) -> None:
        self.runtime.stop()
        self.notifier.stop(2.0)
        self.services.stop_bridge()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, RealServer, requests.Session]]:
    with PushoverFake() as pushover:
        app = Served(tmp_path / "var", pushover)
        try:
            with RealServer(app.app) as real:
                session = requests.Session()
                session.headers["Origin"] = real.url
                answer = session.post(
                    f"{real.url}/api/login",
                    json={"username": "tina", "password": PASSWORDS["tina"]},
                    timeout=10,
                )
                assert answer.status_code == 200, answer.text
                yield app, real, session
        finally:
            app.close()


def scrape(real: RealServer, session: requests.Session) -> tuple[dict[str, str], Samples]:
    answer = session.get(f"{real.url}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        types[family.name] = family.type
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return types, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def control(real: RealServer, session: requests.Session, name: str, body: Any) -> dict[str, Any]:
    answer = session.post(f"{real.url}/api/control/{name}", json=body, timeout=10)
    result: dict[str, Any] = answer.json()
    assert result["ok"], result
    return result


def test_scrape_then_every_family_typed_and_every_old_name_kept(
    served: tuple[Served, RealServer, requests.Session],
) -> None:
    _app, real, session = served

    types, samples = scrape(real, session)

    assert {name: types.get(name) for name in FAMILIES} == FAMILIES
    names = {name for name, _labels in samples}
    assert [n for n in OLD_NAMES if n not in names and n != "vigil_webhook_requests_total"] == []
    assert value(samples, "vigil_trading_state") == 0
    assert value(samples, "vigil_trading_state_current", state="ACTIVE") == 1
    assert value(samples, "vigil_trading_state_current", state="HALTED") == 0
    connected = {"link": "broker", "venue": "paper"}
    assert value(samples, "vigil_venue_connection_state", **connected, state="connected") == 1
    assert value(samples, "vigil_venue_connection_state", **connected, state="stale") == 0
    queues = {dict(labels)["queue"] for name, labels in samples if name == "vigil_queue_depth"}
    assert {"engine_commands", "engine_market", "bridge_immediate", "notifier_outbox"} <= queues
    assert value(samples, "vigil_connected_clients", role="trader") == 0
    assert value(samples, "vigil_orders_total", outcome="filled") == 0

    def emitted() -> bool:  # "engine started" goes out on the bridge's own thread
        _types, now = scrape(real, session)
        return value(now, "vigil_emit_latency_seconds_count", kind="immediate") > 0

    wait_until(emitted, 10, "an immediate emit to be timed")


def test_things_happen_then_their_counters_move(
    served: tuple[Served, RealServer, requests.Session],
) -> None:
    app, real, session = served
    _types, before = scrape(real, session)

    control(real, session, "place_order", {"symbol": "QQQ", "side": "buy", "qty": 1})
    app.runtime.bus.publish("metrics_probe", {"n": 1})

    def moved() -> Samples | None:
        _types, now = scrape(real, session)
        # The count moves as the fill is applied, the position once the engine publishes it.
        return now if value(now, "vigil_open_positions") == 1 else None

    after = wait_until(moved, 10, "the filled order's position")
    filled = value(before, "vigil_orders_total", outcome="filled") + 1
    assert value(after, "vigil_orders_total", outcome="filled") == filled
    assert value(after, "vigil_events_published_total", topic="metrics_probe") == 1
    assert value(after, "vigil_orders_total", outcome="rejected") == 0

    control(real, session, "kill_switch", {"level": "halt", "reason": "metrics drill"})

    def delivered() -> Samples | None:
        _types, now = scrape(real, session)
        sent = value(now, "vigil_alert_deliveries_total", channel="pushover", outcome="sent")
        return now if sent >= 1 else None

    halted = wait_until(delivered, 20, "the kill switch alert to reach the loopback Pushover")
    assert value(halted, "vigil_kill_switch_engaged") == 1
    assert value(halted, "vigil_trading_state") == 2
    assert value(halted, "vigil_trading_state_current", state="HALTED") == 1
    assert value(halted, "vigil_trading_state_current", state="ACTIVE") == 0


def test_socket_opens_and_closes_then_clients_by_role_follow(
    served: tuple[Served, RealServer, requests.Session],
) -> None:
    _app, real, session = served
    ws, seen = real.connect(real.login("tina"), real.url)
    try:
        assert seen[-1].startswith("40"), seen

        def trader_count(expected: int) -> bool:
            _types, now = scrape(real, session)
            return value(now, "vigil_connected_clients", role="trader") == expected

        wait_until(lambda: trader_count(1), 10, "the trader's socket to be counted")
        # An event that only calls itself "disconnect", then one acknowledged: both handled.
        ws.send('42["disconnect"]')
        assert ack(ws, 1, '421["request_state"]').startswith("431[")
        _types, now = scrape(real, session)
        assert value(now, "vigil_connected_clients", role="trader") == 1
        assert value(now, "vigil_connected_clients", role="viewer") == 0
    finally:
        ws.close()
    wait_until(lambda: trader_count(0), 10, "the closed socket to be uncounted")


def test_metrics_then_login_required(served: tuple[Served, RealServer, requests.Session]) -> None:
    _app, real, _session = served
    assert requests.get(f"{real.url}/metrics", timeout=10).status_code == 401


def test_engine_numbers_from_a_json_copy_or_none_then_same_families_or_left_out(
    live: LiveApp,
) -> None:
    # A web process without the engine reads its dicts from elsewhere: a JSON copy must give
    # the same families, and no data at all must leave the engine's out, not invent them.
    sources = AppMetrics.of(live.app).sources
    local_engine, local_notifier = sources.engine_data, sources.notifier_data
    client = live.http("vic")

    def families() -> dict[str, str]:
        answer = client.get("/metrics")
        assert answer.status_code == 200
        text = answer.get_data(as_text=True)
        return {f.name: f.type for f in text_string_to_metric_families(text)}

    local = families()
    sources.engine_data = lambda: json.loads(json.dumps(local_engine()))
    sources.notifier_data = lambda: {"deliveries": {"pushover": {"sent": 2}}, "queue_depth": 1}
    copied = families()
    sources.engine_data = lambda: None
    sources.notifier_data = local_notifier
    without = families()

    assert copied == {**local, "vigil_alert_deliveries": "counter"}
    assert "vigil_equity" not in without and "vigil_trading_state" not in without
    assert {"vigil_connected_clients", "vigil_queue_depth", "vigil_socket_emits"} <= set(without)
