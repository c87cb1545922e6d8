"""EngineRuntime: the one writer thread: drains the input queue, runs safety, publishes."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from engine.bus import EventBus
from engine.clock import Clock, SystemClock
from engine.commands import error
from engine.models import Health, OrderBook, Quote, TradeTick, VixUpdate
from engine.settings import Settings
from engine.state import DashboardState
from engine.wiring import Components, build_components

log = logging.getLogger(__name__)

COMMAND_PRIORITY, MARKET_PRIORITY = 0, 1
ACTIVITY_TOPICS = {
    "signal",
    "exit_signal",
    "order_placing",
    "order_placed",
    "trade_executed",
    "risk_limit",
    "system",
    "error",
    "progress",
    "kill_switch_activated",
    "kill_switch_reset",
}
MAX_MARKET_BACKLOG = 20_000


@dataclass(order=True)
class _Item:
    priority: int
    seq: int
    body: Any = field(compare=False)


@dataclass
class _Call:
    name: str
    command: Any
    actor: str
    future: Future[dict[str, Any]]


class EngineRuntime:
    """Owns the state. Feeds, broker callbacks and operators only put events on its queue."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        components: Components | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.bus = EventBus(self.clock)
        self.state = DashboardState()
        self.c = components or build_components(settings, self.clock, self.bus, self.state)
        # The activity stream is kept in the snapshot too, so a page that connects (or
        # reconnects) sees the recent history, not an empty log.
        self.bus.subscribe(
            lambda topic, payload: self.state.add_activity({**payload, "type": topic}),
            ACTIVITY_TOPICS,
        )
        self._queue: queue.PriorityQueue[_Item] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pump: threading.Thread | None = None
        self.started_at = self.clock.time()
        self.errors = 0
        self.last_error: str | None = None
        self.dropped_market_events = 0
        self.heartbeat = self.clock.time()
        # Market events per whole second of the monotonic clock, for the last few seconds.
        self._event_counts: deque[list[float]] = deque(maxlen=8)
        self._due: dict[str, float] = {}
        self.booted = False

    # ----- lifecycle -----
    def boot(self) -> None:
        """Read the latch and rebuild state — before any broker or strategy runs."""
        if not self.booted:
            self.c.boot()
            self.booted = True

    def start(self, *, feed: bool = True) -> None:
        self.boot()
        self._thread = threading.Thread(target=self._run, name="vigil-engine", daemon=True)
        self._thread.start()
        if feed and self.c.feed is not None:
            self._pump = threading.Thread(target=self._pump_feed, name="vigil-feed", daemon=True)
            self._pump.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for thread in (self._pump, self._thread):
            if thread is not None:
                thread.join(timeout)
        self.c.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ----- inputs (any thread) -----
    def submit_market(self, event: Quote | TradeTick | OrderBook | VixUpdate) -> None:
        if self._queue.qsize() > MAX_MARKET_BACKLOG:
            # Market data is conflatable; dropping old ticks beats an unbounded backlog that
            # would delay a kill switch queued behind it (commands have priority anyway).
            self.dropped_market_events += 1
            return
        self._queue.put(_Item(MARKET_PRIORITY, next(self._seq), event))

    def call(self, name: str, command: Any, actor: str, timeout: float = 10.0) -> dict[str, Any]:
        """Run an operator command on the engine thread and wait for its answer."""
        future: Future[dict[str, Any]] = Future()
        if not self.running:
            return error("ENGINE_STOPPED", "the engine is not running")
        self._queue.put(
            _Item(COMMAND_PRIORITY, next(self._seq), _Call(name, command, actor, future))
        )
        try:
            return future.result(timeout)
        except FutureTimeout:
            return error("TIMEOUT", f"the engine did not answer {name} within {timeout:.0f} s")

    def snapshot(self) -> dict[str, Any]:
        return self.state.snapshot()

    # ----- the writer thread -----
    def _run(self) -> None:
        self._safe(self.c.start_publishing, "start")
        while not self._stop.is_set():
            self.run_once(timeout=0.05)

    def run_once(self, timeout: float = 0.0) -> bool:
        """Handle one queued item (if any) then the periodic work. Tests call this directly."""
        handled = False
        try:
            item = self._queue.get(timeout=timeout) if timeout else self._queue.get_nowait()
        except queue.Empty:
            item = None
        if item is not None:
            handled = True
            if isinstance(item.body, _Call):
                self._run_call(item.body)
            else:
                self._count_event(time.monotonic())
                self._safe(lambda: self.c.on_market(item.body), "market data")
        self._safe(self._periodic, "housekeeping")
        return handled

    def _count_event(self, now: float) -> None:
        second = float(int(now))
        if self._event_counts and self._event_counts[-1][0] == second:
            self._event_counts[-1][1] += 1
        else:
            self._event_counts.append([second, 1.0])

    def drain(self, limit: int = 100_000) -> int:
        count = 0
        while count < limit and self.run_once():
            count += 1
        return count

    def _run_call(self, call: _Call) -> None:
        try:
            result = self.c.execute(call.name, call.command, call.actor)
        except Exception as exc:  # noqa: BLE001 - answer the operator, never die
            self._record_error(exc, f"command {call.name}")
            result = error("INTERNAL", f"{call.name} failed inside the engine; see the log")
        if not call.future.done():
            call.future.set_result(result)

    def _safe(self, work: Any, where: str) -> None:
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - the engine thread must never die silently
            self._record_error(exc, where)

    def _record_error(self, exc: BaseException, where: str) -> None:
        self.errors += 1
        self.last_error = f"{where}: {type(exc).__name__}: {exc}"
        log.exception("engine error in %s", where)
        self.c.safety.record_error(self.clock.time())
        self.bus.publish("error", {"message": self.last_error, "where": where})
        self._publish_health()

    def _periodic(self) -> None:
        now = self.clock.time()
        self.heartbeat = now
        if self._is_due("latch", now, 0.2):
            self.c.poll_latch()
        if self.c.safety.dirty or self._is_due("safety", now, 0.25):
            self.c.evaluate_safety(now)
        if self._is_due("health", now, 1.0):
            self._publish_health()
        if self.c.desk.storage_problem and self._is_due("store_retry", now, 1.0):
            self.c.desk.retry_unsaved()  # fills the store refused are kept until it takes them
        if self._is_due("equity", now, 5.0):
            self.c.record_equity(now)

    def _is_due(self, name: str, now: float, every: float) -> bool:
        if now < self._due.get(name, 0.0):
            return False
        self._due[name] = now + every
        return True

    def health_payload(self) -> dict[str, Any]:
        current = float(int(time.monotonic()))
        # The five whole seconds before the current (incomplete) one.
        recent = sum(n for second, n in self._event_counts if current - 5 <= second < current)
        return {
            "status": str(self._health_status()),
            "errors": self.errors,
            "last_error": self.last_error,
            "uptime_s": round(self.clock.time() - self.started_at, 1),
            "heartbeat_ts": int(self.heartbeat * 1000),
            "feed": self.settings.feed,
            "broker": self.settings.broker,
            "strategy": self.c.strategy_status(),
            "queue_depth": self._queue.qsize(),
            "events_per_s": recent / 5.0,
            "dropped_market_events": self.dropped_market_events,
        }

    def _health_status(self) -> Health:
        # ERROR: safety state (e.g. an engaged kill switch) holds in memory but not on disk.
        # Also while fills or orders the venue reported are held in memory, not yet stored.
        if self.c.safety.durability_problem or self.c.desk.storage_problem:
            return Health.ERROR
        return Health.DEGRADED if self.errors else Health.OK

    def _publish_health(self) -> None:
        health = self.health_payload()
        self.state.set("health", health)
        self.bus.publish("system_health_update", health)

    # ----- the simulated feed's pump -----
    def _pump_feed(self) -> None:
        feed = self.c.feed
        assert feed is not None
        interval = self.settings.sim_tick_ms / 1000.0
        last = time.monotonic()
        while not self._stop.wait(interval):
            now_mono = time.monotonic()
            dt = (now_mono - last) * self.settings.sim_speed
            last = now_mono
            try:
                events = feed.step(self.clock.time(), dt)
            except Exception as exc:  # noqa: BLE001
                self._queue.put(
                    _Item(
                        COMMAND_PRIORITY,
                        next(self._seq),
                        _Call("feed_error", exc, "feed", Future()),
                    )
                )
                continue
            for event in events:
                self.submit_market(event)
