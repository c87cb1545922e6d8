"""The engine process's side of Redis: events out through Flask-SocketIO's message queue (one
pipeline per bridge turn, dashboard/relay_bridge.py), the snapshot and heartbeat kept in Redis,
and the command server that runs the web processes' requests on the engine
(dashboard/redis_link.py is the other side).

Ordering rule: before an IMMEDIATE topic (anything not in engine.topics.CONFLATED) goes out,
the snapshot in Redis is at least as new as the state that produced it. A page that joined its
rooms and then read the snapshot therefore misses nothing: an event published before its read
is in the snapshot, one after it reaches the page. Conflated topics carry the newest value
every time, so a snapshot refreshed every REFRESH_S is enough for them.

Redis lost: the engine keeps trading state local (stops, breakers, kill switch), goes
REDUCING (no new entries) through the `link_state` command, alerts through the notifier
(Pushover needs no Redis) and publishes nothing meanwhile (no buffering: the snapshot
rewritten on reconnect resyncs the pages). It retries with a Backoff and, once Redis answers,
rewrites the snapshot and lifts the hold (audited and alerted).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import redis

from dashboard.engine_link import TEST_NOTIFICATION, instruments_of, test_notification
from dashboard.redis_link import redis_client
from dashboard.relay_bridge import RelayBridge, write_only_emitter
from engine.commands import COMMANDS, INTAKE_SIGNAL, LINK_STATE, QUERIES, error, parse_command
from engine.venues.net import Backoff

if TYPE_CHECKING:
    from dashboard.redis_settings import RedisSettings
    from dashboard.services import Notifier
    from engine.runtime import EngineRuntime

log = logging.getLogger(__name__)

REFRESH_S = 0.5  # the snapshot and heartbeat rewrite, and the link check
REPLY_TTL_S = 60
COMMAND_WORKERS = 8
# A risk-reducing command (kill switch, pause...) found after its deadline still runs if it is
# at most this late; older ones are dropped: a halt from long ago would surprise everyone.
LATE_GRACE_S = 60.0


class Relay:
    """Owns the engine process's Redis link: bridge, snapshot writer, link monitor, commands."""

    def __init__(
        self, settings: RedisSettings, runtime: EngineRuntime, notifier: Notifier | None
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.notifier = notifier
        self._client = redis_client(settings.url)
        self._emitter, manager = write_only_emitter(settings)
        self.bridge = RelayBridge(self._emitter, manager, self, clock=runtime.clock)
        # A new one per engine start: a web process that sees it change resyncs its pages even
        # when the restart was too quick for its health check to see the engine down.
        self.instance = uuid.uuid4().hex
        self.linked = False
        self._link_lock = threading.Lock()
        self._issue = ""  # why the link is down; "" while up
        self._told = ""  # what the engine thread was last told
        # When the last snapshot written to Redis began to be read from the state (bridge clock).
        self._written_at = float("-inf")
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool = ThreadPoolExecutor(COMMAND_WORKERS, thread_name_prefix="vigil-relay-cmd")
        self.on_link_change: Any = None  # (linked: bool, why: str) -> None, for the alerts

    # ----- snapshot and heartbeat -----
    def _snapshot_doc(self) -> str:
        runtime = self.runtime
        snap = runtime.snapshot()
        snap["alerts"] = self.notifier.status() if self.notifier is not None else []
        doc = {
            "snapshot": snap,
            "symbols": list(runtime.state.symbols),
            "instruments": instruments_of(runtime),
            "written_ms": int(time.time() * 1000),
        }
        return json.dumps(doc, default=str)

    def _health_doc(self) -> str:
        runtime = self.runtime
        ready, reason = runtime.readiness()
        doc = {
            "health": runtime.health_payload(),
            "running": runtime.running,
            "instance": self.instance,
            "ready": [ready, reason],
            "trading_state": runtime.state.get("safety").get("trading_state"),
            # For the web processes' /metrics: the engine's and the notifier's own numbers,
            # and this relay's sends (a web process's bridge sends nothing over Redis).
            "metrics": {
                **runtime.metrics_data(),
                "relay": {"emitted": self.bridge.emitted, "dropped": self.bridge.dropped},
            },
            "deliveries": _delivery_counts(self.notifier),
        }
        return json.dumps(doc, default=str)

    def _queue_snapshot(self, pipe: Any) -> float:
        """Read the state into the snapshot and heartbeat SETs; returns when the read began."""
        started = self.bridge.now()
        doc = self._snapshot_doc()  # read after `started`: it holds every event filed before
        ttl_ms = int(self.settings.heartbeat_ttl_s * 1000)
        pipe.set(self.settings.key("snapshot"), doc)
        pipe.set(self.settings.key("health"), self._health_doc(), px=ttl_ms)
        return started

    def write_snapshot(self) -> None:
        """Read the state, then write it with the heartbeat; raises redis.RedisError."""
        with self._write_lock:
            pipe = self._client.pipeline(transaction=False)
            started = self._queue_snapshot(pipe)
            pipe.execute()
            self._written_at = started

    def publish(self, messages: list[str], newest_immediate: float | None) -> bool:
        """Publish the bridge's messages in order in one round trip; False when Redis refused
        (the link is then lost). `newest_immediate`: when the newest immediate event among them
        was filed (None: only conflated ones). A snapshot whose read began after it holds them
        all (the engine changes its state before it publishes): when the last one written began
        no later, a new one goes first in the same pipeline, so Redis stores it before it sends
        the events. One write covers a whole turn, not one message."""
        try:
            pipe = self._client.pipeline(transaction=False)
            if newest_immediate is None or self._written_at > newest_immediate:
                self._queue_publishes(pipe, messages)
                pipe.execute()
                return True
            with self._write_lock:
                started = self._queue_snapshot(pipe)
                self._queue_publishes(pipe, messages)
                pipe.execute()
                self._written_at = started
            return True
        except redis.RedisError as exc:
            self._lost(exc)
            return False

    def _queue_publishes(self, pipe: Any, messages: list[str]) -> None:
        for message in messages:
            pipe.publish(self.settings.channel, message)

    # ----- lifecycle -----
    def start(self) -> None:
        """Connect (or start retrying), then the monitor and the command server."""
        try:
            self.write_snapshot()
            self.linked = True
        except redis.RedisError as exc:
            self._lost(exc)
        for target, name in ((self._monitor, "vigil-relay"), (self._serve, "vigil-relay-serve")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.bridge.start()

    def stop(self) -> None:
        self._stop.set()
        self.bridge.stop()
        for thread in self._threads:
            thread.join(5.0)
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self.linked:
            # Web processes see "engine not reachable" now, not after the TTL.
            with contextlib.suppress(redis.RedisError):
                self._client.delete(self.settings.key("health"))

    # ----- the link -----
    def _lost(self, exc: BaseException) -> None:
        with self._link_lock:
            if self._issue:
                self.linked = False
                return  # already down and announced
            self.linked = False
            self._written_at = float("-inf")
            self._issue = f"Redis link lost ({type(exc).__name__}: {exc})"[:300]
            why = self._issue
        log.error("%s; the engine keeps protecting positions and denies new entries", why)
        if self.on_link_change is not None:
            self.on_link_change(False, why)

    def _restored(self) -> None:
        with self._link_lock:
            self.linked = True
            self._issue = ""
        log.warning("Redis link restored; entries allowed again")
        if self.on_link_change is not None:
            self.on_link_change(True, "")

    def _sync_engine(self) -> None:
        """Tell the engine thread the link's state (REDUCING while down) once it runs."""
        issue = self._issue
        if issue == self._told or not self.runtime.running:
            return
        answer = self.runtime.call(LINK_STATE, issue, "system:redis-link")
        if answer.get("ok"):
            self._told = issue
        else:
            log.error("could not tell the engine about the Redis link: %s", answer)

    def _monitor(self) -> None:
        backoff = Backoff(base_s=0.5, cap_s=10.0)
        while not self._stop.is_set():
            self._sync_engine()
            if self.linked:
                try:
                    self.write_snapshot()
                except redis.RedisError as exc:
                    self._lost(exc)
                    continue
                self._stop.wait(REFRESH_S)
                continue
            if self._stop.wait(backoff.next_delay()):
                return
            try:
                self._client.ping()
                self.write_snapshot()
            except redis.RedisError as exc:
                log.info("Redis still not reachable: %s", exc)
                continue
            backoff.reset()
            self._restored()

    # ----- commands from the web processes -----
    def _serve(self) -> None:
        client = redis_client(self.settings.url, read_timeout=5.0)
        key = self.settings.key("commands")
        while not self._stop.is_set():
            if not self.linked:
                self._stop.wait(REFRESH_S)
                continue
            try:
                item = client.brpop([key], timeout=1)
            except redis.RedisError:
                self._stop.wait(REFRESH_S)
                continue
            if item is not None:
                self._pool.submit(self._handle, item[1])

    def _handle(self, raw: bytes) -> None:
        try:
            request = json.loads(raw)
            name, user = str(request["name"]), str(request["user"])
            deadline, reply = float(request["deadline"]), str(request["reply"])
        except (ValueError, KeyError, TypeError):
            log.warning("malformed request on the command list; dropped")
            return
        remaining = deadline - time.time()
        late = remaining <= 0
        if late and (name == TEST_NOTIFICATION or -remaining > LATE_GRACE_S):
            self._drop_expired(name, user)
            return
        command = self._decode(name, request.get("payload"))
        if late:
            # Nobody waits for it: the engine decides as for any late call (RUN_LATE).
            if not _is_error(command):
                self.runtime.call_late(name, command, user)
            return
        if _is_error(command):
            answer = command
        elif name == TEST_NOTIFICATION:
            answer = test_notification(self.notifier, command)
        else:
            answer = self.runtime.call(name, command, user, timeout=remaining)
        try:
            self._client.rpush(reply, json.dumps(answer, default=str))
            self._client.expire(reply, REPLY_TTL_S)
        except redis.RedisError as exc:
            log.warning("the answer to %s by %s was lost: %s", name, user, exc)

    def _drop_expired(self, name: str, user: str) -> None:
        """Older than LATE_GRACE_S past its deadline (or a test notification nobody waits for):
        it does not run (the caller was told ENGINE_UNAVAILABLE)."""
        log.warning("%s by %s arrived after its deadline; dropped", name, user)
        if name not in QUERIES:
            self.runtime.parts.store.audit(
                user,
                f"{name}_dropped",
                reason="arrived after its caller's deadline",
                outcome="DROPPED",
            )

    def _decode(self, name: str, payload: Any) -> Any:
        """Validate again what came through the queue (never trusted): the command, or the
        structured error."""
        symbols = set(self.runtime.state.symbols)
        if name in COMMANDS:
            command = parse_command(name, payload)
            symbol = getattr(command, "symbol", None)
            if not _is_error(command) and symbol is not None and symbol not in symbols:
                return error("UNKNOWN_SYMBOL", "symbol: not one this server trades")
            return command
        if name in QUERIES:
            return _query(payload, symbols)
        if name == INTAKE_SIGNAL:
            return _signal(payload, symbols)
        return error("UNKNOWN_COMMAND", "unknown command")


def _delivery_counts(notifier: Any) -> dict[str, Any] | None:
    counts = getattr(notifier, "delivery_counts", None)
    return counts() if callable(counts) else None


def _is_error(decoded: Any) -> bool:
    return isinstance(decoded, dict) and decoded.get("ok") is False


def _query(payload: Any, symbols: set[str]) -> Any:
    from engine.market.bars import TIMEFRAMES

    if not isinstance(payload, dict) or payload.get("symbol") not in symbols:
        return error("INVALID_PAYLOAD", "a query needs a known symbol")
    extra = set(payload) - {"symbol", "timeframe", "limit"}
    timeframe, limit = payload.get("timeframe", "1m"), payload.get("limit", 500)
    if extra or timeframe not in TIMEFRAMES or not isinstance(limit, int) or not 1 <= limit <= 1500:
        return error("INVALID_PAYLOAD", "query: timeframe and limit out of range")
    return payload


def _signal(payload: Any, symbols: set[str]) -> Any:
    from pydantic import ValidationError

    from dashboard.webhook import WebhookSignal

    if not isinstance(payload, dict) or payload.get("source") != "webhook":
        return error("INVALID_PAYLOAD", "intake_signal: not a webhook signal")
    fields = {k: v for k, v in payload.items() if k not in ("source", "order", "sender_id")}
    fields["id"] = payload.get("sender_id")
    try:
        parsed = WebhookSignal.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError:
        return error("INVALID_PAYLOAD", "intake_signal: invalid signal")
    if parsed.symbol not in symbols or parsed.qty is None:
        return error("INVALID_PAYLOAD", "intake_signal: unknown symbol or no quantity")
    return parsed.incoming(parsed.qty)
