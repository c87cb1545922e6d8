"""Benchmark (session 5): the relay alone, bus -> bridge -> Redis -> a subscriber, no web process.

Run from the repository root: ``python bench/bench_relay_turns.py [--rates 100 1000]``.

An engine (booted, driven by no thread: nothing else publishes) and dashboard/relay.py's Relay
in this process, against a private `redis-server --save '' --appendonly no` on a free port;
the bridge turns on a thread of its own as in the engine process (the relay's snapshot refresher
and command server do not run). The main thread publishes `progress`, an immediate topic, on
the engine's bus at each rate for `--seconds`, then `--burst` events at once (the bridge
finds a backlog: its max age is the time to drain it); a subscriber thread on the Socket.IO channel
decodes every message and records its age (its wall clock on arrival minus the payload's `t`,
stamped just before the publish). Round trips are counted on redis-py's connections
(`send_packed_command`: one per command or pipeline) and snapshot writes in Redis's
commandstats (two SETs each), so the script measures the relay of any commit alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench.stats import load, machine, percentile  # noqa: E402


class Counted:
    """Round trips this process makes to Redis."""

    def __init__(self) -> None:
        self.count = 0
        real = redis.connection.AbstractConnection.send_packed_command

        def counted(connection: Any, command: Any, check_health: bool = True) -> None:
            self.count += 1
            real(connection, command, check_health)

        redis.connection.AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]


def one_rate(
    relay: Any, bus: Any, server: Any, trips: Counted, rate: float, s: float, burst: int = 0
) -> str:
    channel = relay.settings.channel
    ages: list[float] = []
    stop = threading.Event()
    listener = server.client().pubsub(ignore_subscribe_messages=True)
    listener.subscribe(channel)

    def listen() -> None:
        while not stop.is_set():
            message = listener.get_message(timeout=0.2)
            if message is None:
                continue
            data = json.loads(message["data"])["data"][0]
            if "t" in data:
                ages.append(time.time() * 1000 - data["t"])

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    client = server.client()
    sets_before = client.info("commandstats").get("cmdstat_set", {}).get("calls", 0)
    trips_before = trips.count
    published = 0
    started = time.monotonic()
    while burst and published < burst:  # all at once: the bridge finds a backlog
        bus.publish("progress", {"message": "bench", "pct": 0, "t": time.time() * 1000})
        published += 1
    while not burst and (now := time.monotonic()) - started < s:
        due = started + published / rate
        if due > now:
            time.sleep(due - now)
        bus.publish("progress", {"message": "bench", "pct": 0, "t": time.time() * 1000})
        published += 1
    deadline = time.monotonic() + 30
    while len(ages) < published and time.monotonic() < deadline:
        time.sleep(0.05)
    trips_made = trips.count - trips_before
    stop.set()
    thread.join(5)
    listener.close()
    sets = client.info("commandstats").get("cmdstat_set", {}).get("calls", 0) - sets_before
    label = f"burst of {burst:,}" if burst else f"{rate:,.0f}"
    if not ages:
        return f"| {label} | {published:,} | 0 | - | - | - | - | {trips_made:,} | - | - |"
    return (
        f"| {label} | {published:,} | {len(ages):,} | {statistics.median(ages):.2f} | "
        f"{percentile(ages, 90):.2f} | {percentile(ages, 99):.2f} | {max(ages):.2f} | "
        f"{trips_made:,} | {published / max(trips_made, 1):.1f} | {sets // 2:,} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rates", type=float, nargs="+", default=[100.0, 1000.0])
    parser.add_argument("--burst", type=int, default=5000, help="then N events at once (0: no)")
    args = parser.parse_args(argv)
    from dashboard.redis_settings import RedisSettings
    from dashboard.relay import Relay
    from engine.clock import SystemClock
    from engine.settings_group import load_group
    from tests.conftest import SyncEngine, make_settings
    from tests.scale.processes import RedisServer

    command = " ".join(["python bench/bench_relay_turns.py", *(argv or sys.argv[1:])])
    print("### The relay alone: bus -> bridge -> Redis -> subscriber\n")
    print(f"Command: `{command}`  ")
    print(f"Machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M %Z')}; {load()} at start\n")
    print(
        "| rate /s | published | received | p50 ms | p90 ms | p99 ms | max ms | round trips "
        "| events / round trip | snapshot writes |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        engine = SyncEngine(make_settings(Path(tmp) / "var"), SystemClock())  # type: ignore[arg-type]
        settings = load_group(RedisSettings, {"VIGIL_REDIS_URL": server.url})
        relay = Relay(settings, engine.rt, None)
        try:
            relay.write_snapshot()
            relay.linked = True
            engine.rt.bus.subscribe(relay.bridge.on_event)

            relay.bridge.start()  # its own thread, as in the engine process
            trips = Counted()
            one_rate(relay, engine.rt.bus, server, trips, 100, 1)  # warm-up, not shown
            for rate in args.rates:
                print(one_rate(relay, engine.rt.bus, server, trips, rate, args.seconds))
            if args.burst:
                print(one_rate(relay, engine.rt.bus, server, trips, 0, 0, args.burst))
        finally:
            relay.bridge.stop()
            engine.close()
            server.stop()
    print(f"\n{load()} at the end.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
