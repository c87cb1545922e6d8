"""The relay's turns over a real redis-server: a burst goes out in one round trip (snapshot SET
first, then every PUBLISH in order, in the message format the web processes' listeners read),
reaches a real web process's page complete and in order, and is dropped, not buffered, when
Redis is gone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from dashboard.relay import Relay
from tests.conftest import SyncEngine, wait_until
from tests.scale.clients import PageClient
from tests.scale.processes import RedisServer
from tests.scale.test_redis_link import settings_for
from tests.server_process import ServerProcess

BURST = 200


class RoundTrips:
    """Every request this process sends to Redis (a command or a whole pipeline is one
    `send_packed_command`, then its replies are read): the round trips, with their bytes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[bytes] = []
        real = redis.connection.AbstractConnection.send_packed_command

        def counted(connection: Any, command: Any, check_health: bool = True) -> None:
            chunks = [command] if isinstance(command, (bytes, str)) else list(command)
            self.sent.append(b"".join(c.encode() if isinstance(c, str) else c for c in chunks))
            real(connection, command, check_health)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)


@pytest.fixture
def relay(engine: SyncEngine, redis_server: RedisServer) -> Iterator[Relay]:
    found = Relay(settings_for(redis_server), engine.rt, None)
    found.linked = True  # as start() leaves it; the test drives the bridge itself
    engine.rt.bus.subscribe(found.bridge.on_event)
    yield found
    engine.rt.bus.unsubscribe(found.bridge.on_event)


def drain(relay: Relay) -> None:
    while relay.bridge.step():
        pass


def test_burst_then_one_round_trip_with_the_snapshot_first_and_every_publish_in_order(
    engine: SyncEngine,
    relay: Relay,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listener = redis_server.client().pubsub(ignore_subscribe_messages=True)
    listener.subscribe(relay.settings.channel)
    engine.rt.bus.publish("system", {"message": "warm-up"})  # connections and handshakes
    drain(relay)
    trips = RoundTrips(monkeypatch)
    for n in range(BURST):
        engine.rt.bus.publish("system", {"message": f"burst {n}"})
    drain(relay)

    assert len(trips.sent) == 1, f"{len(trips.sent)} round trips for {BURST} events"
    packed = trips.sent[0]
    assert packed.count(b"PUBLISH") == BURST
    assert packed.index(b"vigil:snapshot") < packed.index(b"PUBLISH"), "the snapshot first"
    assert relay.bridge.emitted == BURST + 1 and relay.bridge.dropped_unlinked == 0

    received: list[dict[str, Any]] = []

    def listened() -> bool:
        message = listener.get_message(timeout=0.2)
        if message is not None:
            received.append(json.loads(message["data"]))
        return len([m for m in received if m["event"] == "system"]) >= BURST + 1

    wait_until(listened, 10, "the burst on the channel")
    listener.close()
    events = [m for m in received if m["event"] == "system"]
    texts = [m["data"][0]["message"] for m in events]
    assert texts == ["warm-up", *(f"burst {n}" for n in range(BURST))]
    # python-socketio's PubSubManager message, as its listeners in the web processes read it.
    first = events[1]
    assert set(first) >= {"method", "event", "data", "namespace", "room", "skip_sid", "host_id"}
    assert first["method"] == "emit" and first["namespace"] == "/" and first["room"] is None
    assert first["callback"] is None and first["skip_sid"] is None
    # The snapshot written in that round trip holds the last event of the turn.
    snapshot = json.loads(redis_server.client().get("vigil:snapshot"))["snapshot"]
    assert snapshot["activity"][-1]["message"] == f"burst {BURST - 1}"


def test_burst_then_a_web_process_page_gets_every_event_in_order(
    tmp_path: Path, engine: SyncEngine, relay: Relay, redis_server: RedisServer
) -> None:
    web = ServerProcess(tmp_path / "var", VIGIL_REDIS_URL=redis_server.url)
    web.spawn()
    page: PageClient | None = None
    try:
        wait_until(lambda: _answers(web.url), 60, "the web process answering")
        seen = page = PageClient(web).connect()

        def marker_arrived() -> bool:
            # Until the web process has subscribed, what the relay publishes reaches no one.
            engine.rt.bus.publish("system", {"message": "marker"})
            drain(relay)
            return any(m.get("message") == "marker" for m in seen.events("system"))

        wait_until(marker_arrived, 30, "a marker through Redis to the page")
        trips = relay.bridge.round_trips
        for n in range(BURST):
            engine.rt.bus.publish("system", {"message": f"burst {n}"})
        drain(relay)
        assert relay.bridge.round_trips == trips + 1

        def burst() -> list[str]:
            texts = [m.get("message", "") for m in seen.events("system")]
            return [t for t in texts if t.startswith("burst ")]

        wait_until(lambda: len(burst()) >= BURST, 20, f"{BURST} events on the page")
        assert burst() == [f"burst {n}" for n in range(BURST)]
    finally:
        if page is not None:
            page.close()
        web.stop()


def test_redis_gone_then_the_turn_is_dropped_counted_and_the_link_lost(
    engine: SyncEngine, relay: Relay, redis_server: RedisServer
) -> None:
    told: list[tuple[bool, str]] = []
    relay.on_link_change = lambda linked, why: told.append((linked, why))
    engine.rt.bus.publish("system", {"message": "before"})
    drain(relay)
    emitted = relay.bridge.emitted
    redis_server.stop()
    for n in range(3):
        engine.rt.bus.publish("system", {"message": f"lost {n}"})
    drain(relay)
    assert relay.bridge.dropped_unlinked == 3 and relay.bridge.emitted == emitted
    assert relay.linked is False and [linked for linked, _ in told] == [False]
    assert "Redis link lost" in told[0][1]
    engine.rt.bus.publish("system", {"message": "while down"})
    drain(relay)  # not linked: not even tried
    assert relay.bridge.dropped_unlinked == 4 and len(told) == 1
    assert relay.bridge.queue_depths()["immediate"] == 0  # nothing kept for later


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code in (200, 503)
    except requests.RequestException:
        return False
