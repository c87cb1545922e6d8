"""SafetyManager: trading state, kill switch effects and breakers, on the engine thread."""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Protocol

from engine.bus import EventBus
from engine.clock import Clock
from engine.commands import error
from engine.models import KillLevel, OrderRequest, TradingState
from engine.safety.breakers import BreakerBoard, SafetySnapshot
from engine.safety.checks import Denial, Limits, PreTradeContext, review_order
from engine.safety.latch import KillSwitchLatch, LatchCorrupt, LatchState
from engine.store import Store

log = logging.getLogger(__name__)

LEVEL_RANK = {None: 0, KillLevel.PAUSE: 1, KillLevel.HALT: 2, KillLevel.FLATTEN: 3}
ENGAGED_KEY = "kill_switch.engaged"
BREAKERS_KEY = "breakers.board"


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
        self.kill = LatchState(False, None, "", "", None, 0)
        self.fail_reason = ""
        self.manual_pause = False
        self.reconcile_issue = ""
        self.flatten_pending = False
        self.error_times: deque[float] = deque(maxlen=1000)
        self.order_times: deque[float] = deque(maxlen=10_000)
        self._latch_signature: tuple[Any, ...] | None = None
        # Set by anything a breaker measures (orders, errors, fills) so the breakers run on
        # the engine's next turn instead of waiting for the timer.
        self.dirty = False

    # ----- start-up: runs before any broker or strategy starts -----
    def boot(self) -> None:
        self._latch_signature = self._latch.stat_signature()
        try:
            self.kill = self._latch.read()
        except LatchCorrupt as exc:
            self._fail_closed(f"kill switch latch is unreadable ({exc})")
        else:
            if not self._latch.exists() and self._store.get_kv(ENGAGED_KEY) == "1":
                self._fail_closed("kill switch latch file is missing but the store says engaged")
        saved = self._store.get_kv(BREAKERS_KEY)
        if saved:
            try:
                self.board = BreakerBoard.restore(self.board, saved)
            except (ValueError, KeyError, TypeError) as exc:
                self._fail_closed(f"saved breaker state is unreadable ({exc})")

    def _fail_closed(self, reason: str) -> None:
        self.fail_reason = reason
        log.error("starting HALTED: %s", reason)
        self._store.audit("system", "fail_closed", reason=reason, outcome="HALTED")
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
        now = self._clock.time()
        state, changed = self._latch.engage(level, reason, actor, now)
        self._latch_signature = self._latch.stat_signature()
        if not changed:
            return {"ok": True, "changed": False, "kill_switch": state.to_dict()}
        self._store.set_kv(ENGAGED_KEY, "1")
        cancelled = self._apply_engaged(state, executor)
        return {"ok": True, "changed": True, "kill_switch": state.to_dict(), "cancelled": cancelled}

    def _apply_engaged(self, state: LatchState, executor: Executor) -> int:
        self.kill = state
        self.fail_reason = self.fail_reason if state.engaged else ""
        outcomes: list[dict[str, Any]] = []
        if LEVEL_RANK[state.level] >= 2:
            executor.detach_strategy(f"kill switch {state.level}")
            outcomes = executor.cancel_all_orders(f"kill switch {state.level}")
        if state.level is KillLevel.FLATTEN:
            self.flatten_pending = True
            outcomes += executor.flatten_positions("kill switch flatten")
        cancelled = sum(1 for o in outcomes if o.get("action") == "cancel" and o.get("ok"))
        self._store.audit(
            state.actor,
            "kill_switch_engaged",
            reason=state.reason,
            outcome=f"{state.level}: {cancelled} orders cancelled",
            details={"level": str(state.level), "outcomes": outcomes},
        )
        self._bus.publish(
            "kill_switch_activated",
            {
                "level": str(state.level),
                "reason": state.reason,
                "actor": state.actor,
                "since": state.to_dict()["since"],
                "trading_state": str(self.trading_state),
                "cancelled": cancelled,
            },
        )
        return cancelled

    def reset(self, actor: str, reason: str, executor: Executor) -> dict[str, Any]:
        if not self.kill.engaged and not self.fail_reason and not self.board.tripped():
            return error("NOT_ENGAGED", "the kill switch is not engaged and no breaker is tripped")
        if self.flatten_pending and not executor.is_flat():
            return error(
                "FLATTEN_IN_PROGRESS", "positions are still open; flatten has not finished"
            )
        self.kill = self._latch.reset(actor, reason, self._clock.time())
        self._latch_signature = self._latch.stat_signature()
        self._after_reset(actor, reason)
        return {"ok": True, "trading_state": str(self.trading_state)}

    def _after_reset(self, actor: str, reason: str, *, audit: bool = True) -> None:
        self._store.set_kv(ENGAGED_KEY, "0")
        self.fail_reason = ""
        self.flatten_pending = False
        self.board.reset()
        self._store.set_kv(BREAKERS_KEY, self.board.to_json())
        if audit:
            self._store.audit(
                actor, "kill_switch_reset", reason=reason, outcome=str(self.trading_state)
            )
        self._bus.publish(
            "kill_switch_reset",
            {"actor": actor, "reason": reason, "trading_state": str(self.trading_state)},
        )

    def poll_latch(self, executor: Executor) -> bool:
        """Notice a latch written by another process (the CLI). Returns True on a change."""
        signature = self._latch.stat_signature()
        if signature == self._latch_signature:
            return False
        self._latch_signature = signature
        try:
            state = self._latch.read()
        except LatchCorrupt as exc:
            if not self.fail_reason:
                self._fail_closed(f"kill switch latch became unreadable ({exc})")
                executor.detach_strategy("latch unreadable")
                executor.cancel_all_orders("latch unreadable")
            return True
        if state.engaged and LEVEL_RANK[state.level] > LEVEL_RANK[self.kill.level]:
            self._store.set_kv(ENGAGED_KEY, "1")
            self._apply_engaged(state, executor)
            return True
        if not state.engaged and (self.kill.engaged or self.fail_reason):
            self.kill = state
            # The CLI audited the reset with its own user; this only applies it.
            self._after_reset("cli", "kill switch reset from the command line", audit=False)
            return True
        if state.engaged:
            self.kill = state
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
            self._store.audit(
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
            self._store.set_kv(BREAKERS_KEY, self.board.to_json())
        return bool(trips)


def _kill_level_for(action: str) -> KillLevel | None:
    if action == "HALTED":
        return KillLevel.HALT
    if action in {level.value for level in KillLevel}:
        return KillLevel(action)
    return None
