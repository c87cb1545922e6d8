"""The trade_updates stream on its own thread: alpaca-py's TradingStream, with Vigil's
reconnect backoff and a report of every connect, drop and failure.

TradingStream keeps its own protocol (authenticate, listen, messages) and its reconnect loop;
this subclass only swaps its delays for net.Backoff (exponential, jittered) and tells the
owner when the connection comes and goes, so the page shows it and a gap is resynced.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from alpaca.trading.stream import TradingStream

from engine.venues.net import Backoff

log = logging.getLogger(__name__)


class _Stream(TradingStream):
    def __init__(self, owner: TradeUpdatesThread, key: str, secret: str, url: str) -> None:
        super().__init__(
            key,
            secret,
            raw_data=True,
            url_override=url,
            websocket_params={
                "ping_interval": 10,
                "ping_timeout": 20,
                "max_queue": 1024,
                "open_timeout": owner.timeout_s,
                "close_timeout": 2,
            },
        )
        self._owner = owner

    def _reconnect_delay(self, retries: int) -> float:
        return self._owner.backoff.next_delay()

    async def _start_ws(self) -> None:
        try:
            await super()._start_ws()
        except Exception as exc:
            await super().close()
            self._owner.failed(exc)
            raise
        self._owner.connected()

    async def close(self) -> None:
        was_connected = self._ws is not None and self._running
        await super().close()
        if was_connected:
            self._owner.dropped()


class TradeUpdatesThread:
    """Runs the stream; calls `on_message` with each raw message (on the stream's thread),
    `on_state(state, attempt, message)` on each change, `on_resync()` after a reconnect."""

    def __init__(
        self,
        key: str,
        secret: str,
        url: str,
        *,
        on_message: Callable[[dict[str, Any]], None],
        on_state: Callable[[str, int, str], None],
        on_resync: Callable[[], None],
        backoff: Backoff,
        timeout_s: float,
    ) -> None:
        self.backoff, self.timeout_s = backoff, timeout_s
        self._on_message, self._on_state, self._on_resync = on_message, on_state, on_resync
        self._stream = _Stream(self, key, secret, url)
        self._stream.subscribe_trade_updates(self._handle)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._ever_connected = False
        self._failures = 0

    def start(self) -> None:
        self._on_state("connecting", 0, "")
        self._thread = threading.Thread(
            target=self._stream.run, name="alpaca-trade-updates", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        thread = self._thread
        if thread is None:
            return
        stream = self._stream

        async def halt() -> None:
            await stream.stop_ws()
            await stream.close()  # wakes the reader at once instead of after its 5 s poll

        # The loop may not be running yet (or restarts its run): ask until the thread ends.
        for _ in range(int(timeout / 0.1)):
            loop = stream._loop
            if loop is not None and loop.is_running():
                try:
                    asyncio.run_coroutine_threadsafe(halt(), loop).result(timeout=1.0)
                except Exception as exc:  # noqa: BLE001 - stopping must not raise
                    log.debug("trade updates stop: %s", exc)
            thread.join(0.1)
            if not thread.is_alive():
                break

    # ----- called by the stream (its thread) -----
    async def _handle(self, message: dict[str, Any]) -> None:
        try:
            self._on_message(message)
        except Exception:  # one bad message must not end the stream
            log.exception("alpaca trade update not applied: %r", message)

    def connected(self) -> None:
        self.backoff.reset()
        self._failures = 0
        self._on_state("connected", 0, "")
        if self._ever_connected:
            try:
                self._on_resync()
            except Exception:  # the next reconciliation round covers it
                log.exception("alpaca resync after reconnect failed")
        self._ever_connected = True

    def dropped(self) -> None:
        if not self._stopping:
            self._on_state("reconnecting", 1, "alpaca trade updates stream dropped; reconnecting")

    def failed(self, exc: BaseException) -> None:
        if self._stopping:
            return
        self._failures += 1
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, ValueError) and "authenticate" in detail:
            detail = "Alpaca refused the keys on the trade updates stream"
        self._on_state(
            "reconnecting",
            self._failures,
            f"alpaca trade updates stream: {detail}; retry {self._failures}",
        )
