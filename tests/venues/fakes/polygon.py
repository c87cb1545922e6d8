"""Polygon fakes together: pytest fixtures, the environment pointing the feed at them, a sink
that collects what the feed reports, a market streamer, and `python -m` for a manual run."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from engine.venues.base import ConnectionEvent, ConnectionState
from tests.conftest import wait_until
from tests.venues.fakes.polygon_rest import API_KEY, FakePolygonRest, minute_bars
from tests.venues.fakes.polygon_ws import FakePolygonWs, agg, index_value, quote, trade
from tests.venues.fakes.sink import EventSink

NOW = time.time()
START_PRICES = {"SPY": 500.0, "QQQ": 400.0}


def seed_history(rest: FakePolygonRest, end: float = NOW, minutes: int = 400) -> None:
    for seed, (symbol, price) in enumerate(START_PRICES.items(), 1):
        rest.bars[symbol] = minute_bars(end, minutes, start=price, seed=seed)
    rest.bars["I:VIX"] = minute_bars(end, 5, start=17.0, seed=99)


@pytest.fixture(name="rest")
def rest_fixture() -> Iterator[FakePolygonRest]:
    fake = FakePolygonRest(page_size=50).start()
    seed_history(fake)
    yield fake
    fake.stop()


@pytest.fixture(name="ws")
def ws_fixture() -> Iterator[FakePolygonWs]:
    fake = FakePolygonWs().start()
    yield fake
    fake.stop()


def polygon_env(rest: FakePolygonRest, ws: FakePolygonWs, **extra: str) -> dict[str, str]:
    """The variables pointing Vigil's Polygon feed at the fakes (fast timeouts for tests)."""
    return {
        "POLYGON_API_KEY": API_KEY,
        "VIGIL_POLYGON_REST_URL": rest.url,
        "VIGIL_POLYGON_WS_URL": ws.url,
        "VIGIL_POLYGON_HTTP_TIMEOUT_S": "0.5",
        "VIGIL_POLYGON_HISTORY_TIMEOUT_S": "3",
        "VIGIL_POLYGON_RECONNECT_BASE_S": "0.05",
        "VIGIL_POLYGON_RECONNECT_CAP_S": "0.2",
        **extra,
    }


class Collector(EventSink):
    """The feed's sink: every event, thread-safe, with helpers to wait for one."""

    def states(self) -> list[ConnectionEvent]:
        return self.of(ConnectionEvent)

    def wait_state(self, state: ConnectionState, after: int = 0, timeout: float = 5.0) -> Any:
        return wait_until(
            lambda: next((e for e in self.states()[after:] if e.state is state), None),
            timeout,
            f"feed state {state}",
        )


class Streamer:
    """Sends a live market into the websocket fake: a quote and a trade per symbol every
    `tick_s`, a minute aggregate as each minute ends, the VIX every second."""

    def __init__(self, ws: FakePolygonWs, tick_s: float = 0.2, seed: int = 11) -> None:
        self.ws, self.tick_s = ws, tick_s
        self._rng = random.Random(seed)
        self._prices = dict(START_PRICES)
        self._minute: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="polygon-streamer", daemon=True)

    def start(self) -> Streamer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        last_vix = 0.0
        while not self._stop.wait(self.tick_s):
            now = time.time()
            events = []
            for symbol, price in self._prices.items():
                price = round(price * (1 + self._rng.gauss(0, 0.0004)), 2)
                self._prices[symbol] = price
                events += [quote(symbol, price - 0.01, price + 0.01, ts=now)]
                events += [trade(symbol, price, self._rng.randint(1, 300), ts=now)]
                events += self._roll_minute(symbol, now, price)
            self.ws.send("stocks", events)
            if now - last_vix >= 1.0:
                last_vix = now
                self.ws.send("indices", [index_value(round(16 + self._rng.random(), 2), ts=now)])

    def _roll_minute(self, symbol: str, now: float, price: float) -> list[dict[str, Any]]:
        minute = now // 60 * 60
        bar = self._minute.get(symbol)
        out = []
        if bar is not None and bar[0] != minute:
            out.append(agg("AM", symbol, bar[0], bar[1], bar[2], bar[3], bar[4], bar[5]))
            bar = None
        if bar is None:
            self._minute[symbol] = [minute, price, price, price, price, 0.0]
        else:
            bar[2], bar[3], bar[4], bar[5] = max(bar[2], price), min(bar[3], price), price, bar[5]
        return out


def main() -> None:
    """Run both fakes with a live market until interrupted; print the variables to use."""
    rest, ws = FakePolygonRest().start(), FakePolygonWs().start()
    seed_history(rest)
    streamer = Streamer(ws).start()
    print(f"POLYGON_API_KEY={API_KEY}")
    print(f"VIGIL_POLYGON_REST_URL={rest.url}")
    print(f"VIGIL_POLYGON_WS_URL={ws.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        streamer.stop()
        ws.stop()
        rest.stop()


if __name__ == "__main__":
    main()
