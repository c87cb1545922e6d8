"""A web process over Redis gives its open pages a fresh snapshot when the engine's events may
have been missed: when its message-queue subscription is (re)made after Redis was lost, and
when the engine comes back (restarted, or its heartbeat returns)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import socketio
from flask import Flask

from dashboard.redis_link import RedisEngine
from dashboard.services import Services

log = logging.getLogger(__name__)
CHECK_EVERY_S = 1.0
USER_ROOM = "user:"


class ResyncingRedisManager(socketio.RedisManager):  # type: ignore[misc]
    """python-socketio's RedisManager, calling `on_subscribed` after every (re)subscription:
    what the engine sent while this process was not subscribed never reached its pages."""

    on_subscribed: Callable[[], None] | None = None

    def _redis_listen_with_retries(self) -> Iterator[Any]:  # pragma: no cover - as upstream
        retry_sleep = 1
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    self.pubsub.subscribe(self.channel)
                    subscribed = True
                    retry_sleep = 1
                    if self.on_subscribed is not None:
                        self.on_subscribed()
                yield from self.pubsub.listen()
            except Exception as exc:  # noqa: BLE001 - as upstream: any failure, reconnect
                self._get_logger().error(
                    "Cannot receive from redis... retrying in %s secs (%s)", retry_sleep, exc
                )
                subscribed = False
                time.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, 10)


def resync_pages(app: Flask) -> int | None:
    """Send every page of this process the current snapshot as `initial_state`; how many
    users' rooms got it, or None when no snapshot could be read (the pages are still owed one).
    """
    found = Services.of(app)
    link = found.engine_link()
    snap = link.snapshot()
    if snap is None:
        return None
    server = found.socketio.server
    rooms = [room for room in server.manager.rooms.get("/", {}) if isinstance(room, str)]
    sent = 0
    for room in rooms:
        if not room.startswith(USER_ROOM):
            continue
        user = found.users.get(room[len(USER_ROOM) :])
        if user is None:
            continue
        payload = {
            **snap,
            "user": {"username": user.username, "role": user.role},
            "ts": int(link.clock.time() * 1000),
        }
        with app.app_context():
            found.socketio.emit("initial_state", payload, to=room, ignore_queue=True)
        sent += 1
    return sent


class ResyncWatch:
    """When this process's pages are owed a snapshot, and paying it until it is paid.

    A resync is owed when the message-queue subscription is (re)made, when the engine becomes
    reachable again, and when another engine run answers than the one last seen (a restart
    quicker than one check shows no gap; the health document's instance tells it). One that
    fails (the snapshot read timed out on a busy machine, the user table was locked) stays
    owed and is tried again at the next check.
    """

    def __init__(
        self, engine_instance: Callable[[], str | None], send: Callable[[], int | None]
    ) -> None:
        self._engine_instance = engine_instance
        self._send = send
        self._looked = False  # no debt at the first look: a page gets the snapshot on connect
        self._last: str | None = None  # the engine run at the last look; None: none ran
        self._owed: str | None = None
        self._owed_times = 0  # a debt made while a send was under way is a new one
        self._lock = threading.Lock()

    @property
    def owed(self) -> str | None:
        """Why the pages are owed a snapshot, or None when they are not."""
        return self._owed

    def owe(self, why: str) -> None:
        self._owed = why
        self._owed_times += 1

    def check(self) -> None:
        """One look at the engine, then one attempt at what is owed."""
        try:
            instance = self._engine_instance()
        except Exception:  # the watch must outlive one bad turn
            log.exception("engine health check failed")
            instance = None
        if instance is not None and self._looked and instance != self._last:
            back = self._last is None
            self.owe("the engine is reachable again" if back else "another engine run answers")
        self._looked, self._last = True, instance
        self.settle()

    def settle(self) -> None:
        """Try to send what is owed; it stays owed when no snapshot reached the pages."""
        with self._lock:
            why, times = self._owed, self._owed_times
            if why is None:
                return
            try:
                count = self._send()
            except Exception:
                log.exception("resync failed (%s); trying again", why)
                return
            if count is None:
                log.warning("resync: no snapshot could be read (%s); trying again", why)
                return
            if self._owed_times == times:
                self._owed = None
        if count:
            log.info("resynced the pages of %d user(s): %s", count, why)


def start_resync(app: Flask) -> ResyncWatch:
    """The engine-reachability watch, and the subscription hook of the Redis manager."""
    found = Services.of(app)
    sio = found.socketio
    link = found.engine_link()
    if not isinstance(link, RedisEngine):
        raise TypeError("the resync watch is for a web process over Redis")
    watch = ResyncWatch(link.engine_instance, lambda: resync_pages(app))

    manager = sio.server.manager
    if isinstance(manager, ResyncingRedisManager):

        def subscribed() -> None:
            watch.owe("subscribed")
            sio.start_background_task(watch.settle)

        manager.on_subscribed = subscribed

    # The first look before any page connects: a page's snapshot is this engine run's, and a
    # run that replaces it before the next look is then told apart from it.
    watch.check()

    def run() -> None:
        while True:
            sio.sleep(CHECK_EVERY_S)
            watch.check()

    sio.start_background_task(run)
    return watch
