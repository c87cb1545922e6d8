"""The engine process's Socket.IO bridge over Redis: each turn's events to the web processes in
one Redis round trip (dashboard/relay.py owns the link, the snapshot and the pipeline).

Flask-SocketIO's Redis manager builds every message (so its shape is exactly what the web
processes' unchanged listeners read) but does not send it: the bridge takes the messages of
one turn (every immediate event waiting, up to BATCH_LIMIT, then every conflated key due) and
the relay sends them as one pipeline, the snapshot SET first when an immediate event needs a
newer one. One PUBLISH per event cost a round trip each: under a burst, events queued behind
the round trips of those before them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import socketio
from flask_socketio import SocketIO

from dashboard.bridge import SocketBridge
from engine.topics import BY_NAME, CONFLATED

if TYPE_CHECKING:
    from dashboard.redis_settings import RedisSettings
    from dashboard.relay import Relay

log = logging.getLogger(__name__)

# Events per round trip at most: a 10,000-event backlog goes out in 20 pipelines, so neither
# one huge write nor one huge reply holds the bridge's thread.
BATCH_LIMIT = 500

Taken = tuple[str, dict[str, Any], float, str]  # topic, payload, filed, kind


class TakingRedisManager(socketio.RedisManager):
    """python-socketio's Redis manager whose messages the caller can take, JSON-encoded as
    RedisManager._publish would send them, instead of their being published one by one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._taking = threading.local()

    @contextlib.contextmanager
    def taking(self) -> Iterator[list[str]]:
        """Within: this thread's messages are appended to the list yielded, not published."""
        taken: list[str] = []
        self._taking.into = taken
        try:
            yield taken
        finally:
            self._taking.into = None

    def _publish(self, data: Any) -> Any:
        into = getattr(self._taking, "into", None)
        if into is None:
            return super()._publish(data)
        into.append(self.json.dumps(data))
        return None


def write_only_emitter(settings: RedisSettings) -> tuple[SocketIO, TakingRedisManager]:
    """Flask-SocketIO's emitter for another process's pages (no app, write-only) and its
    manager; socket timeouts so that a Redis that stops answering cannot hold a thread."""
    emitter = SocketIO()
    manager = TakingRedisManager(
        settings.url,
        channel=settings.channel,
        write_only=True,
        redis_options={"socket_timeout": 2.0, "socket_connect_timeout": 1.0},
    )
    # Pinned: left to choose, python-engineio picks gevent wherever it is installed, and the
    # engine process runs real threads (a gevent-mode emitter there never starts the bridge).
    emitter.init_app(None, client_manager=manager, async_mode="threading")
    return emitter, manager


class RelayBridge(SocketBridge):
    """The SocketBridge whose turns go to Redis in one round trip each; it keeps the snapshot
    ahead of immediate topics and sends nothing while Redis is down (nothing buffered)."""

    def __init__(
        self, emitter: SocketIO, manager: TakingRedisManager, relay: Relay, **kwargs: Any
    ) -> None:
        super().__init__(emitter, **kwargs)
        self._relay = relay
        self._manager = manager
        self._turn: list[Taken] | None = None  # open while step() gathers a turn
        self.dropped_unlinked = 0
        self.round_trips = 0  # pipelines sent: fewer than the events under a burst

    def now(self) -> float:
        """The clock the bridge stamps each message with when it is filed."""
        return self._clock.monotonic()

    def step(self, wait_s: float = 0.0) -> bool:
        """One turn: every immediate message waiting (up to BATCH_LIMIT, in order) and the
        conflated keys due, gathered by SocketBridge's own step, then sent in one pipeline."""
        with self._send_lock:
            self._turn = []
            try:
                sent = super().step(wait_s)
                while sent and len(self._turn) < BATCH_LIMIT and self._waiting():
                    super().step()
            finally:
                turn, self._turn = self._turn, None
            self._send(turn)
            return sent

    def _waiting(self) -> bool:
        with self._cond:
            return bool(self._immediate)

    def _emit(self, topic: str, payload: dict[str, Any], filed: float, kind: str) -> None:
        if self._turn is not None:
            self._turn.append((topic, payload, filed, kind))
        else:  # flush() called outside a turn
            self._send([(topic, payload, filed, kind)])

    def _send(self, turn: list[Taken]) -> None:
        if not turn:
            return
        if not self._relay.linked:
            self.dropped_unlinked += len(turn)
            return
        messages: list[str] = []
        built: list[Taken] = []
        for item in turn:
            try:
                messages.append(self._message(item[0], item[1]))
                built.append(item)
            except Exception:  # one bad payload must not cost the others their turn
                log.exception("emit of %s failed", item[0])
        if not built:
            return
        immediate = [filed for topic, _, filed, _ in built if topic not in CONFLATED]
        if not self._relay.publish(messages, max(immediate, default=None)):
            self.dropped_unlinked += len(built)
            return
        self.round_trips += 1
        now = self._clock.monotonic()
        for _, _, filed, kind in built:
            self.emitted += 1
            self._latency[kind].observe(max(now - filed, 0.0))

    def _message(self, topic: str, payload: dict[str, Any]) -> str:
        """The message Flask-SocketIO would publish for this emit, as python-socketio's
        PubSubManager builds it (method, event, data, namespace, room, host_id...)."""
        declared = BY_NAME.get(topic)
        room = declared.room_for(payload) if declared is not None else None
        with self._manager.taking() as taken:
            if room is not None:
                self._socketio.emit(topic, payload, to=room)
            else:
                self._socketio.emit(topic, payload)
        if len(taken) != 1:
            raise RuntimeError(f"the emit of {topic} built {len(taken)} messages, not one")
        return taken[0]
