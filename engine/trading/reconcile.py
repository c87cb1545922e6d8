"""Reconciliation: does the venue's own record hold what the store says we hold?

The comparison is pure (`reconcile`, table-tested); `ReconciliationBook` remembers what was
raised and acknowledged, so the same mismatch is alerted once; `Reconciler` reads the venue
(Broker.positions / open_orders / fills_since only) at start and every few seconds.

The in-flight rule: anything younger than `grace_s` is still travelling between Vigil and the
venue (an order sent but not yet acknowledged, a fill whose event is still queued), so it is
left to the event path this round and looked at again on the next one:
- an order, at either side, created less than `grace_s` ago is not compared;
- a venue fill the store lacks is applied only once it is `grace_s` old; until then its
  symbol's position is not compared.
Everything else that differs is a mismatch: trading goes REDUCING until an admin
acknowledges. Missed fills are not a mismatch: they are booked (ledger, store), audited and
announced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from engine.models import Fill, Order
from engine.venues.base import VenuePosition, VenueRecord

if TYPE_CHECKING:
    from engine.bus import EventBus
    from engine.clock import Clock
    from engine.safety.manager import SafetyManager
    from engine.store import Store

log = logging.getLogger(__name__)

QTY_TOLERANCE = 1e-9
DEFAULT_GRACE_S = 10.0


class IssueKind(StrEnum):
    ORDER_UNKNOWN_TO_STORE = "order_unknown_to_store"  # open at the venue, not in the store
    ORDER_UNKNOWN_TO_VENUE = "order_unknown_to_venue"  # open in the store, not at the venue
    POSITION_MISMATCH = "position_mismatch"  # signed quantities differ
    VENUE_UNREADABLE = "venue_unreadable"  # the venue's record could not be read
    OTHER = "other"  # raised elsewhere (an order event about an order Vigil never placed)


@dataclass(frozen=True)
class Issue:
    """One difference; `store` and `venue` say what each side holds, in words."""

    kind: str
    symbol: str = ""
    order_id: str = ""
    store: str = ""
    venue: str = ""

    def message(self) -> str:
        if self.kind == IssueKind.ORDER_UNKNOWN_TO_STORE:
            return f"order {self.order_id} ({self.venue}) is open at the venue, not in the store"
        if self.kind == IssueKind.ORDER_UNKNOWN_TO_VENUE:
            return f"order {self.order_id} ({self.store}) is open in the store, not at the venue"
        if self.kind == IssueKind.POSITION_MISMATCH:
            return f"{self.symbol}: store holds {self.store}, venue holds {self.venue}"
        return self.venue or self.store or self.kind

    def to_dict(self) -> dict[str, str]:
        return {**asdict(self), "message": self.message()}


@dataclass(frozen=True)
class StoreView:
    """What Vigil holds: open orders (store), positions (the desk's ledger), recent fills."""

    open_orders: Sequence[Order] = ()
    positions: Mapping[str, float] = field(default_factory=dict)
    fills: Sequence[Fill] = ()


@dataclass(frozen=True)
class Reconciliation:
    issues: list[Issue]
    fills_to_apply: list[Fill]  # venue fills the store lacks, old enough to book now
    settling: set[str]  # symbols with a fill in flight: positions compared next round


def describe_order(order: Order) -> str:
    price = order.limit_price if order.limit_price is not None else order.stop_price
    at = f" @ {price:g}" if price is not None else ""
    return f"{order.side} {order.qty:g} {order.symbol} {order.type}{at}"


def _fill_key(fill: Fill) -> tuple[Any, ...]:
    if fill.id:
        return ("id", fill.id)
    # A fill without an id is matched on everything it says about itself.
    return (fill.order_id, fill.symbol, str(fill.side), fill.qty, fill.price, fill.ts)


def missed_fills(venue_fills: Iterable[Fill], store_fills: Iterable[Fill]) -> list[Fill]:
    """Venue fills the store does not hold, oldest first."""
    known = {_fill_key(f) for f in store_fills}
    missing = [f for f in venue_fills if _fill_key(f) not in known]
    return sorted(missing, key=lambda f: f.ts)


def positions_after(positions: Mapping[str, float], fills: Iterable[Fill]) -> dict[str, float]:
    result = dict(positions)
    for fill in fills:
        result[fill.symbol] = result.get(fill.symbol, 0.0) + fill.side.sign * fill.qty
    return result


def compare_orders(
    store_orders: Iterable[Order], venue_orders: Iterable[Order], now: float, grace_s: float
) -> list[Issue]:
    """Open orders matched by Vigil's id, or by the venue's id when the venue lacks ours."""
    ours = [o for o in store_orders if o.status.is_open]
    theirs = [o for o in venue_orders if o.status.is_open]
    our_ids = {o.id for o in ours} | {o.venue_order_id for o in ours if o.venue_order_id}
    their_ids = {o.id for o in theirs if o.id}
    their_ids |= {o.venue_order_id for o in theirs if o.venue_order_id}
    issues = [
        Issue(IssueKind.ORDER_UNKNOWN_TO_VENUE, o.symbol, o.id, store=describe_order(o))
        for o in ours
        if now - o.created_ts >= grace_s
        and o.id not in their_ids
        and not (o.venue_order_id and o.venue_order_id in their_ids)
    ]
    issues += [
        Issue(
            IssueKind.ORDER_UNKNOWN_TO_STORE,
            o.symbol,
            o.id or o.venue_order_id,
            venue=describe_order(o),
        )
        for o in theirs
        if now - o.created_ts >= grace_s
        and o.id not in our_ids
        and not (o.venue_order_id and o.venue_order_id in our_ids)
    ]
    return sorted(issues, key=lambda i: (i.kind, i.order_id))


def compare_positions(
    ours: Mapping[str, float], theirs: Mapping[str, float], settling: Iterable[str] = ()
) -> list[Issue]:
    skip = set(settling)
    issues = []
    for symbol in sorted((set(ours) | set(theirs)) - skip):
        mine, venue = ours.get(symbol, 0.0), theirs.get(symbol, 0.0)
        if abs(mine - venue) > QTY_TOLERANCE:
            issues.append(Issue(IssueKind.POSITION_MISMATCH, symbol, "", f"{mine:g}", f"{venue:g}"))
    return issues


def reconcile(
    store: StoreView, venue: VenueRecord, now: float, grace_s: float = DEFAULT_GRACE_S
) -> Reconciliation:
    """Compare both sides; which venue fills to book first, and what differs after that."""
    missing = missed_fills(venue.fills, store.fills)
    due = [f for f in missing if now - f.ts >= grace_s]
    settling = {f.symbol for f in missing if now - f.ts < grace_s}
    venue_positions: dict[str, float] = {}
    for p in venue.positions:
        venue_positions[p.symbol] = venue_positions.get(p.symbol, 0.0) + p.qty
    issues = compare_orders(store.open_orders, venue.open_orders, now, grace_s)
    issues += compare_positions(positions_after(store.positions, due), venue_positions, settling)
    return Reconciliation(issues, due, settling)


class ReconciliationBook:
    """The mismatches raised and not yet acknowledged, and those an admin has acknowledged.

    A mismatch already raised, or acknowledged and still there, is not raised again; one that
    went away and comes back, or any new one, is. Raised mismatches stay until acknowledged,
    even if they went away meanwhile: an admin should still look at what happened.
    """

    def __init__(self) -> None:
        self.active: list[Issue] = []
        self.since: float | None = None
        self._acknowledged: set[Issue] = set()

    def report(self, issues: Iterable[Issue], now: float, *, complete: bool = True) -> list[Issue]:
        """Take one round's findings; the issues new to the book (to alert on).

        `complete`: these are all the current mismatches (a reconciliation round), so an
        acknowledged one no longer among them is forgotten and would be raised if it returns.
        """
        found = list(dict.fromkeys(issues))
        if complete:
            self._acknowledged &= set(found)
        new = [i for i in found if i not in self._acknowledged and i not in self.active]
        if new:
            self.active += new
            self.since = self.since if self.since is not None else now
        return new

    def acknowledge(self) -> list[Issue]:
        done, self.active, self.since = self.active, [], None
        self._acknowledged |= set(done)
        return done

    def summary(self) -> str:
        return "; ".join(i.message() for i in self.active)

    def payload(self) -> dict[str, Any] | None:
        if not self.active:
            return None
        return {
            "summary": self.summary(),
            "issues": [i.to_dict() for i in self.active],
            "since": round((self.since or 0.0) * 1000),
        }


class VenueRecordSource(Protocol):
    """The part of the Broker protocol reconciliation reads."""

    def positions(self) -> list[VenuePosition]: ...
    def open_orders(self) -> list[Order]: ...
    def fills_since(self, ts: float) -> list[Fill]: ...


class Reconciler:
    """Reads the venue's record and hands the differences to the safety manager."""

    def __init__(
        self,
        *,
        venue: VenueRecordSource,
        store: Store,
        positions: Callable[[], Mapping[str, float]],
        apply_fills: Callable[[list[Fill], str], None],
        safety: SafetyManager,
        bus: EventBus,
        clock: Clock,
        every_s: float,
        grace_s: float = DEFAULT_GRACE_S,
    ) -> None:
        self.venue, self._store, self._positions = venue, store, positions
        self._apply_fills, self._safety, self._bus, self._clock = apply_fills, safety, bus, clock
        self.every_s, self.grace_s = every_s, grace_s
        self._next_run = 0.0
        # Every venue fill before this time is known to be in the store: the next round asks
        # from here, so a fill lost behind a later one that did arrive is still found.
        self._verified_until: float | None = None
        self.runs = 0
        self.fills_applied = 0

    def tick(self, now: float) -> None:
        """From the engine's periodic work: run when due."""
        if now >= self._next_run:
            self.run(now)

    def run(self, now: float | None = None) -> Reconciliation | None:
        """One round; None when the venue could not be read (itself a mismatch)."""
        now = self._clock.time() if now is None else now
        self._next_run = now + self.every_s
        self.runs += 1
        since = self._store.last_fill_ts() or 0.0
        if self._verified_until is not None:
            since = min(since, self._verified_until)
        try:
            record = VenueRecord(
                positions=self.venue.positions(),
                open_orders=self.venue.open_orders(),
                fills=self.venue.fills_since(since),
            )
        except Exception as exc:  # noqa: BLE001 - any failure to read is reported, never raised
            log.warning("reconciliation could not read the venue: %s", exc)
            unreadable = Issue(
                IssueKind.VENUE_UNREADABLE, venue=f"venue record unreadable: {type(exc).__name__}"
            )
            self._safety.report_reconciliation([unreadable], now, complete=False)
            return None
        open_orders = self._store.load_orders(open_only=True)
        mine = StoreView(open_orders, self._positions(), self._store.load_fills(since))
        result = reconcile(mine, record, now, self.grace_s)
        if result.fills_to_apply:
            self._book(result.fills_to_apply)
        self._safety.report_reconciliation(result.issues, now)
        self._verified_until = now - self.grace_s
        return result

    def _book(self, fills: list[Fill]) -> None:
        self._apply_fills(fills, "reconciliation")
        self.fills_applied += len(fills)
        message = f"reconciliation booked {len(fills)} fill(s) the store had missed"
        self._safety.report_reconciled_fills(message, [asdict(f) for f in fills])
        self._bus.publish("system", {"message": message, "kind": "reconciliation_fills"})
