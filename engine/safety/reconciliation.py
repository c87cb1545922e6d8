"""ReconciliationReports: the SafetyManager's side of reconciliation: mismatches raised (REDUCING,
audit, alert), missed fills audited, and an admin's acknowledgement."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.commands import error
from engine.trading.reconcile import Issue, IssueKind, ReconciliationBook

if TYPE_CHECKING:
    from engine.bus import EventBus
    from engine.clock import Clock
    from engine.models import TradingState
    from engine.safety.journal import SafetyJournal
    from engine.safety.watch import Executor

log = logging.getLogger(__name__)


class ReconciliationReports:
    """Mixed into SafetyManager, which provides the parts named below."""

    reconciliation: ReconciliationBook
    journal: SafetyJournal
    dirty: bool
    trading_state: TradingState
    _clock: Clock
    _bus: EventBus
    _persist: Callable[[Executor | None], bool]

    @property
    def reconcile_issue(self) -> str:
        """The unacknowledged mismatches in one line; empty when there is none."""
        return self.reconciliation.summary()

    @reconcile_issue.setter
    def reconcile_issue(self, message: str) -> None:
        # For a reporter with one line of text that audits and alerts by itself (the desk, on
        # an order event about an order Vigil never placed): shown and held, not re-announced.
        if message:
            issue = Issue(IssueKind.OTHER, venue=message)
            self.reconciliation.report([issue], self._clock.time(), complete=False)
            self.dirty = True

    def report_reconciliation(
        self, issues: list[Issue], now: float | None = None, *, complete: bool = True
    ) -> list[Issue]:
        """Raise what is new among `issues` (REDUCING, audit, alert); the new ones.

        `complete`: these are every current mismatch (a reconciliation round); see
        ReconciliationBook.report. A mismatch raised before is not raised again.
        """
        new = self.reconciliation.report(
            issues, self._clock.time() if now is None else now, complete=complete
        )
        if not new:
            return new
        message = "; ".join(issue.message() for issue in new)
        log.warning("reconciliation mismatch: %s", message)
        self.journal.record(
            "system",
            "reconciliation_mismatch",
            reason=message,
            outcome=str(self.trading_state),
            details={"issues": [issue.to_dict() for issue in new]},
        )
        self._persist(None)
        self.dirty = True
        self._bus.publish("risk_limit", {"code": "RECONCILIATION", "message": message})
        return new

    def report_reconciled_fills(self, message: str, fills: list[dict[str, Any]]) -> None:
        """Fills the store had missed, now booked: audited (not a mismatch)."""
        self.journal.record(
            "system",
            "reconciliation_fills_applied",
            reason=message,
            outcome="booked",
            details={"fills": fills},
        )
        self._persist(None)

    def acknowledge_reconciliation(self, actor: str, reason: str) -> dict[str, Any]:
        """An admin has looked at the mismatches: back from REDUCING (unless held otherwise)."""
        if not self.reconciliation.active:
            return error("NOTHING_TO_ACKNOWLEDGE", "there is no reconciliation mismatch")
        done = self.reconciliation.acknowledge()
        self.journal.record(
            actor,
            "reconciliation_acknowledged",
            reason=reason,
            outcome=str(self.trading_state),
            details={"issues": [issue.to_dict() for issue in done]},
        )
        self._persist(None)
        self.dirty = True
        self._bus.publish(
            "system", {"message": f"reconciliation acknowledged by {actor}", "kind": "reconcile"}
        )
        return {"ok": True, "acknowledged": len(done), "trading_state": str(self.trading_state)}
