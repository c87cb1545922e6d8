"""EngineLink: how the web layer reaches "the engine", in this process (LocalEngine) or in the
engine process over Redis (dashboard/redis_link.py's RedisEngine); routes never branch on it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from engine.commands import error

if TYPE_CHECKING:
    from dashboard.services import Notifier
    from engine.clock import Clock
    from engine.runtime import EngineRuntime
    from engine.store import Store

TEST_NOTIFICATION = "test_notification"
TEST_NOTIFICATION_TIMEOUT_S = 15.0


class EngineLink(Protocol):
    """What the web layer asks of the engine. `store` is the data directory's SQLite (audit
    rows, trades): the same file in both modes."""

    store: Store
    clock: Clock

    def snapshot(self) -> dict[str, Any] | None:
        """The page's snapshot with the notifier's `alerts`; None before the engine booted."""

    def symbols(self) -> list[str]: ...

    def instruments(self) -> dict[str, dict[str, float]]:
        """symbol -> {"tick", "lot"}."""

    def call(
        self, name: str, command: Any, actor: str, timeout: float | None = None
    ) -> dict[str, Any]:
        """Run a command (or query, or the webhook's intake, or test_notification) on the
        engine and return its answer, or an error after `timeout` seconds."""

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(alive, the /healthz body)."""

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """(ready, the /readyz body)."""

    def health_payload(self) -> dict[str, Any] | None:
        """The engine's own health payload (errors, queue depth, heartbeat...)."""

    def first_sighting(self, key: str, ttl_s: float) -> bool:
        """False when another web process saw `key` in the last `ttl_s` seconds."""


class LocalEngine:
    """The engine in this process (`make run`): today's behaviour, unchanged."""

    def __init__(self, runtime: EngineRuntime, notifier: Notifier | None) -> None:
        self.runtime = runtime
        self.notifier = notifier
        self.clock = runtime.clock

    @property
    def store(self) -> Store:
        return self.runtime.parts.store

    def snapshot(self) -> dict[str, Any] | None:
        if not self.runtime.booted:
            return None
        snap = self.runtime.snapshot()
        snap["alerts"] = self.notifier.status() if self.notifier is not None else []
        return snap

    def symbols(self) -> list[str]:
        return list(self.runtime.state.symbols)

    def instruments(self) -> dict[str, dict[str, float]]:
        return instruments_of(self.runtime)

    def call(
        self, name: str, command: Any, actor: str, timeout: float | None = None
    ) -> dict[str, Any]:
        if name == TEST_NOTIFICATION:
            return test_notification(self.notifier, command)
        if timeout is None:
            return self.runtime.call(name, command, actor)
        return self.runtime.call(name, command, actor, timeout)

    def health(self) -> tuple[bool, dict[str, Any]]:
        runtime = self.runtime
        health, running = runtime.health_payload(), runtime.running
        body = {
            "status": health["status"] if running else "DOWN",
            "heartbeat_ts": health["heartbeat_ts"],
            "engine_running": running,
            "trading_state": runtime.state.get("safety").get("trading_state"),
        }
        return running, body

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        runtime = self.runtime
        ready, reason = runtime.readiness()
        body = {
            "ready": ready,
            "reason": reason,
            "engine_running": runtime.running,
            "history_loaded": runtime.history_loaded.is_set(),
        }
        return ready, body

    def health_payload(self) -> dict[str, Any] | None:
        return self.runtime.health_payload()

    def first_sighting(self, key: str, ttl_s: float) -> bool:
        return True  # one process: the webhook gate's own memory is the whole record


def instruments_of(runtime: EngineRuntime) -> dict[str, dict[str, float]]:
    market = runtime.parts.market
    return {
        symbol: {"tick": inst.tick_size, "lot": inst.lot_size}
        for symbol, inst in market.instruments.items()
    }


def test_notification(notifier: Notifier | None, command: Any) -> dict[str, Any]:
    """test_notification's answer: the notifier lives with the engine (it raises the alerts)."""
    if notifier is None:
        return error("NO_CHANNELS", "notifications are not set up")
    results = notifier.send_test(command.message, timeout=TEST_NOTIFICATION_TIMEOUT_S)
    return {"ok": True, "results": results}
