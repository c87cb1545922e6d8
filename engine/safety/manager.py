"""SafetyManager: trading state, kill switch effects and breakers, on the engine thread.

Order of work for every change of safety state: apply it in memory and act on it first
(detach the strategy, cancel, flatten), then persist it (latch file, store kv, audit). A
persistence failure never undoes the memory state: it sets `durability_problem` (health
ERROR, an alert, a line on the page) and every poll retries until the disk has it all.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from typing import Any

from engine.bus import EventBus
from engine.clock import Clock
from engine.commands import error
from engine.models import KillLevel, OrderRequest, TradingState
from engine.safety.breakers import BreakerBoard, SafetySnapshot
from engine.safety.checks import Denial, Limits, PreTradeContext, review_order
from engine.safety.journal import (
    BREAKERS_KEY,
    ENGAGED_KEY,
    FLATTEN_KEY,
    PERSIST_ERRORS,
    STORE_ERRORS,
    SafetyJournal,
)
from engine.safety.latch import KillSwitchLatch, LatchState
from engine.safety.overrides import RiskOverrides
from engine.safety.reconciliation import ReconciliationReports
from engine.safety.trust import RESET_ACTION, void_reset
from engine.safety.watch import LEVEL_RANK, Executor, LatchWatch
from engine.store import Store
from engine.trading.reconcile import ReconciliationBook

log = logging.getLogger(__name__)

__all__ = [
    "BREAKERS_KEY",
    "ENGAGED_KEY",
    "FLATTEN_KEY",
    "LEVEL_RANK",
    "Executor",
    "SafetyManager",
]
RELEASED = LatchState(False, None, "", "", None, 0)


class SafetyManager(LatchWatch, ReconciliationReports):
    def __init__(
        self,
        *,
        clock: Clock,
        bus: EventBus,
        store: Store,
        latch: KillSwitchLatch,
        board: BreakerBoard,
        limits: Limits,
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._store = store
        self._latch = latch
        self.board = board
        self.limits = limits
        self.kill = RELEASED
        self.fail_reason = ""
        self.manual_pause = False
        # Non-empty while the engine process cannot reach the web processes (the Redis link,
        # dashboard/relay.py): REDUCING, so positions keep their protection but nothing new opens.
        self.link_issue = ""
        # Risk overrides with an expiry (engine/safety/overrides.py); they change sizing and
        # limits only, never the kill switch or a breaker.
        self.overrides = RiskOverrides()
        self.reconciliation = ReconciliationBook()
        self.flatten_pending = False
        self.journal = SafetyJournal(clock=clock, bus=bus, store=store, latch=latch)
        self.error_times: deque[float] = deque(maxlen=1000)
        self.order_times: deque[float] = deque(maxlen=10_000)
        # Set by anything a breaker measures (orders, errors, fills) so the breakers run on
        # the engine's next turn instead of waiting for the timer.
        self.dirty = False

    # ----- state -----
    @property
    def durability_problem(self) -> str:
        """Non-empty while memory holds safety state the disk does not (yet): health ERROR."""
        return self.journal.problem

    @property
    def trading_state(self) -> TradingState:
        tripped = {trip.action for trip in self.board.tripped()}
        if self.fail_reason or LEVEL_RANK[self.kill.level] >= 2 or "HALTED" in tripped:
            return TradingState.HALTED
        if (
            self.kill.level is KillLevel.PAUSE
            or self.reconcile_issue
            or self.link_issue
            or "REDUCING" in tripped
        ):
            return TradingState.REDUCING
        return TradingState.ACTIVE

    @property
    def entries_paused(self) -> bool:
        return self.manual_pause or self.kill.level is KillLevel.PAUSE

    def state_reason(self) -> str:
        reason = self._base_reason()
        if self.durability_problem:
            return f"{reason} — {self.durability_problem}" if reason else self.durability_problem
        return reason

    def _base_reason(self) -> str:
        if self.fail_reason:
            return self.fail_reason
        if self.kill.engaged:
            return f"kill switch ({self.kill.level}) by {self.kill.actor}: {self.kill.reason}"
        if self.reconcile_issue:
            return f"reconciliation: {self.reconcile_issue}"
        if self.link_issue:
            return self.link_issue
        trips = self.board.tripped()
        if trips:
            return "; ".join(f"breaker {t.name} tripped" for t in trips)
        return "entries paused by an operator" if self.manual_pause else ""

    def payload(self, daily_pnl: float, open_positions: int) -> dict[str, Any]:
        used = max(-daily_pnl, 0.0)
        limit_positions = max(self.limits.max_positions, 1)
        return {
            "trading_state": str(self.trading_state),
            "entries_paused": self.entries_paused,
            "state_reason": self.state_reason(),
            "kill_switch": self.kill.to_dict(),
            "flatten_pending": self.flatten_pending,
            "durable": not self.durability_problem,
            "durability_problem": self.durability_problem or None,
            "reconciliation": self.reconciliation.payload(),
            "overrides": self.overrides.payload(),
            "daily_loss": {
                "used": used,
                "limit": self.limits.daily_loss_limit,
                "pct": 100.0 * used / self.limits.daily_loss_limit,
            },
            "positions": {
                "open": open_positions,
                "limit": self.limits.max_positions,
                "pct": 100.0 * open_positions / limit_positions,
            },
        }

    # ----- the gateway -----
    def review(self, req: OrderRequest, ctx: PreTradeContext) -> Denial | None:
        return review_order(req, ctx, self.limits)

    def context_state(self) -> tuple[TradingState, bool]:
        return self.trading_state, self.entries_paused

    def record_order(self, now: float) -> None:
        self.order_times.append(now)
        self.dirty = True

    def record_error(self, now: float) -> None:
        self.error_times.append(now)
        self.dirty = True

    def mark_dirty(self) -> None:
        """Something a breaker measures changed (a fill): evaluate on the engine's next turn."""
        self.dirty = True

    def clear_dirty(self) -> None:
        """The breakers are about to run on the current state."""
        self.dirty = False

    # ----- operator settings -----
    def pause_entries(self, actor: str) -> None:
        """No new entries until resumed; orders that reduce a position still go through."""
        self.manual_pause = True
        self._store.audit(actor, "pause_entries", outcome="paused")
        self._bus.publish("system", {"message": f"entries paused by {actor}"})

    def resume_entries(self, actor: str) -> None:
        self.manual_pause = False
        self._store.audit(actor, "resume_entries", outcome="resumed")
        self._bus.publish("system", {"message": f"entries resumed by {actor}"})

    def set_link_issue(self, issue: str, actor: str) -> bool:
        """The operators' link lost (`issue` says why) or back (""): audited and announced;
        False when nothing changed."""
        if issue == self.link_issue:
            return False
        self.link_issue = issue
        self.dirty = True
        if issue:
            self._store.audit(actor, "link_lost", reason=issue, outcome=str(self.trading_state))
            self._bus.publish("system", {"message": f"{issue}; new entries denied", "kind": "link"})
        else:
            self._store.audit(actor, "link_restored", outcome=str(self.trading_state))
            message = "link to the web processes restored; entries allowed again"
            self._bus.publish("system", {"message": message, "kind": "link"})
        return True

    def override_limit(self, name: str, value: float | int) -> float | int:
        """Replace one pre-trade limit for this process's life; returns the old value."""
        old: float | int = getattr(self.limits, name)
        self.limits = dataclasses.replace(self.limits, **{name: value})
        return old

    def hold_halt_in_memory(self, reason: str) -> None:
        """Halt when engaging the kill switch itself failed: memory holds the halt, the
        first reason stays."""
        if not self.fail_reason:
            self.fail_reason = reason

    # ----- the kill switch -----
    def engage(
        self, level: KillLevel, reason: str, actor: str, executor: Executor
    ) -> dict[str, Any]:
        """Engage or escalate. The answer reports the state in force, never a wish."""
        level = KillLevel(level)
        # A latch written outside (the CLI) a moment ago is applied first: if it is already
        # at this level, this engage changes nothing but the answer is still the truth.
        self.poll_latch(executor)
        before = LEVEL_RANK[self.kill.level]
        if before >= LEVEL_RANK[level]:
            return self._answer(changed=False)
        state = LatchState(
            True, level, reason, actor, self._clock.time(), self.kill.seq, self.kill.last_reset
        )
        self.kill = state
        self.journal.mark("latch", "kv")
        cancelled, outcomes = self._take_effect(state, executor)
        self.journal.record(
            actor,
            "kill_switch_engaged",
            reason=reason,
            outcome=f"{level}: {cancelled} orders cancelled",
            details={"level": str(level), "outcomes": outcomes},
        )
        self._persist(executor)
        self._publish_activated(state, cancelled)
        return self._answer(changed=True, cancelled=cancelled)

    def _answer(self, *, changed: bool, cancelled: int | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "ok": True,
            "changed": changed,
            "kill_switch": self.kill.to_dict(),
            "trading_state": str(self.trading_state),
            "durable": not self.durability_problem,
        }
        if changed:
            answer["cancelled"] = cancelled
        if self.durability_problem:
            answer["warning"] = self.durability_problem
        return answer

    def _take_effect(
        self, state: LatchState, executor: Executor | None
    ) -> tuple[int | None, list[dict[str, Any]]]:
        """Act on an engaged state now in memory; (orders cancelled or None if unknown, log)."""
        if executor is None:  # at boot: nothing is running yet to stop
            self.flatten_pending |= state.level is KillLevel.FLATTEN
            return 0, []
        try:
            return self._act(state, executor)
        except Exception:
            # Acting failed (a broker error): the halt still holds in memory, so it must
            # reach the disk before the error goes up, or a restart would forget it.
            self._persist(None)
            raise

    def _act(
        self, state: LatchState, executor: Executor
    ) -> tuple[int | None, list[dict[str, Any]]]:
        outcomes: list[dict[str, Any]] = []
        known = True
        if LEVEL_RANK[state.level] >= 2:
            executor.detach_strategy(f"kill switch {state.level}")
            try:
                outcomes = executor.cancel_all_orders(f"kill switch {state.level}")
            except STORE_ERRORS as exc:  # the broker cancelled; their records did not save
                known = False
                self.journal.failed(exc)
        if state.level is KillLevel.FLATTEN:
            self.flatten_pending = True
            self.journal.mark("kv")
            try:
                outcomes += executor.flatten_positions("kill switch flatten")
            except STORE_ERRORS as exc:
                self.journal.failed(exc)
        cancelled = sum(1 for o in outcomes if o.get("action") == "cancel" and o.get("ok"))
        return (cancelled if known else None), outcomes

    def _publish_activated(self, state: LatchState, cancelled: int | None, **extra: Any) -> None:
        self._bus.publish(
            "kill_switch_activated",
            {
                "level": str(state.level),
                "reason": state.reason,
                "actor": state.actor,
                "since": state.to_dict()["since"],
                "trading_state": str(self.trading_state),
                "cancelled": cancelled,
                "durable": not self.durability_problem,
                **extra,
            },
        )

    def reset(self, actor: str, reason: str, executor: Executor) -> dict[str, Any]:
        self.poll_latch(executor)
        if not self.kill.engaged and not self.fail_reason and not self.board.tripped():
            return error("NOT_ENGAGED", "the kill switch is not engaged and no breaker is tripped")
        if self.durability_problem:
            # Releasing a halt the disk never saw would leave no record of either.
            return error(
                "NOT_DURABLE",
                f"reset refused until the halt is saved: {self.durability_problem}",
            )
        if self.flatten_pending and not executor.is_flat():
            return error(
                "FLATTEN_IN_PROGRESS", "positions are still open; flatten has not finished"
            )

        recorded: list[int] = []

        def record(seq: int) -> None:
            self._store.audit(
                actor,
                RESET_ACTION,
                reason=reason,
                outcome="released",
                details={"latch_seq": seq, "source": "server"},
            )
            recorded.append(seq)

        try:
            state = self._latch.reset(actor, reason, self._clock.time(), before_write=record)
        except PERSIST_ERRORS as exc:
            log.error("kill switch reset could not be saved: %s", exc)
            if recorded:
                void_reset(self._store, actor, recorded[0], f"latch not written: {exc}")
            return error(
                "STORAGE_UNAVAILABLE",
                f"the reset could not be saved ({type(exc).__name__}); still HALTED",
            )
        self.journal.signature = self._latch.last_signature
        self.journal.seen(state)
        self.kill = state
        self._after_reset(actor, reason)
        return {"ok": True, "trading_state": str(self.trading_state)}

    def _after_reset(self, actor: str, reason: str, **extra: Any) -> None:
        self.fail_reason = ""
        self.flatten_pending = False
        self.board.reset()
        self.journal.mark("kv", "breakers")
        self._persist(None)
        self._bus.publish(
            "kill_switch_reset",
            {"actor": actor, "reason": reason, "trading_state": str(self.trading_state), **extra},
        )

    # ----- breakers -----
    def evaluate(self, snapshot: SafetySnapshot, executor: Executor) -> bool:
        """Run every breaker; act on new trips. Returns True when something tripped."""
        trips = self.board.evaluate(snapshot)
        for trip in trips:
            message = trip.message()
            self.journal.record(
                f"breaker:{trip.name}",
                "breaker_tripped",
                reason=message,
                outcome=trip.action,
                details={"value": trip.value, "threshold": trip.threshold},
            )
            self._bus.publish(
                "risk_limit", {"code": f"BREAKER_{trip.name.upper()}", "message": message}
            )
            level = _kill_level_for(trip.action)
            if level is not None:
                self.engage(level, message, f"breaker:{trip.name}", executor)
        if trips:
            self.journal.mark("breakers")
            self._persist(executor)
        return bool(trips)


def _kill_level_for(action: str) -> KillLevel | None:
    if action == "HALTED":
        return KillLevel.HALT
    if action in {level.value for level in KillLevel}:
        return KillLevel(action)
    return None
