"""PumpedFeed: runs a step-based market source on its own thread and makes it a MarketFeed.

The simulated market and the replay are sources that produce their events when asked
(`step(now, dt)`); this adapter asks them every VIGIL_SIM_TICK_MS on a thread "vigil-feed",
hands the events to the sink, reports the connection state, and writes the source's
checkpoints (the simulated market's state) from a second thread "vigil-feed-save", so neither
the engine thread nor the pump ever waits on the disk. The runtime calls `start` once the
chart history is loaded: the source's process carries on from where its history ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from engine.clock import Clock
from engine.models import BarEvent, Instrument, OrderBook, Quote, TradeTick, VixUpdate
from engine.venues.base import ConnectionEvent, ConnectionState, MarketSink, VenueError

log = logging.getLogger(__name__)

SourceEvent = Quote | TradeTick | OrderBook | BarEvent | VixUpdate | ConnectionEvent
HistorySlices = Iterator[tuple[float, list[TradeTick | VixUpdate]]]
HISTORY_STEP_S = 5.0  # the simulated market's history is stepped in 5 s moves
MAX_BACKOFF_S = 5.0  # a failing source is retried at most this far apart


class StepSource(Protocol):
    """A market that produces its events when asked; `sim` and `replay` are two."""

    name: str

    @property
    def instruments(self) -> dict[str, Instrument]: ...

    def step(self, now: float, dt: float) -> Sequence[SourceEvent]:
        """The events of the next `dt` simulated seconds (a ConnectionEvent changes state)."""
        ...

    def history_slices(
        self, end: float, seconds: float, dt: float, steps_per_slice: int
    ) -> HistorySlices:
        """The history before `end` in slices: (fraction done, events)."""
        ...

    def start_message(self) -> str:
        """One line for the activity log when the feed connects (what it plays, from where)."""
        ...

    def checkpoint(self) -> Any | None:
        """A copy of the state worth keeping across a restart (None: nothing to keep)."""
        ...

    def save(self, snapshot: Any) -> None:
        """Write a checkpoint to disk (called on the saver thread, or at stop)."""
        ...


class PumpedFeed:
    """A MarketFeed made of a StepSource, a pump thread and a checkpoint writer."""

    def __init__(
        self,
        source: StepSource,
        *,
        clock: Clock,
        tick_s: float,
        speed: float = 1.0,
        checkpoint_s: float = 5.0,
    ) -> None:
        self.source = source
        self.name = source.name
        self.clock = clock
        self.tick_s = tick_s
        self.speed = speed
        self.checkpoint_s = checkpoint_s
        self.steps = 0
        self.simulated_s = 0.0
        self._sink: MarketSink | None = None
        # None: every instrument (until `subscribe`); read by the pump, replaced whole.
        self._subscribed: frozenset[str] | None = None
        self._stop = threading.Event()
        self._pump: threading.Thread | None = None
        self._saver: threading.Thread | None = None
        self._pending: Any | None = None
        self._pending_cv = threading.Condition()
        self._lock = threading.Lock()
        self._connection = ConnectionEvent(
            "feed", self.name, ConnectionState.CONNECTING, clock.time()
        )

    # ----- MarketFeed -----
    @property
    def instruments(self) -> dict[str, Instrument]:
        return self.source.instruments

    def subscribe(self, symbols: Sequence[str]) -> None:
        """From now on deliver these symbols only (VIX and connection events always pass); a
        symbol the source does not serve raises VenueError naming it, and changes nothing."""
        unknown = [symbol for symbol in symbols if symbol not in self.source.instruments]
        if unknown:
            raise VenueError(f"feed {self.name} cannot serve {', '.join(repr(s) for s in unknown)}")
        self._subscribed = frozenset(symbols)

    def wanted(self, event: SourceEvent) -> bool:
        """Whether the subscription lets `event` through (events without a symbol always do)."""
        subscribed = self._subscribed
        symbol = getattr(event, "symbol", None)
        return subscribed is None or symbol is None or symbol in subscribed

    def start(self, sink: MarketSink) -> None:
        """Start pumping into `sink` (call once the history is loaded)."""
        if self._pump is not None:
            return
        self._sink = sink
        self._pump = threading.Thread(target=self._run, name="vigil-feed", daemon=True)
        self._saver = threading.Thread(target=self._save_loop, name="vigil-feed-save", daemon=True)
        self._saver.start()
        self._pump.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the pump, then write the final checkpoint (the state after the last step).
        A second call does nothing."""
        if self._stop.is_set():
            return
        self._stop.set()
        with self._pending_cv:
            self._pending_cv.notify_all()
        started = self._pump is not None
        for thread in (self._pump, self._saver):
            if thread is not None:
                thread.join(timeout)
        if started:
            self._write(self.source.checkpoint())

    def history(self, end: float, seconds: float) -> list[TradeTick | VixUpdate]:
        events: list[TradeTick | VixUpdate] = []
        for _, part in self.history_slices(end, seconds, HISTORY_STEP_S, 1_000_000):
            events.extend(part)
        return events

    def history_slices(
        self, end: float, seconds: float, dt: float, steps_per_slice: int
    ) -> HistorySlices:
        for fraction, events in self.source.history_slices(end, seconds, dt, steps_per_slice):
            yield fraction, [event for event in events if self.wanted(event)]

    def connection(self) -> ConnectionEvent:
        with self._lock:
            return self._connection

    # ----- by hand (tests, tools): one step of the source, no thread -----
    def step(self, now: float, dt: float) -> Sequence[SourceEvent]:
        return self.source.step(now, dt)

    # ----- the pump -----
    def _run(self) -> None:
        self._report(ConnectionState.CONNECTED, message=self.source.start_message())
        attempt = 0
        last = self.clock.monotonic()
        next_checkpoint = last + self.checkpoint_s
        wait = self.tick_s
        while not self._stop.wait(wait):
            now_mono = self.clock.monotonic()
            dt = max(now_mono - last, 0.0) * self.speed
            last = now_mono
            try:
                events = self.step(self.clock.time(), dt)
            except Exception as exc:  # noqa: BLE001 - a failing source is a lost connection
                attempt += 1
                log.warning("feed %s: step failed (attempt %d): %s", self.name, attempt, exc)
                self._report(
                    ConnectionState.RECONNECTING,
                    attempt=attempt,
                    message=f"{type(exc).__name__}: {exc}",
                )
                wait = min(self.tick_s * 2**attempt, max(MAX_BACKOFF_S, self.tick_s))
                continue
            wait = self.tick_s
            if attempt:
                attempt = 0
                self._report(ConnectionState.CONNECTED, message="the feed recovered")
            self.steps += 1
            self.simulated_s += dt
            self._deliver(events)
            if now_mono >= next_checkpoint:
                next_checkpoint = now_mono + self.checkpoint_s
                self._offer(self.source.checkpoint())

    def _deliver(self, events: Sequence[SourceEvent]) -> None:
        sink = self._sink
        assert sink is not None
        for event in events:
            if not self.wanted(event):
                continue
            if isinstance(event, ConnectionEvent):
                with self._lock:
                    self._connection = event
            sink(event)

    def _report(self, state: ConnectionState, *, attempt: int = 0, message: str = "") -> None:
        event = ConnectionEvent("feed", self.name, state, self.clock.time(), attempt, message)
        self._deliver([event])

    # ----- checkpoints -----
    def _offer(self, snapshot: Any | None) -> None:
        if snapshot is None:
            return
        with self._pending_cv:
            self._pending = snapshot  # only the newest matters
            self._pending_cv.notify()

    def _save_loop(self) -> None:
        while True:
            with self._pending_cv:
                while self._pending is None and not self._stop.is_set():
                    self._pending_cv.wait()
                snapshot, self._pending = self._pending, None
            if snapshot is not None:
                self._write(snapshot)
            if self._stop.is_set():
                return

    def _write(self, snapshot: Any | None) -> None:
        if snapshot is None:
            return
        try:
            self.source.save(snapshot)
        except Exception as exc:  # noqa: BLE001 - market state is not safety state
            log.warning("feed %s: could not save its state: %s", self.name, exc)
