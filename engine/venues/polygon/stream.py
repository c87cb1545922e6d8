"""One Polygon websocket cluster (stocks or indices) on its own thread, through massive's client.

massive's `WebSocketClient` speaks the protocol (connect, auth, subscribe, parse); this owns
the connection's life around it: every failure (refused, dropped, no greeting within the open
timeout, the key refused) ends the attempt, is reported with its reason, and the next attempt
waits a jittered exponential delay (engine/venues/net.py `Backoff`); websockets' own retry
loop is switched off so that no attempt is retried out of sight. A connected stream that
delivers no data for `stale_after_s` is reported stale, and connected again when data returns.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Generator, Sequence
from typing import Any

from massive import WebSocketClient
from massive.exceptions import AuthError
from websockets.exceptions import ConnectionClosed

from engine.clock import Clock
from engine.venues.base import ConnectionState
from engine.venues.net import Backoff

log = logging.getLogger(__name__)
TICK_S = 0.05  # how often the supervisor looks at the attempt (stop, open timeout, staleness)

# (state, attempt, message): what the stream tells its owner about the connection.
StatusSink = Callable[[ConnectionState, int, str], None]
# Parsed event dicts (never status messages) and the statuses Polygon refused something with.
EventSink = Callable[[list[dict[str, Any]]], None]
RefusalSink = Callable[[str], None]


class _RetryOutside(Exception):
    """Raised by the reconnect-delay generator handed to websockets: a failed connect ends the
    attempt here (its cause is the exception's __context__) instead of being retried inside."""


def _no_inner_retry() -> Generator[float]:
    raise _RetryOutside()
    yield 0.0  # a generator by shape; never reached


class PolygonStream:
    """One websocket cluster of Polygon (`market` "stocks" or "indices") on a thread."""

    def __init__(
        self,
        *,
        market: str,
        channels: Sequence[str],
        api_key: str,
        host: str,
        secure: bool,
        clock: Clock,
        backoff: Backoff,
        open_timeout_s: float,
        stale_after_s: float | None,
        on_events: EventSink,
        on_status: StatusSink,
        on_refused: RefusalSink | None = None,
    ) -> None:
        self.market = market
        self.channels = list(channels)
        self._api_key = api_key
        self._host, self._secure = host, secure
        self._clock = clock
        self._backoff = backoff
        self._open_timeout_s = open_timeout_s
        self._stale_after_s = stale_after_s
        self._on_events, self._on_status, self._on_refused = on_events, on_status, on_refused
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live = False
        self._stale = False
        self._last_data = 0.0
        self.attempts = 0  # connection attempts that failed since the last live connection

    def start(self) -> None:
        if self._thread is None:
            name = f"vigil-polygon-{self.market}"
            thread = threading.Thread(target=self._run, name=name, daemon=True)
            thread.start()
            # Published once started: a `stop` from another thread never joins an unstarted
            # thread (and one that runs after `stop` sees the flag and ends at once).
            self._thread = thread

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def give_up(self) -> None:
        """Stop from inside (the plan refused this cluster): no reconnects, no join."""
        self._stop.set()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ----- the thread -----
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            while not self._stop.is_set():
                state, reason = loop.run_until_complete(self._attempt())
                if self._stop.is_set():
                    break
                self.attempts += 1
                delay = self._backoff.next_delay()
                self._on_status(state, self.attempts, f"{reason}; retrying in {delay:.1f} s")
                self._stop.wait(delay)
        except Exception:
            log.exception("polygon %s stream ended", self.market)
            self._on_status(ConnectionState.DISCONNECTED, self.attempts, "the stream failed")
        finally:
            _close_loop(loop)

    async def _attempt(self) -> tuple[ConnectionState, str]:
        """One connection, until it fails or the stream stops: (state to report, why)."""
        self._live, self._stale = False, False
        client = WebSocketClient(
            api_key=self._api_key,
            feed=self._host,
            market=self.market,
            raw=True,
            secure=self._secure,
            subscriptions=self.channels,
            max_reconnects=0,
        )
        opened = self._clock.monotonic()
        task = asyncio.ensure_future(
            client.connect(
                self._on_frame,
                close_timeout=1,
                open_timeout=self._open_timeout_s,
                reconnect_delays=_no_inner_retry,
            )
        )
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=TICK_S)
                if self._stop.is_set():
                    return ConnectionState.DISCONNECTED, "stopped"
                now = self._clock.monotonic()
                if not self._live and now - opened > self._open_timeout_s:
                    return (
                        ConnectionState.RECONNECTING,
                        f"no answer from Polygon {self.market} within {self._open_timeout_s:g} s",
                    )
                self._check_stale(now)
        finally:
            if not task.done():
                task.cancel()
            # Retrieved here whatever happens, so asyncio never logs it as forgotten.
            await asyncio.gather(task, return_exceptions=True)
        return self._outcome(task)

    def _outcome(self, task: asyncio.Future[Any]) -> tuple[ConnectionState, str]:
        exc = None if task.cancelled() else task.exception()
        where = f"Polygon {self.market}"
        if exc is None:
            return ConnectionState.RECONNECTING, f"{where} closed the connection"
        if isinstance(exc, AuthError):
            return (
                ConnectionState.DISCONNECTED,
                f"POLYGON_API_KEY was refused by {where} ({exc})",
            )
        if isinstance(exc, _RetryOutside):
            cause = exc.__context__
            detail = f"{type(cause).__name__}: {cause}" if cause else "unknown error"
            return ConnectionState.RECONNECTING, f"cannot connect to {where}: {detail}"
        if isinstance(exc, ConnectionClosed):
            return ConnectionState.RECONNECTING, f"connection to {where} lost: {exc}"
        return ConnectionState.RECONNECTING, f"{where}: {type(exc).__name__}: {exc}"

    def _check_stale(self, now: float) -> None:
        if not self._live or self._stale or self._stale_after_s is None:
            return
        silent = now - self._last_data
        if silent >= self._stale_after_s:
            self._stale = True
            self._on_status(
                ConnectionState.STALE, 0, f"no data from Polygon {self.market} for {silent:.0f} s"
            )

    async def _on_frame(self, raw: str | bytes) -> None:
        try:
            messages = json.loads(raw)
        except ValueError:
            log.warning("polygon %s: a frame that is not JSON was ignored", self.market)
            return
        if isinstance(messages, dict):
            messages = [messages]
        data = []
        for message in messages:
            if not isinstance(message, dict) or "ev" not in message:
                continue
            if message["ev"] == "status":
                self._on_status_message(message)
            else:
                data.append(message)
        if data:
            self._last_data = self._clock.monotonic()
            if self._stale:
                self._stale = False
                self._on_status(ConnectionState.CONNECTED, 0, f"Polygon {self.market} data resumed")
            self._on_events(data)

    def _on_status_message(self, message: dict[str, Any]) -> None:
        state, text = str(message.get("status", "")), str(message.get("message", ""))
        if state == "success" and not self._live:
            self._live = True
            self._last_data = self._clock.monotonic()
            self._backoff.reset()
            self.attempts = 0
            self._on_status(
                ConnectionState.CONNECTED,
                0,
                f"connected to Polygon {self.market}: {', '.join(sorted(self.channels))}",
            )
        elif state == "error":
            log.warning("polygon %s refused: %s", self.market, text)
            if self._on_refused is not None:
                self._on_refused(text)
        elif state not in ("success", "connected", "auth_success"):
            log.warning("polygon %s status %s: %s", self.market, state, text)


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what the client left running (keepalive pings, its connect generator), then
    close the loop, so no task is destroyed while pending."""
    try:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
