"""Housekeeping: the engine thread's periodic work (latch poll, safety, health, retries,
signal expiries, equity, strategies, reconciliation), each at its own interval."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.parts import EngineParts


class Housekeeping:
    """Run on the engine thread after every queued item; each job runs when it is due."""

    def __init__(self, parts: EngineParts, publish_health: Callable[[], None]) -> None:
        self.parts = parts
        self._publish_health = publish_health
        self._due: dict[str, float] = {}

    def run(self, now: float) -> None:
        parts = self.parts
        if self._is_due("latch", now, 0.2):
            parts.safety_loop.poll_latch()
        if parts.safety.dirty or self._is_due("safety", now, 0.25):
            parts.safety_loop.evaluate(now)
        if self._is_due("health", now, 1.0):
            self._publish_health()
        if parts.desk.storage_problem and self._is_due("store_retry", now, 1.0):
            parts.desk.retry_unsaved()  # fills the store refused are kept until it takes them
        if self._is_due("signals", now, 1.0):
            parts.inbox.tick(now)  # expiries, and the pending signals' drift
        if self._is_due("equity", now, 5.0):
            parts.publisher.record_equity(now)
        if self._is_due("strategies", now, 1.0):  # their open P&L moves with the market
            parts.publish_strategies()
        parts.reconciler.tick(now)  # the venue's record, every VIGIL_RECONCILE_EVERY_S

    def _is_due(self, name: str, now: float, every: float) -> bool:
        if now < self._due.get(name, 0.0):
            return False
        self._due[name] = now + every
        return True
