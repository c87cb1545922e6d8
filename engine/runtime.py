"""EngineRuntime: the one writer thread: drains the input queue, runs safety, publishes.

Start-up order: `__init__` takes the data-directory lock (one engine per account), `boot`
reads the latch, rebuilds state and publishes the complete snapshot (account, safety,
breakers, health) before anything can ask for it; `start` runs the writer thread, which loads
market history in small slices between queued items, so a command never waits behind it, and
then starts the feed (the feed runs its own thread and hands its events to `submit_market`).
The latest ConnectionEvent of the broker and of the feed is kept for the health payload's
`venues` (the page's always-visible venue status; built by engine/health.py).

A command whose caller timed out never runs unnoticed. Risk-reducing ones (`runs_late` in
their engine/commands.py entry: kill_switch, pause_entries, ...) still run and a "system"
message says they ran late; all others add risk or release safety: dropped, audited as
`<name>_dropped`, announced (`Future.cancel` vs `set_running_or_notify_cancel` decides).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from engine.bus import EventBus
from engine.clock import Clock, SystemClock
from engine.command_payloads import KillSwitchCmd
from engine.commands import COMMAND_SPECS, QUERIES, error
from engine.datadir_lock import DataDirLock
from engine.feed_switch import FeedSwitch
from engine.health import HealthReport
from engine.housekeeping import Housekeeping
from engine.models import KillLevel, OrderBook, Quote, TradeTick, VixUpdate
from engine.parts import EngineParts, build_parts
from engine.queue_items import (
    BARRIER_PRIORITY,
    COMMAND_PRIORITY,
    MARKET_PRIORITY,
    VENUE_PRIORITY,
    Barrier,
    Call,
    Internal,
    Item,
)
from engine.settings import EngineSettings
from engine.state import DashboardState
from engine.topics import ACTIVITY_TOPICS
from engine.venues.base import (
    AccountEvent,
    ConnectionEvent,
    ConnectionState,
    OrderEvent,
    VenueError,
)

log = logging.getLogger(__name__)

# Commands that only reduce risk: worth running even when their caller has given up.
RUN_LATE = frozenset(spec.name for spec in COMMAND_SPECS if spec.runs_late)
MAX_MARKET_BACKLOG = 20_000


class EngineRuntime(HealthReport):
    """Owns the state. Feeds, broker callbacks and operators only put events on its queue."""

    def __init__(
        self,
        settings: EngineSettings,
        *,
        clock: Clock | None = None,
        parts: EngineParts | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        # Before anything in the data directory is read: a second engine stops here.
        self.lock = DataDirLock(settings.store.data_dir)
        self.lock.acquire()
        self.bus = EventBus(self.clock)
        self.state = DashboardState()
        try:
            self.parts = parts or build_parts(settings, self.clock, self.bus, self.state)
        except BaseException:
            self.lock.release()
            raise
        self._housekeeping = Housekeeping(self.parts, lambda: self._publish_health())
        # The activity stream is kept in the snapshot too, so a page that connects (or
        # reconnects) sees the recent history, not an empty log.
        self.bus.subscribe(
            lambda topic, payload: self.state.add_activity({**payload, "type": topic}),
            set(ACTIVITY_TOPICS),
        )
        self._queue: queue.PriorityQueue[Item] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._feed_wanted = False
        self._feed = FeedSwitch(
            self.parts.feed, lambda: self.parts.market.symbols, self.submit_market
        )
        self.started_at = self.clock.time()
        self.errors = 0
        self.last_error: str | None = None
        self.dropped_market_events = 0
        self.heartbeat = self.clock.time()
        # Market events per whole second of the monotonic clock, for the last few seconds.
        self._event_counts: deque[list[float]] = deque(maxlen=8)
        self.booted = False
        self._history: Iterator[float] | None = None
        self.history_loaded = threading.Event()
        self.history_progress = 0.0
        now = self.clock.time()
        # The paper venue lives in this process: connected by construction. A broker that
        # connects over a network reports its state with ConnectionEvents like a feed does.
        paper = settings.broker.name == "paper"
        broker_state = ConnectionState.CONNECTED if paper else ConnectionState.CONNECTING
        self.connections: dict[str, ConnectionEvent] = {
            "broker": ConnectionEvent("broker", settings.broker.name, broker_state, now)
        }
        if self.parts.feed is not None:
            self.connections["feed"] = self.parts.feed.connection()

    # ----- lifecycle -----
    def boot(self) -> None:
        """Read the latch, rebuild state and publish the whole snapshot — before any broker
        or strategy runs, and before the server can answer a request."""
        if not self.booted:
            # The venue reports from now on; its events wait on the queue until the engine
            # thread runs, so nothing it says is applied before the state is restored.
            self.parts.broker.start(self.submit_venue)
            self.parts.boot()
            self.parts.publish_snapshot()
            self._publish_health()
            self.booted = True

    def start(self, *, feed: bool = True) -> None:
        self.boot()
        self._feed_wanted = feed and self.parts.feed is not None
        if self._feed_wanted and self.settings.feed.sim_history_s > 0:
            self._history = self.parts.router.warm_up(self.clock.time())
        else:
            self.history_loaded.set()
        self._thread = threading.Thread(target=self._run, name="vigil-engine", daemon=True)
        if self._feed_wanted and self._history is None:
            self._start_feed()
        self._thread.start()

    def _start_feed(self) -> None:
        # The feed's process carries on from where the history ends: no event before that.
        self._feed.start(self._stop)

    def stop(self, timeout: float = 5.0, reason: str = "stopped") -> None:
        """A graceful stop: the strategies stop first (no entry is decided from here on), the
        feed's last events are applied, the engine thread ends, then the store records the
        stop and is checkpointed and closed. The latch is not touched: a stop is not a halt,
        and a halt in force stays in force for the next start."""
        try:
            if self.running and self.parts.strategy is not None:
                self._on_engine_thread(lambda: self.parts.desk.detach_strategy(reason), timeout)
            # Stop the feed first (it saves its state) and apply what it handed over,
            # so the engine's last prices are the ones the feed resumes from.
            if self._feed.stop():
                self.wait_idle(timeout)
        finally:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(timeout)
            try:
                self._feed.stop()  # started by the last history slice while stopping
                self.parts.broker.stop()
                self.parts.record_stop(reason)
                self.parts.close()
            finally:
                self.lock.release()

    def _on_engine_thread(self, work: Callable[[], None], timeout: float) -> bool:
        future: Future[bool] = Future()
        self._queue.put(Item(COMMAND_PRIORITY, next(self._seq), Internal(work, future)))
        try:
            return future.result(timeout)
        except FutureTimeout:
            return False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def readiness(self) -> tuple[bool, str]:
        """(ready, why not): the engine thread runs and the snapshot is complete."""
        if not self.booted:
            return False, "the engine has not restored its state yet"
        if not self.running:
            return False, "the engine is not running"
        missing = [s for s in ("account", "safety", "breakers", "health") if not self.state.get(s)]
        if missing:
            return False, f"the snapshot is missing {', '.join(missing)}"
        return True, "ready"

    # ----- inputs (any thread) -----
    def submit_market(
        self, event: Quote | TradeTick | OrderBook | VixUpdate | ConnectionEvent
    ) -> None:
        if not isinstance(event, ConnectionEvent) and self._queue.qsize() > MAX_MARKET_BACKLOG:
            # Market data is conflatable; dropping old ticks beats an unbounded backlog that
            # would delay a kill switch queued behind it (commands have priority anyway).
            self.dropped_market_events += 1
            return
        self._queue.put(Item(MARKET_PRIORITY, next(self._seq), event))

    def submit_venue(self, event: OrderEvent | AccountEvent | ConnectionEvent) -> None:
        """A venue's report (any thread): queued above market data, below commands, and never
        dropped: a lost fill would be money the engine does not know about."""
        self._queue.put(Item(VENUE_PRIORITY, next(self._seq), event))

    def call(self, name: str, command: Any, actor: str, timeout: float = 10.0) -> dict[str, Any]:
        """Run an operator command on the engine thread and wait for its answer.

        On timeout the command is withdrawn if the engine has not started it; what happens to
        it then is decided on the engine thread (see RUN_LATE in the module docstring).
        """
        future: Future[dict[str, Any]] = Future()
        if not self.running:
            return error("ENGINE_STOPPED", "the engine is not running")
        self._queue.put(Item(COMMAND_PRIORITY, next(self._seq), Call(name, command, actor, future)))
        try:
            return future.result(timeout)
        except FutureTimeout:
            pass
        if not future.cancel():
            # Already running: its answer is on the way and belongs to this caller.
            try:
                return future.result(timeout)
            except FutureTimeout:
                pass
        late = "will still run" if name in RUN_LATE else "was withdrawn"
        return error("TIMEOUT", f"the engine did not answer {name} within {timeout:g} s; it {late}")

    def call_late(self, name: str, command: Any, actor: str) -> None:
        """A command whose caller already gave up elsewhere (a web process over Redis): the
        engine treats it as any late call (RUN_LATE): a risk-reducing one runs and is announced,
        any other is dropped and audited."""
        future: Future[dict[str, Any]] = Future()
        future.cancel()
        self._queue.put(Item(COMMAND_PRIORITY, next(self._seq), Call(name, command, actor, future)))

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until the engine has handled everything queued before this call.

        False if the engine is not running or did not get there within `timeout`.
        """
        if not self.running:
            return False
        future: Future[bool] = Future()
        self._queue.put(Item(BARRIER_PRIORITY, next(self._seq), Barrier(future)))
        try:
            return future.result(timeout)
        except FutureTimeout:
            return False

    def snapshot(self) -> dict[str, Any]:
        return self.state.snapshot()

    # ----- the writer thread -----
    def _run(self) -> None:
        while not self._stop.is_set():
            if self._history is None:
                self.run_once(timeout=0.05)
                continue
            # Everything queued goes first (commands before all), then one slice of history.
            while self.run_once() and not self._stop.is_set():
                pass
            self._safe(self._load_history_slice, "market history")
            # Hand the GIL over now: a request thread holding a command would otherwise wait
            # out the interpreter's 5 ms switch interval behind the next slice (halves the
            # kill switch's latency while history loads).
            time.sleep(0)

    def _load_history_slice(self) -> None:
        assert self._history is not None
        try:
            self.history_progress = next(self._history)
        except BaseException as exc:  # done, or broken: either way the live feed may start
            self._history, self.history_progress = None, 1.0
            self.history_loaded.set()
            if self._feed_wanted:
                self._start_feed()
            if not isinstance(exc, StopIteration):
                raise

    def run_once(self, timeout: float = 0.0, *, periodic: bool = True) -> bool:
        """Handle one queued item (if any) then the periodic work. Tests call this directly."""
        handled = False
        barrier: Barrier | None = None
        try:
            item = self._queue.get(timeout=timeout) if timeout else self._queue.get_nowait()
        except queue.Empty:
            item = None
        if item is not None:
            handled = True
            if isinstance(item.body, Call):
                self._run_call(item.body)
            elif isinstance(item.body, Barrier):
                barrier = item.body
            elif isinstance(item.body, Internal):
                internal = item.body
                self._safe(internal.work, "stopping")
                internal.future.set_result(True)
            elif isinstance(item.body, ConnectionEvent):
                self._on_connection(item.body)
            elif item.priority == VENUE_PRIORITY:
                venue_event = item.body
                self._safe(lambda: self.parts.on_venue(venue_event), "venue event")
            else:
                self._count_event(self.clock.monotonic())
                self._safe(lambda: self.parts.router.on_market(item.body), "market data")
        if periodic:
            self._safe(self._periodic, "housekeeping")
        if barrier is not None:
            barrier.future.set_result(True)
        return handled

    def drain(self, limit: int = 100_000) -> int:
        count = 0
        while count < limit and self.run_once():
            count += 1
        return count

    def _run_call(self, call: Call) -> None:
        # False: the caller gave up (cancelled) before the engine got here.
        late = not call.future.set_running_or_notify_cancel()
        if late and call.name not in RUN_LATE:
            self._safe(lambda: self._drop_late(call), f"dropping {call.name}")
            return
        try:
            result = self.parts.commands.execute(call.name, call.command, call.actor)
        except Exception as exc:  # noqa: BLE001 - answer the operator, never die
            self._record_error(exc, f"command {call.name}")
            result = error("INTERNAL", f"{call.name} failed inside the engine; see the log")
        if late:
            outcome = "ok" if result.get("ok") else result.get("error", {}).get("code", "failed")
            message = f"{call.name} by {call.actor} ran late, after its caller timed out: {outcome}"
            self.bus.publish("system", {"message": message, "kind": "late_command"})
        else:
            call.future.set_result(result)

    def _drop_late(self, call: Call) -> None:
        if call.name in QUERIES:
            return  # a read nobody waits for: nothing to do, nothing to tell
        message = (
            f"{call.name} by {call.actor} was dropped: its caller timed out before the engine "
            "reached it, and a late run could add risk"
        )
        self.bus.publish("system", {"message": message, "kind": "dropped_command"})
        self.parts.store.audit(
            call.actor, f"{call.name}_dropped", reason="caller timed out", outcome="DROPPED"
        )

    def _safe(self, work: Any, where: str) -> None:
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - the engine thread must never die silently
            self._record_error(exc, where)

    def _record_error(self, exc: BaseException, where: str) -> None:
        self.errors += 1
        self.last_error = f"{where}: {type(exc).__name__}: {exc}"
        log.exception("engine error in %s", where)
        self.parts.safety.record_error(self.clock.time())
        self.bus.publish("error", {"message": self.last_error, "where": where})
        self._publish_health()

    def _periodic(self) -> None:
        self.heartbeat = self.clock.time()
        self._housekeeping.run(self.heartbeat)

    # ----- venue connections -----
    def _on_connection(self, event: ConnectionEvent) -> None:
        self.connections[event.source] = event
        self._safe(lambda: self.parts.router.on_connection(event), "connection state")
        if event.halt:  # the venue cannot trade on safely (its keys were refused): HALT
            why = KillSwitchCmd(
                level=KillLevel.HALT, reason=f"{event.venue}: {event.message}"[:500]
            )
            self._safe(lambda: self.parts.commands.engage_kill_switch(why, "system"), "venue halt")
        if event.state in (ConnectionState.RECONNECTING, ConnectionState.DISCONNECTED):
            # A lost connection counts like any engine error (health, error-rate breaker).
            where = f"{event.source} {event.venue}"
            self._record_error(VenueError(event.message or str(event.state)), where)
        else:
            self._publish_health()
