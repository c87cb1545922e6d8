"""The desk's write-behind buffer: records the store has not yet taken, kept until it does."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from engine.models import ClosedTrade, Fill, Order
from engine.store import AuditRow, Store, StoreError

log = logging.getLogger(__name__)

# Audit rows of denied orders could pile up while the store is down and a strategy keeps
# asking; past this many the oldest are dropped (and counted). Fills, trades and orders never.
MAX_UNSAVED_AUDITS = 10_000


@dataclass
class UnsavedRecords:
    """Memory is the truth the engine trades on; this is what the store still lacks of it.

    Every write of the desk goes through here and is flushed in one transaction, in order:
    a newer version of an order can never be overwritten by an older one that was retried.
    """

    fills: list[Fill] = field(default_factory=list)
    trades: list[ClosedTrade] = field(default_factory=list)
    orders: dict[str, Order] = field(default_factory=dict)
    audits: list[AuditRow] = field(default_factory=list)
    dropped_audits: int = 0
    problem: str = ""  # the store's last refusal, "" once a flush succeeded

    def add_fill(self, fill: Fill) -> None:
        self.fills.append(fill)

    def add_trade(self, trade: ClosedTrade) -> None:
        self.trades.append(trade)

    def add_orders(self, orders: list[Order]) -> None:
        for order in orders:
            self.orders[order.id] = order

    def add_audit(self, row: AuditRow) -> None:
        self.audits.append(row)
        if len(self.audits) > MAX_UNSAVED_AUDITS:
            del self.audits[0]
            self.dropped_audits += 1

    @property
    def empty(self) -> bool:
        return not (self.fills or self.trades or self.orders or self.audits)

    @property
    def count(self) -> int:
        return len(self.fills) + len(self.trades) + len(self.orders) + len(self.audits)

    def flush(self, store: Store) -> bool:
        """Write everything pending in one transaction; False (and `problem` set) if refused."""
        if self.empty:
            return True
        try:
            store.save_batch(
                fills=self.fills,
                trades=self.trades,
                orders=list(self.orders.values()),
                audits=self.audits,
            )
        except (StoreError, OSError) as exc:
            self.problem = f"the store cannot be written: {exc}"
            return False
        if self.dropped_audits:
            log.error("the store was unwritable: %d audit rows were dropped", self.dropped_audits)
        self.fills, self.trades, self.orders, self.audits = [], [], {}, []
        self.dropped_audits = 0
        self.problem = ""
        return True
