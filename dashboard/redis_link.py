"""RedisEngine: a web process's EngineLink to the engine process: the snapshot and heartbeat
it keeps in Redis, and commands as requests on a Redis list answered on a per-request key.

Keys (prefix VIGIL_REDIS_PREFIX, dashboard/relay.py writes them): `<p>:snapshot` (JSON: the
snapshot, symbols, instruments), `<p>:health` (JSON, with a TTL: a dead engine disappears),
`<p>:commands` (a list of requests), `<p>:reply:<id>` (the engine's answer, with an expiry).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import redis
from pydantic import BaseModel

from engine.clock import Clock, SystemClock
from engine.command_payloads import ResetKillSwitchCmd
from engine.commands import error
from engine.runtime import RUN_LATE
from engine.store import Store

if TYPE_CHECKING:
    from dashboard.redis_settings import RedisSettings

log = logging.getLogger(__name__)

REPLY_GRACE_S = 1.0  # the engine answers at the deadline at the latest; its answer travels
META_CACHE_S = 2.0
# The web process checked the password itself; it never travels through Redis.
CHECKED_PASSWORD = "(checked by the web process)"


def redis_client(url: str, *, read_timeout: float | None = 2.0) -> redis.Redis:
    """A client that fails fast when Redis is down (no retries behind the caller's back)."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=1.0,
        socket_timeout=read_timeout,
        retry_on_timeout=False,
        retry=None,
        health_check_interval=0,
    )


def encode_command(command: Any) -> Any:
    """The JSON form of a validated command (the engine validates it again)."""
    if isinstance(command, ResetKillSwitchCmd):
        return {**command.model_dump(mode="json"), "password": CHECKED_PASSWORD}
    if isinstance(command, BaseModel):
        return command.model_dump(mode="json")
    if dataclasses.is_dataclass(command) and not isinstance(command, type):
        return {
            k: (v.value if isinstance(v, enum.Enum) else v)
            for k, v in dataclasses.asdict(command).items()
        }
    return command


class RedisEngine:
    """The engine as a web process sees it: read from Redis, asked through Redis."""

    def __init__(
        self, settings: RedisSettings, store: Store, *, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self._client = redis_client(settings.url)
        self._meta: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    # ----- reads -----
    def _get(self, key: str) -> dict[str, Any] | None:
        raw = self._client.get(self.settings.key(key))
        return None if raw is None else json.loads(raw)

    def snapshot(self) -> dict[str, Any] | None:
        try:
            doc = self._get("snapshot")
        except redis.RedisError:
            return None
        if doc is None:
            return None
        with self._lock:
            self._meta = (time.monotonic(), doc)
        snap: dict[str, Any] = doc["snapshot"]
        return snap

    def _meta_doc(self) -> dict[str, Any]:
        with self._lock:
            cached = self._meta
        if cached is not None and time.monotonic() - cached[0] < META_CACHE_S:
            return cached[1]
        try:
            doc = self._get("snapshot")
        except redis.RedisError:
            doc = None
        if doc is None:
            return cached[1] if cached is not None else {}
        with self._lock:
            self._meta = (time.monotonic(), doc)
        return doc

    def symbols(self) -> list[str]:
        return list(self._meta_doc().get("symbols", []))

    def instruments(self) -> dict[str, dict[str, float]]:
        found: dict[str, dict[str, float]] = self._meta_doc().get("instruments", {})
        return found

    def _engine(self) -> tuple[dict[str, Any] | None, str]:
        """The engine's heartbeat document, or None and why it is not usable."""
        try:
            doc = self._get("health")
        except redis.RedisError:
            return None, "redis not reachable"
        if doc is None:
            return None, "engine not reachable"
        age = self.clock.time() - doc["health"]["heartbeat_ts"] / 1000
        if age > self.settings.heartbeat_ttl_s:
            return None, "engine heartbeat stale"
        return doc, ""

    def metrics_data(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The engine's and the notifier's numbers as the engine process last wrote them (None
        when the engine is not reachable: /metrics then leaves their families out)."""
        doc, _ = self._engine()
        if doc is None:
            return None, None
        return doc.get("metrics"), doc.get("deliveries")

    def health_payload(self) -> dict[str, Any] | None:
        doc, _ = self._engine()
        return None if doc is None else doc["health"]

    def health(self) -> tuple[bool, dict[str, Any]]:
        doc, why = self._engine()
        if doc is None:
            return False, {"status": "DOWN", "reason": why, "engine_running": False}
        running = bool(doc["running"])
        body = {
            "status": doc["health"]["status"] if running else "DOWN",
            "heartbeat_ts": doc["health"]["heartbeat_ts"],
            "engine_running": running,
            "trading_state": doc["trading_state"],
        }
        return running, body

    def engine_instance(self) -> str | None:
        """Which engine run is serving (a new value at each engine start), or None while no
        engine runs: when it changes, what this process's pages hold is another engine's."""
        doc, _ = self._engine()
        if doc is None or not doc["running"]:
            return None
        return str(doc.get("instance", ""))

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        doc, why = self._engine()
        if doc is None:
            return False, {"ready": False, "reason": why, "engine_running": False}
        ready, reason = doc["ready"]
        body = {
            "ready": bool(ready),
            "reason": reason,
            "engine_running": bool(doc["running"]),
            "history_loaded": bool(doc["health"].get("history_loaded")),
        }
        return bool(ready), body

    def first_sighting(self, key: str, ttl_s: float) -> bool:
        """True the first time any web process sees `key` within `ttl_s` (the webhook's replay
        check across processes); True also when Redis cannot say: the request then cannot
        reach the engine either."""
        try:
            return bool(
                self._client.set(self.settings.key("seen", key), 1, nx=True, px=int(ttl_s * 1000))
            )
        except redis.RedisError:
            return True

    # ----- commands -----
    def call(
        self, name: str, command: Any, actor: str, timeout: float | None = None
    ) -> dict[str, Any]:
        wait = self.settings.command_timeout_s if timeout is None else timeout
        unavailable = error(
            "ENGINE_UNAVAILABLE",
            f"the engine did not answer within {wait:g} s; it may not be running",
        )
        request_id = uuid.uuid4().hex
        reply_key = self.settings.key("reply", request_id)
        request = {
            "id": request_id,
            "name": name,
            "payload": encode_command(command),
            "user": actor,
            "deadline": self.clock.time() + wait,
            "reply": reply_key,
        }
        try:
            if self._client.get(self.settings.key("health")) is None:
                # No heartbeat: nobody would take the request, and a command left in the list
                # must not run when an engine starts later (the engine drops expired ones too).
                return unavailable
            self._client.lpush(self.settings.key("commands"), json.dumps(request))
            # A connection of its own: BLPOP holds it for the whole wait.
            waiter = redis_client(self.settings.url, read_timeout=wait + REPLY_GRACE_S + 2)
            try:
                answer = waiter.blpop([reply_key], timeout=wait + REPLY_GRACE_S)
            finally:
                waiter.close()
        except redis.RedisError as exc:
            log.warning("%s: Redis not reachable: %s", name, exc)
            return error(
                "REDIS_UNAVAILABLE", "Redis is not reachable, so the engine cannot be asked"
            )
        if answer is None:
            if name in RUN_LATE:  # it is in the engine's list: see relay.LATE_GRACE_S
                unavailable["error"]["message"] += "; it still runs if the engine takes it soon"
            return unavailable
        result: dict[str, Any] = json.loads(answer[1])
        return result
