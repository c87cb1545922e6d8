"""Shared fixtures: settings in a temp data dir, engines on a fake clock, apps with live engines."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from dashboard.settings import VigilSettings, load_settings
from engine.clock import FakeClock
from engine.parts import EngineParts
from engine.runtime import EngineRuntime
from engine.settings import EngineSettings

ADMIN_PASSWORD = "correct-horse-battery"
TEST_SECRET_KEY = "test-secret-key-7f1c2a9e5b"
# argon2id with the least work it accepts, for accounts made in-process: the suite hashes
# thousands of passwords, and the accounts are under test, not argon2's cost (the product's
# own default is checked in tests/engine/test_users_hashing.py).
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def wait_until(
    predicate: Callable[[], object], timeout: float = 5.0, message: str = "condition"
) -> Any:
    """Poll `predicate` until it returns something truthy (returned) or fail after `timeout`.

    For outcomes produced by other threads or processes: never sleep a fixed time and assert.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {message}")
        time.sleep(0.01)


def make_settings(data_dir: Path, **env: str) -> VigilSettings:
    base = {
        "VIGIL_DATA_DIR": str(data_dir),
        "VIGIL_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "VIGIL_SECRET_KEY": TEST_SECRET_KEY,
        "VIGIL_SIM_HISTORY_S": "0",
        # The paper venue answers through the queue at once: tests drain it, never sleep.
        "VIGIL_PAPER_LATENCY_MS": "0",
    }
    base.update(env)
    return load_settings(base)


def make_engine_settings(data_dir: Path, **env: str) -> EngineSettings:
    return make_settings(data_dir, **env).engine


@pytest.fixture
def settings(tmp_path: Path) -> VigilSettings:
    return make_settings(tmp_path / "var")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=time.time())


class SyncEngine:
    """An engine driven from the test's thread: no writer thread, no feed pump, a fake clock."""

    def __init__(self, settings: VigilSettings, clock: FakeClock) -> None:
        self.clock = clock
        self.rt = EngineRuntime(settings.engine, clock=clock)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.rt.bus.subscribe(lambda topic, payload: self.events.append((topic, payload)))
        self.rt.boot()  # restores state and publishes the whole snapshot
        # Market data a test feeds straight in reaches the venue, whose answers queue up: they
        # are applied right after, as the engine thread would before the next tick.
        on_market = self.rt.parts.router.on_market

        def on_market_then_venue(event: Any) -> None:
            on_market(event)
            self.venue()

        self.rt.parts.router.on_market = on_market_then_venue

    @property
    def parts(self) -> EngineParts:
        return self.rt.parts

    def market(self, seconds: float, dt: float = 0.2) -> None:
        """Step the simulated market; every event goes through the engine as it would live."""
        steps = max(round(seconds / dt), 1)
        for _ in range(steps):
            self.clock.advance(dt)
            for event in self.parts.feed.step(self.clock.time(), dt):
                self.parts.router.on_market(event)
        self.rt.run_once()
        self.venue()  # what the periodic work sent (a flatten, say) has its answer too

    def venue(self) -> int:
        """Apply what the venue has reported so far (its events wait on the engine queue)."""
        count = 0
        while self.rt.run_once(periodic=False):
            count += 1
        return count

    def do(self, name: str, payload: dict[str, Any], actor: str = "alice") -> dict[str, Any]:
        from engine.commands import parse_command

        command = parse_command(name, payload)
        assert not isinstance(command, dict), command
        result = self.parts.commands.execute(name, command, actor)
        self.venue()
        return result

    def topics(self, name: str) -> list[dict[str, Any]]:
        return [payload for topic, payload in self.events if topic == name]

    def close(self) -> None:
        self.rt.stop()


@pytest.fixture
def engine(settings: VigilSettings, clock: FakeClock) -> Iterator[SyncEngine]:
    sync = SyncEngine(settings, clock)
    yield sync
    sync.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Any]:
    """A real redis-server on a free loopback port, for this test only."""
    from tests.scale.processes import RedisServer  # it imports this module

    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


def _starts_processes(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    return bool(
        item.get_closest_marker("slow")
        or item.get_closest_marker("browser")
        or (module is not None and "ServerProcess" in vars(module))
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files that start servers or browsers run first (otherwise in their usual order): with
    `make test`'s two workers (one file each at a time) the quick files then fill in at the
    end instead of one long process test running alone."""
    slow_files = {item.path for item in items if _starts_processes(item)}
    items.sort(key=lambda item: item.path not in slow_files)
