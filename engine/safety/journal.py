"""SafetyJournal: puts the safety state that memory holds on disk, and keeps what did not fit.

Memory is the state in force; the latch file, the store's kv and the audit log follow it.
A write that fails (read-only or full disk: OSError, sqlite3.Error, StoreError) is kept and
retried, at most once a second, until it lands; meanwhile `problem` says so (health ERROR,
an alert, a line on the page). Audit rows keep the time they happened, not the time saved.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque
from typing import Any

from engine.bus import EventBus
from engine.clock import Clock
from engine.safety.breakers import BreakerBoard
from engine.safety.latch import KillSwitchLatch, LatchState
from engine.safety.trust import reset_recorded
from engine.store import Store, StoreError

log = logging.getLogger(__name__)

PERSIST_ERRORS = (OSError, sqlite3.Error, StoreError)
# What the desk's order and fill records raise when the store cannot take them. Not OSError:
# from a broker call that is a venue fault (ConnectionError, timeouts), not a storage one.
STORE_ERRORS = (sqlite3.Error, StoreError)
RETRY_EVERY_S = 1.0
ENGAGED_KEY = "kill_switch.engaged"
FLATTEN_KEY = "kill_switch.flatten_pending"
BREAKERS_KEY = "breakers.board"


class SafetyJournal:
    def __init__(
        self, *, clock: Clock, bus: EventBus, store: Store, latch: KillSwitchLatch
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._store = store
        self.latch = latch
        self.problem = ""
        # The highest latch seq written or accepted here: a released latch at or below it is
        # an old copy (engine/safety/trust.py).
        self.known_seq = 0
        self.signature: tuple[Any, ...] | None = None  # the latch file as last seen here
        self._unsaved: set[str] = set()  # of "latch", "kv", "breakers"
        self._backlog: deque[tuple[str, str, dict[str, Any]]] = deque()
        self._retry_at = 0.0

    def record(self, actor: str, action: str, **fields: Any) -> None:
        """Queue an audit row, stamped now, for the next flush."""
        self._backlog.append((actor, action, {**fields, "ts": self._clock.time()}))

    def mark(self, *parts: str) -> None:
        """Say which parts of the state changed in memory: "latch", "kv", "breakers"."""
        self._unsaved.update(parts)

    def due(self) -> bool:
        pending = bool(self._unsaved or self._backlog)
        return pending and self._clock.time() >= self._retry_at

    def seen(self, state: LatchState) -> None:
        self.known_seq = max(self.known_seq, state.seq)

    def flush(
        self, kill: LatchState, flatten_pending: bool, board: BreakerBoard
    ) -> tuple[LatchState | None, bool]:
        """Write what is unsaved: (the latch as now on disk if written, problem just cleared)."""
        written: LatchState | None = None
        try:
            if "latch" in self._unsaved:
                if kill.engaged and kill.level is not None:
                    written, _ = self.latch.engage(
                        kill.level,
                        kill.reason,
                        kill.actor,
                        kill.since if kill.since is not None else self._clock.time(),
                        seq_floor=self.known_seq,
                    )
                    self.signature = self.latch.last_signature
                    self.seen(written)
                self._unsaved.discard("latch")
            if "kv" in self._unsaved:
                self._store.set_kv(ENGAGED_KEY, "1" if kill.engaged else "0")
                self._store.set_kv(FLATTEN_KEY, "1" if flatten_pending else "0")
                self._unsaved.discard("kv")
            if "breakers" in self._unsaved:
                self._store.set_kv(BREAKERS_KEY, board.to_json())
                self._unsaved.discard("breakers")
            while self._backlog:
                actor, action, fields = self._backlog[0]
                self._store.audit(actor, action, **fields)
                self._backlog.popleft()
        except PERSIST_ERRORS as exc:
            self.failed(exc)
            return written, False
        if not self.problem:
            return written, False
        log.warning("safety state saved again; it is durable")
        self.problem = ""
        self.record("system", "durability_restored", outcome="saved")
        self._bus.publish("system", {"message": "kill switch state saved: the halt is durable"})
        self.flush(kill, flatten_pending, board)
        return written, True

    def failed(self, exc: BaseException) -> None:
        self._retry_at = self._clock.time() + RETRY_EVERY_S
        first = not self.problem
        self.problem = (
            f"NOT DURABLE: the kill switch state could not be saved ({type(exc).__name__}: "
            f"{exc}); it is in force in memory, retrying every {RETRY_EVERY_S:.0f} s"
        )
        if first:
            log.error("%s", self.problem)
            self.record("system", "durability_problem", reason=self.problem)
            self._bus.publish("risk_limit", {"code": "NOT_DURABLE", "message": self.problem})

    # ----- reads that must not crash the engine when the store cannot be read -----
    def get_kv(self, key: str) -> str | None:
        try:
            return self._store.get_kv(key)
        except PERSIST_ERRORS as exc:
            log.error("cannot read %s from the store: %s", key, exc)
            return None

    def stored_engaged(self) -> bool:
        try:
            return self._store.get_kv(ENGAGED_KEY) == "1"
        except PERSIST_ERRORS:
            return True  # cannot tell: assume engaged, so nothing is released on a guess

    def reset_recorded(self, seq: int) -> bool:
        try:
            return reset_recorded(self._store, seq)
        except PERSIST_ERRORS:
            return False
