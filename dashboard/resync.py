"""A web process over Redis gives its open pages a fresh snapshot when the engine's events may
have been missed: when its message-queue subscription is (re)made after Redis was lost, and
when the engine comes back (restarted, or its heartbeat returns)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import socketio
from flask import Flask

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


def resync_pages(app: Flask) -> int:
    """Send every page of this process the current snapshot as `initial_state`; how many
    users' rooms got it (0 when there is no snapshot to send)."""
    found = Services.of(app)
    link = found.engine_link()
    snap = link.snapshot()
    if snap is None:
        return 0
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


def start_resync(app: Flask) -> None:
    """The engine-reachability watch; the subscription hook is installed by create_app."""
    found = Services.of(app)
    sio = found.socketio

    def resync(why: str) -> None:
        try:
            count = resync_pages(app)
        except Exception:  # the watch must outlive one bad turn
            log.exception("resync failed")
            return
        if count:
            log.info("resynced the pages of %d user(s): %s", count, why)

    manager = sio.server.manager
    if isinstance(manager, ResyncingRedisManager):
        manager.on_subscribed = lambda: sio.start_background_task(resync, "subscribed")

    def watch() -> None:
        was_up = True
        while True:
            sio.sleep(CHECK_EVERY_S)
            up = found.engine_link().health()[0]
            if up and not was_up:
                resync("the engine is reachable again")
            was_up = up

    sio.start_background_task(watch)
