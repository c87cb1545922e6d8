"""SafetyManager: trading state, kill switch effects and breakers, on the engine thread.

Order of work for every change of safety state: apply it in memory and act on it first
(detach the strategy, cancel, flatten), then persist it (latch file, store kv, audit). A
persistence failure never undoes the memory state: it sets `durability_problem` (health
ERROR, an alert, a line on the page) and every poll retries until the disk has it all.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque
from typing import Any, Protocol

from engine.bus import EventBus
from engine.clock import Clock
from engine.commands import error
from engine.models import KillLevel, OrderRequest, TradingState
from engine.safety.breakers import BreakerBoard, SafetySnapshot
from engine.safety.checks import Denial, Limits, PreTradeContext, review_order
from engine.safety.latch import KillSwitchLatch, LatchCorrupt, LatchState
from engine.safety.trust import RESET_ACTION, Verdict, judge, reset_recorded
from engine.store import Store, StoreError

log = logging.getLogger(__name__)

LEVEL_RANK = {None: 0, KillLevel.PAUSE: 1, KillLevel.HALT: 2, KillLevel.FLATTEN: 3}
ENGAGED_KEY = "kill_switch.engaged"
FLATTEN_KEY = "kill_switch.flatten_pending"
BREAKERS_KEY = "breakers.board"
PERSIST_ERRORS = (OSError, sqlite3.Error, StoreError)
RETRY_EVERY_S = 1.0
RELEASED = LatchState(False, None, "", "", None, 0)


class Executor(Protocol):
    """What the kill switch needs from the desk; all of it runs on the engine thread."""

    def detach_strategy(self, reason: str) -> None: ...
    def cancel_all_orders(self, reason: str) -> list[dict[str, Any]]: ...
    def flatten_positions(self, reason: str) -> list[dict[str, Any]]: ...
    def is_flat(self) -> bool: ...


class SafetyManager:
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
        self.reconcile_issue = ""
        self.flatten_pending = False
        # Non-empty while memory holds safety state the disk does not (yet): health ERROR.
        self.durability_problem = ""
        self.error_times: deque[float] = deque(maxlen=1000)
        self.order_times: deque[float] = deque(maxlen=10_000)
        self._latch_signature: tuple[Any, ...] | None = None
        self._known_seq = 0
        self._unsaved: set[str] = set()  # of "latch", "kv", "breakers"
        self._audit_backlog: deque[tuple[str, str, dict[str, Any]]] = deque()
        self._retry_at = 0.0
        # Set by anything a breaker measures (orders, errors, fills) so the breakers run on
        # the engine's next turn instead of waiting for the timer.
        self.dirty = False

    # ----- start-up: runs before any broker or strategy starts -----
    def boot(self) -> None:
        self._latch_signature = self._latch.stat_signature()
        stored = self._stored_engaged()
        self.flatten_pending = self._get_kv(FLATTEN_KEY) == "1"
        try:
            found = self._latch.load()
        except LatchCorrupt as exc:
            self._distrust(f"kill switch latch is unreadable ({exc.reason})", None)
        else:
            if found is not None:
                self._known_seq = found.seq
            if found is not None and found.engaged:
                self.kill = found
                # Flatten holds until flat, across restarts: the first evaluation retries it.
                self.flatten_pending |= found.level is KillLevel.FLATTEN
            elif found is None and stored:
                self._distrust("kill switch latch file is missing but the store says engaged", None)
            elif found is not None and stored:
                if self._reset_recorded(found.seq):
                    self._unsaved.add("kv")  # a reset whose store write did not land
                else:
                    self._distrust(
                        "kill switch latch says released but the store says engaged and no "
                        f"reset is recorded for seq {found.seq}",
                        None,
                    )
        if not self.kill.engaged:
            self.flatten_pending = False
        saved = self._get_kv(BREAKERS_KEY)
        if saved:
            try:
                self.board = BreakerBoard.restore(self.board, saved)
            except (ValueError, KeyError, TypeError) as exc:
                self._fail_closed(f"saved breaker state is unreadable ({exc})")
        if self._unsaved or self._audit_backlog:
            self._persist(None)

    def _fail_closed(self, reason: str) -> None:
        self.fail_reason = reason
        log.error("HALTED (fail closed): %s", reason)
        self._record("system", "fail_closed", reason=reason, outcome="HALTED")
        self._bus.publish("risk_limit", {"code": "FAIL_CLOSED", "message": reason})

    # ----- state -----
    @property
    def trading_state(self) -> TradingState:
        tripped = {trip.action for trip in self.board.tripped()}
        if self.fail_reason or LEVEL_RANK[self.kill.level] >= 2 or "HALTED" in tripped:
            return TradingState.HALTED
        if self.kill.level is KillLevel.PAUSE or self.reconcile_issue or "REDUCING" in tripped:
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
            "reconciliation": self.reconcile_issue or None,
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
        cancelled, outcomes = self._take_effect(state, executor)
        self._unsaved |= {"latch", "kv"}
        self._record(
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
        outcomes: list[dict[str, Any]] = []
        known = True
        if LEVEL_RANK[state.level] >= 2:
            executor.detach_strategy(f"kill switch {state.level}")
            try:
                outcomes = executor.cancel_all_orders(f"kill switch {state.level}")
            except PERSIST_ERRORS as exc:  # the broker cancelled; their records did not save
                known = False
                self._storage_failed(exc)
        if state.level is KillLevel.FLATTEN:
            self.flatten_pending = True
            self._unsaved.add("kv")
            try:
                outcomes += executor.flatten_positions("kill switch flatten")
            except PERSIST_ERRORS as exc:
                self._storage_failed(exc)
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

        def record(seq: int) -> None:
            self._store.audit(
                actor,
                RESET_ACTION,
                reason=reason,
                outcome="released",
                details={"latch_seq": seq, "source": "server"},
            )

        try:
            state = self._latch.reset(actor, reason, self._clock.time(), before_write=record)
        except PERSIST_ERRORS as exc:
            log.error("kill switch reset could not be saved: %s", exc)
            return error(
                "STORAGE_UNAVAILABLE",
                f"the reset could not be saved ({type(exc).__name__}); still HALTED",
            )
        self._latch_signature = self._latch.last_signature
        self._known_seq = max(self._known_seq, state.seq)
        self.kill = state
        self._after_reset(actor, reason)
        return {"ok": True, "trading_state": str(self.trading_state)}

    def _after_reset(self, actor: str, reason: str, **extra: Any) -> None:
        self.fail_reason = ""
        self.flatten_pending = False
        self.board.reset()
        self._unsaved |= {"kv", "breakers"}
        self._persist(None)
        self._bus.publish(
            "kill_switch_reset",
            {"actor": actor, "reason": reason, "trading_state": str(self.trading_state), **extra},
        )

    # ----- the latch as seen from outside -----
    def poll_latch(self, executor: Executor) -> bool:
        """Notice a latch written by another process; retry unsaved state. True on a change."""
        changed = False
        signature = self._latch.stat_signature()
        if signature != self._latch_signature:
            self._latch_signature = signature
            changed = self._on_latch_changed(executor)
        if (self._unsaved or self._audit_backlog) and self._clock.time() >= self._retry_at:
            changed |= self._persist(executor)
        return changed

    def _on_latch_changed(self, executor: Executor) -> bool:
        try:
            found = self._latch.load()
        except LatchCorrupt as exc:
            return self._distrust(f"kill switch latch became unreadable ({exc.reason})", executor)
        engaged_here = self.kill.engaged or bool(self.fail_reason) or self._stored_engaged()
        released_seq = found.seq if found is not None and not found.engaged else None
        verdict = judge(
            found,
            memory=self.kill,
            engaged_here=engaged_here,
            known_seq=self._known_seq,
            reset_recorded=released_seq is not None and self._reset_recorded(released_seq),
        )
        if verdict.verdict is Verdict.FOREIGN:
            return self._distrust(verdict.problem, executor)
        assert found is not None or verdict.verdict is Verdict.UNCHANGED
        if found is not None:
            self._known_seq = max(self._known_seq, found.seq)
        if verdict.verdict is Verdict.ENGAGE and found is not None:
            self._adopt(found, executor)
            return True
        if verdict.verdict is Verdict.RESET and found is not None:
            self.kill = found
            who = found.last_reset.actor if found.last_reset else "cli"
            why = found.last_reset.reason if found.last_reset else "reset from the command line"
            self._record(
                who,
                "kill_switch_reset_applied",
                reason=why,
                outcome="released",
                details={"latch_seq": found.seq, "source": "latch file (cli)"},
            )
            self._after_reset(who, why, source="cli")
            return True
        return False

    def _adopt(self, found: LatchState, executor: Executor | None) -> None:
        """Apply an engage made outside (the CLI): same effects and records as our own."""
        self.kill = found
        cancelled, outcomes = self._take_effect(found, executor)
        self._unsaved.add("kv")
        self._record(
            found.actor,
            "kill_switch_engaged",
            reason=found.reason,
            outcome=f"{found.level}: {cancelled} orders cancelled",
            details={
                "level": str(found.level),
                "source": "latch file",
                "latch_seq": found.seq,
                "outcomes": outcomes,
            },
        )
        self._persist(executor)
        self._publish_activated(found, cancelled, source="latch file")

    def _distrust(self, problem: str, executor: Executor | None) -> bool:
        """Fail closed on a latch we cannot believe: HALTED, recorded, alerted, rewritten."""
        self.fail_reason = problem
        log.error("HALTED (fail closed): %s", problem)
        newly = LEVEL_RANK[self.kill.level] < 2
        cancelled: int | None = 0
        if newly:
            self.kill = LatchState(
                True,
                KillLevel.HALT,
                problem,
                "system",
                self._clock.time(),
                self.kill.seq,
                self.kill.last_reset,
            )
            cancelled, _ = self._take_effect(self.kill, executor)
        self._unsaved |= {"latch", "kv"}
        self._record(
            "system",
            "latch_untrusted",
            reason=problem,
            outcome="HALTED",
            details={"file": self._latch.raw_text(), "known_seq": self._known_seq},
        )
        self._bus.publish("risk_limit", {"code": "FAIL_CLOSED", "message": problem})
        self._persist(executor)
        if newly:
            self._publish_activated(self.kill, cancelled)
        return True

    # ----- persistence: memory first, then the disk, retried until it takes -----
    def _record(self, actor: str, action: str, **fields: Any) -> None:
        """Queue an audit row (keeping its time) for the next _persist."""
        self._audit_backlog.append((actor, action, {**fields, "ts": self._clock.time()}))

    def _persist(self, executor: Executor | None) -> bool:
        """Write what memory holds and the disk lacks. True when that cleared a problem."""
        ahead: LatchState | None = None
        try:
            if "latch" in self._unsaved:
                if self.kill.engaged and self.kill.level is not None:
                    written, _ = self._latch.engage(
                        self.kill.level,
                        self.kill.reason,
                        self.kill.actor,
                        self.kill.since or self._clock.time(),
                        seq_floor=self._known_seq,
                    )
                    self._latch_signature = self._latch.last_signature
                    self._known_seq = max(self._known_seq, written.seq)
                    if LEVEL_RANK[written.level] > LEVEL_RANK[self.kill.level]:
                        ahead = written  # a CLI engage landed first, at a higher level
                    else:
                        self.kill = written
                self._unsaved.discard("latch")
            if "kv" in self._unsaved:
                self._store.set_kv(ENGAGED_KEY, "1" if self.kill.engaged else "0")
                self._store.set_kv(FLATTEN_KEY, "1" if self.flatten_pending else "0")
                self._unsaved.discard("kv")
            if "breakers" in self._unsaved:
                self._store.set_kv(BREAKERS_KEY, self.board.to_json())
                self._unsaved.discard("breakers")
            while self._audit_backlog:
                actor, action, fields = self._audit_backlog[0]
                self._store.audit(actor, action, **fields)
                self._audit_backlog.popleft()
        except PERSIST_ERRORS as exc:
            self._storage_failed(exc)
            return False
        if ahead is not None:
            self._adopt(ahead, executor)
        if not self.durability_problem:
            return False
        log.warning("safety state saved again; it is durable")
        self.durability_problem = ""
        self._record("system", "durability_restored", outcome="saved")
        self._bus.publish(
            "system", {"message": "kill switch state saved: the halt is durable again"}
        )
        self._persist(executor)
        return True

    def _storage_failed(self, exc: BaseException) -> None:
        self._retry_at = self._clock.time() + RETRY_EVERY_S
        first = not self.durability_problem
        self.durability_problem = (
            f"NOT DURABLE: the kill switch state could not be saved ({type(exc).__name__}: "
            f"{exc}); it is in force in memory, retrying every {RETRY_EVERY_S:.0f} s"
        )
        if first:
            log.error("%s", self.durability_problem)
            self._record("system", "durability_problem", reason=self.durability_problem)
            self._bus.publish(
                "risk_limit", {"code": "NOT_DURABLE", "message": self.durability_problem}
            )

    def _get_kv(self, key: str) -> str | None:
        try:
            return self._store.get_kv(key)
        except PERSIST_ERRORS as exc:
            log.error("cannot read %s from the store: %s", key, exc)
            return None

    def _stored_engaged(self) -> bool:
        try:
            return self._store.get_kv(ENGAGED_KEY) == "1"
        except PERSIST_ERRORS:
            return True  # cannot tell: assume engaged, so nothing is released on a guess

    def _reset_recorded(self, seq: int) -> bool:
        try:
            return reset_recorded(self._store, seq)
        except PERSIST_ERRORS:
            return False

    # ----- breakers -----
    def evaluate(self, snapshot: SafetySnapshot, executor: Executor) -> bool:
        """Run every breaker; act on new trips. Returns True when something tripped."""
        trips = self.board.evaluate(snapshot)
        for trip in trips:
            message = (
                f"breaker {trip.name} tripped: {trip.value:.2f}{trip.unit} "
                f"against {trip.threshold:.2f}{trip.unit}; action {trip.action}"
            )
            self._record(
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
            self._unsaved.add("breakers")
            self._persist(executor)
        return bool(trips)


def _kill_level_for(action: str) -> KillLevel | None:
    if action == "HALTED":
        return KillLevel.HALT
    if action in {level.value for level in KillLevel}:
        return KillLevel(action)
    return None
