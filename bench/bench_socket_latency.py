"""Benchmark of bus-to-browser latency: engine events through the bridge to a websocket client.

Run from the repository root: ``python bench/bench_socket_latency.py [--seconds 30]``.

It starts the real server as the Procfile does (gunicorn, one gthread worker) on a free
127.0.0.1 port with a temporary data directory and a `trader` user, and connects two
python-socketio clients (websocket transport) from this process: an observer (admin) and the
trader. Two phases:

1. Passive, `--seconds` long. The observer stamps every arrival with the wall clock and
   subtracts the payload's `ts` (epoch ms, set by the bus at publish):
   - `quote_update` age: conflated, so it includes up to FLUSH_INTERVAL (100 ms) of deliberate
     waiting in the bridge on top of the transport; reported on its own.
   - `breaker_update` age: an immediate topic the engine publishes about once a second; this is
     publish → bridge queue → emit → websocket → client, the number to compare with the floor.
2. Active, `--commands` acknowledged light commands from the trader, alternating
   `pause_entries` / `resume_entries`, `--gap` seconds apart:
   - ack RTT at the trader (emit → acknowledgement; the engine audits the command, i.e. one
     SQLite commit, before answering);
   - ack RTT of `subscribe_bars`, sent between them, which the dashboard answers without the
     engine: the transport and Flask-SocketIO share of the RTT above;
   - emit → arrival of the resulting immediate `system` event at the observer;
   - age of those `system` and `safety_update` events at the observer (now - ts).

`ts` has millisecond resolution and is truncated, so ages read 0 to 1 ms high (0.5 ms on average).
The reference floor for a bare Flask-SocketIO emitter under gunicorn gthread (measured quiet,
outside this repository) is p50 0.5 ms / p99 2-4 ms. Only 127.0.0.1 is contacted; the server
is stopped at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_kill_switch import Client, load, machine, start_server, table  # noqa: E402
from engine.users import UserStore  # noqa: E402

TRADER, TRADER_PASSWORD = "trader", "bench-trader-password"


def now_ms() -> float:
    return time.time() * 1000.0


class Observer:
    """Collects ages of chosen topics, and arrival times of the commands' `system` events."""

    def __init__(self, client: Client) -> None:
        self.ages: dict[str, list[float]] = {}
        self.recording = False
        self._lock = threading.Lock()
        self.system_arrivals: dict[str, float] = {}
        for topic in ("quote_update", "breaker_update", "safety_update", "system"):
            client.handlers[topic] = self._handler(topic)

    def _handler(self, topic: str) -> Any:
        def handle(data: dict[str, Any]) -> None:
            arrived, wall = time.perf_counter(), now_ms()
            if topic == "system":
                message = str(data.get("message", ""))
                with self._lock:
                    self.system_arrivals.setdefault(message, arrived)
            if self.recording and isinstance(data.get("ts"), int):
                with self._lock:
                    self.ages.setdefault(topic, []).append(wall - data["ts"])

        return handle

    def take(self, topic: str) -> list[float]:
        with self._lock:
            return self.ages.pop(topic, [])

    def wait_system(self, message: str, timeout: float = 5.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if message in self.system_arrivals:
                    return self.system_arrivals.pop(message)
            time.sleep(0.0005)
        raise RuntimeError(f"no system event {message!r} within {timeout}s")


def run(seconds: float, commands: int, gap: float) -> dict[str, dict[str, list[float]]]:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        data_dir = Path(tmp) / "var"
        data_dir.mkdir(parents=True)
        UserStore(data_dir / "vigil.sqlite3").add(TRADER, TRADER_PASSWORD, "trader")
        server = start_server(data_dir)
        clients: list[Client] = []
        try:
            observer_client = Client(server, server.login(), "observer")
            clients.append(observer_client)
            observer = Observer(observer_client)
            trader = Client(server, server.login(TRADER, TRADER_PASSWORD), "trader")
            clients.append(trader)
            observer_client.wait_for_quotes(("SPY",))

            observer.recording = True
            time.sleep(seconds)
            observer.recording = False
            passive = {
                "quote_update age (conflated, ≤100 ms wait)": observer.take("quote_update"),
                "breaker_update age (immediate)": observer.take("breaker_update"),
            }
            observer.take("safety_update")
            observer.take("system")

            rtt: list[float] = []
            broadcast: list[float] = []
            bare: list[float] = []
            observer.recording = True
            for i in range(commands):
                name = "pause_entries" if i % 2 == 0 else "resume_entries"
                verb = "paused" if i % 2 == 0 else "resumed"
                started = time.perf_counter()
                answer = trader.call(name, {})
                acked = time.perf_counter()
                if not answer.get("ok"):
                    raise RuntimeError(f"{name} refused: {answer}")
                heard = observer.wait_system(f"entries {verb} by {TRADER}")
                rtt.append((acked - started) * 1000)
                broadcast.append((heard - started) * 1000)
                time.sleep(gap / 2)
                started = time.perf_counter()
                answer = trader.call("subscribe_bars", {"symbol": "SPY", "timeframe": "1m"})
                bare.append((time.perf_counter() - started) * 1000)
                if not answer.get("ok"):
                    raise RuntimeError(f"subscribe_bars refused: {answer}")
                time.sleep(gap / 2)
            observer.recording = False
            active = {
                "pause/resume ack RTT at the trader": rtt,
                "subscribe_bars ack RTT (never reaches the engine)": bare,
                "emit → `system` event at the observer": broadcast,
                "`system` age at the observer (immediate)": observer.take("system"),
                "`safety_update` age at the observer (immediate)": observer.take("safety_update"),
            }
        finally:
            for client in clients:
                client.close()
            server.stop()
    return {"passive": passive, "active": active}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="passive phase length")
    parser.add_argument("--commands", type=int, default=400, help="pause/resume commands")
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between commands")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 600 or not 1 <= args.commands <= 10_000:
        parser.error("--seconds must be in 1..600 and --commands in 1..10000")

    print("### Socket latency: engine bus → bridge → websocket client (gunicorn gthread)\n")
    command = " ".join(
        ["python bench/bench_socket_latency.py", *(sys.argv[1:] if argv is None else argv)]
    )
    print(f"Command: `{command}`  ")
    print(f"Machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M %Z')}; {load()} at start\n")
    results = run(args.seconds, args.commands, args.gap)
    print(f"Passive phase, {args.seconds:g} s (ages: client wall clock - payload ts):\n")
    print(table(results["passive"]))
    print(f"\nActive phase, {args.commands} commands {args.gap * 1000:g} ms apart:\n")
    print(table(results["active"]))
    print(f"\n{load()} at the end.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
