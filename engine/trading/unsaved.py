"""The desk's write-behind buffer: records the store has not yet taken, kept until it does."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.bus import EventBus
from engine.clock import Clock
from engine.models import ClosedTrade, Fill, Order
from engine.store.sqlite import AuditRow, Store, StoreError

log = logging.getLogger(__name__)

# Audit rows of denied orders could pile up while the store is down and a strategy keeps
# asking; past this many the oldest are dropped (and counted). Fills, trades and orders never.
MAX_UNSAVED_AUDITS = 10_000


@dataclass
class UnsavedRecords:
    """What the store still lacks of memory, written in one transaction when it can be.

    Orders are kept by id, newest version only: a retried old version can never overwrite
    a newer one.
    """

    fills: list[Fill] = field(default_factory=list)
    trades: list[ClosedTrade] = field(default_factory=list)
    orders: dict[str, Order] = field(default_factory=dict)
    audits: list[AuditRow] = field(default_factory=list)
    dropped_audits: int = 0

    @property
    def empty(self) -> bool:
        return not (self.fills or self.trades or self.orders or self.audits)

    @property
    def count(self) -> int:
        return len(self.fills) + len(self.trades) + len(self.orders) + len(self.audits)

    def write(self, store: Store) -> None:
        """All or nothing; raises StoreError/OSError and keeps everything if refused."""
        store.save_batch(
            fills=self.fills,
            trades=self.trades,
            orders=list(self.orders.values()),
            audits=self.audits,
        )
        if self.dropped_audits:
            log.error("the store was unwritable: %d audit rows were dropped", self.dropped_audits)
        self.fills, self.trades, self.orders, self.audits = [], [], {}, []
        self.dropped_audits = 0


class DurableWriter:
    """Every write of the desk goes through here; memory stays the truth the engine trades on.

    When the store refuses a write, the records are kept, `problem` says why (the gateway
    then denies new risk), and the first refused fill calls `halt` once. `save` is retried
    until the store takes everything; the halt itself is only released by an operator.
    """

    def __init__(
        self, store: Store, bus: EventBus, clock: Clock, halt: Callable[[str], None]
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._halt = halt
        self._halt_sent = False
        self.pending = UnsavedRecords()
        self.problem = ""  # the store's last refusal; "" once everything is saved

    def add_fill(self, fill: Fill) -> None:
        self.pending.fills.append(fill)

    def add_trade(self, trade: ClosedTrade) -> None:
        self.pending.trades.append(trade)

    def add_orders(self, orders: list[Order]) -> None:
        for order in orders:
            self.pending.orders[order.id] = order

    def audit(
        self,
        actor: str,
        action: str,
        *,
        reason: str = "",
        outcome: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        """An audit row stamped now, so a delayed write keeps the time it happened."""
        row = AuditRow(self._clock.time(), actor, action, reason, outcome, details or {})
        self.pending.audits.append(row)
        if len(self.pending.audits) > MAX_UNSAVED_AUDITS:
            del self.pending.audits[0]
            self.pending.dropped_audits += 1

    def save(self) -> bool:
        """Write what the store lacks; False (kept, reported, maybe halted) if it refuses."""
        if self.pending.empty:
            return True
        try:
            self.pending.write(self._store)
        except (StoreError, OSError) as exc:
            self._refused(exc)
            return False
        if self.problem:
            self.problem = ""
            self._halt_sent = False
            log.warning("the store takes writes again; every kept record is saved")
            self._bus.publish(
                "system", {"message": "the store takes writes again: every kept fill is saved"}
            )
        return True

    def _refused(self, exc: BaseException) -> None:
        first = not self.problem
        self.problem = f"the store cannot be written: {exc}"
        if first:
            log.error("%s (%s)", self.problem, self._store.path)
            self._bus.publish("error", {"message": self.problem, "where": "store"})
        if self.pending.fills and not self._halt_sent:
            # Set before halting: the halt's own cancels save through here and fail again.
            self._halt_sent = True
            self._halt(f"fills not saved: {self.problem} (kept in memory, retrying)")
