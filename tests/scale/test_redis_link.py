"""The two ends of the Redis link in this process, against a real redis-server: the relay's
ordering rule (snapshot before an immediate event) and RedisEngine's answers when the engine
is stale, silent or Redis is gone."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from dashboard.redis_link import RedisEngine
from dashboard.redis_settings import RedisSettings
from dashboard.relay import Relay
from engine.command_payloads import KillSwitchCmd
from engine.models import KillLevel
from engine.settings_group import load_group
from engine.store import Store
from tests.conftest import SyncEngine, wait_until
from tests.scale.processes import RedisServer


def settings_for(server: RedisServer, **env: str) -> RedisSettings:
    return load_group(RedisSettings, {"VIGIL_REDIS_URL": server.url, **env})


def test_immediate_event_then_snapshot_written_before_it_is_published(
    engine: SyncEngine, redis_server: RedisServer
) -> None:
    relay = Relay(settings_for(redis_server), engine.rt, None)
    relay.linked = True  # as start() leaves it; its threads are not needed here
    engine.rt.bus.subscribe(relay.bridge.on_event)
    log: list[str] = []
    ready = threading.Event()

    def monitor() -> None:
        with redis_server.client().monitor() as m:
            ready.set()
            for command in m.listen():
                log.append(command["command"])
                if (
                    command["command"].startswith("PUBLISH")
                    and "kill_switch_activated" in (command["command"])
                ):
                    return

    watcher = threading.Thread(target=monitor, daemon=True)
    watcher.start()
    assert ready.wait(5)
    # MONITOR streams only once the server has registered it: wait until it sees a marker.
    wait_until(lambda: redis_server.client().echo("marker") and "ECHO marker" in log, 5, "MONITOR")
    engine.do("kill_switch", {"level": "halt", "reason": "ordering"})
    while relay.bridge.step():
        pass
    watcher.join(10)
    published = next(
        i for i, c in enumerate(log) if c.startswith("PUBLISH") and "kill_switch_activated" in c
    )
    written = [
        i
        for i, c in enumerate(log[:published])
        if c.startswith("SET vigil:snapshot") and "HALTED" in c
    ]
    assert written, "the snapshot holding the halt was not written before the event"


def test_burst_of_immediate_events_then_one_snapshot_write_covers_those_filed_before_it(
    engine: SyncEngine, redis_server: RedisServer
) -> None:
    """A write covers every message filed before it began, none filed after: under a burst
    the relay writes once per batch (1,000 events/s once queued for seconds behind a write
    per event), and a message filed after a write still gets a newer snapshot first."""
    relay = Relay(settings_for(redis_server), engine.rt, None)
    relay.linked = True
    client = redis_server.client()

    def writes() -> int:
        """Snapshot writes Redis has run: two SETs each (the snapshot and the heartbeat)."""
        return int(client.info("commandstats").get("cmdstat_set", {}).get("calls", 0)) // 2

    engine.rt.bus.subscribe(relay.bridge.on_event)
    for n in range(5):
        engine.rt.bus.publish("system", {"message": f"burst {n}"})
    engine.clock.advance(0.001)
    relay.write_snapshot()  # begun after all five were filed
    while relay.bridge.step():
        pass
    assert writes() == 1 and relay.bridge.emitted >= 5
    engine.rt.bus.publish("system", {"message": "filed at the same instant as the write"})
    while relay.bridge.step():
        pass
    assert writes() == 2  # not provably after the write began: written again
    engine.clock.advance(0.001)
    engine.rt.bus.publish("system", {"message": "after"})
    while relay.bridge.step():
        pass
    assert writes() == 3


def test_engine_link_when_engine_stale_silent_or_redis_gone(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    settings = settings_for(redis_server, VIGIL_REDIS_HEARTBEAT_TTL_S="2")
    store = Store(tmp_path / "vigil.sqlite3")
    link = RedisEngine(settings, store)
    client = redis_server.client()
    try:
        assert link.readiness() == (
            False,
            {"ready": False, "reason": "engine not reachable", "engine_running": False},
        )
        assert link.snapshot() is None and link.symbols() == []

        def beat(age_s: float) -> None:
            doc: dict[str, Any] = {
                "health": {"status": "OK", "heartbeat_ts": int((time.time() - age_s) * 1000)},
                "running": True,
                "ready": [True, "ready"],
                "trading_state": "ACTIVE",
            }
            client.set("vigil:health", json.dumps(doc), px=60_000)

        beat(age_s=10)
        assert link.readiness()[1]["reason"] == "engine heartbeat stale"
        beat(age_s=0)
        assert link.readiness()[0] is True

        # A heartbeat but nobody serving the list: the caller is told within its timeout.
        started = time.monotonic()
        command = KillSwitchCmd(level=KillLevel.HALT, reason="anyone there")
        answer = link.call("kill_switch", command, "alice", timeout=1.0)
        assert time.monotonic() - started < 1.0 + 1.5
        assert answer["error"]["code"] == "ENGINE_UNAVAILABLE"
        queued = json.loads(client.lrange("vigil:commands", 0, -1)[0])
        assert queued["payload"] == {"level": "halt", "reason": "anyone there"}
        assert queued["deadline"] <= time.time()  # an engine starting now drops it

        redis_server.stop()
        started = time.monotonic()
        answer = link.call("kill_switch", command, "alice", timeout=5.0)
        assert answer["error"]["code"] == "REDIS_UNAVAILABLE"
        assert time.monotonic() - started < 2.5  # fails fast, not after the timeout
        assert link.health()[1]["reason"] == "redis not reachable"
        wait_until(lambda: link.snapshot() is None, 5, "no snapshot without Redis")
    finally:
        store.close()
