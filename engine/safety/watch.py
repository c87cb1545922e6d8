"""LatchWatch: the SafetyManager's reading side: boot, polling the latch, failing closed.

What it believes and what it refuses is decided in engine/safety/trust.py; here are the
effects: a believed change is applied, audited with its actor and published to the activity
log; an untrusted latch halts, is audited and alerted, and the latch is rewritten engaged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from engine.bus import EventBus
from engine.clock import Clock
from engine.models import KillLevel
from engine.safety.breakers import BreakerBoard
from engine.safety.journal import BREAKERS_KEY, FLATTEN_KEY, SafetyJournal
from engine.safety.latch import LEVEL_RANK as LATCH_RANK
from engine.safety.latch import KillSwitchLatch, LatchCorrupt, LatchState
from engine.safety.trust import Verdict, judge

log = logging.getLogger(__name__)
LEVEL_RANK: dict[KillLevel | None, int] = {None: 0, **LATCH_RANK}


class Executor(Protocol):
    """What the kill switch needs from the desk; all of it runs on the engine thread."""

    def detach_strategy(self, reason: str) -> None: ...
    def cancel_all_orders(self, reason: str) -> list[dict[str, Any]]: ...
    def flatten_positions(self, reason: str) -> list[dict[str, Any]]: ...
    def is_flat(self) -> bool: ...


class LatchWatch:
    """Mixed into SafetyManager, which provides the parts named below."""

    kill: LatchState
    fail_reason: str
    flatten_pending: bool
    board: BreakerBoard
    journal: SafetyJournal
    _clock: Clock
    _bus: EventBus
    _latch: KillSwitchLatch

    # Provided by SafetyManager (declared here, as the other mixins declare their owner's parts).
    _take_effect: Callable[[LatchState, Executor | None], tuple[int | None, list[dict[str, Any]]]]
    _publish_activated: Callable[..., None]
    _after_reset: Callable[..., None]

    # ----- start-up: runs before any broker or strategy starts -----
    def boot(self) -> None:
        self.journal.signature = self._latch.stat_signature()
        stored = self.journal.stored_engaged()
        self.flatten_pending = self.journal.get_kv(FLATTEN_KEY) == "1"
        try:
            found = self._latch.load()
        except LatchCorrupt as exc:
            self._distrust(f"kill switch latch is unreadable ({exc.reason})", None)
        else:
            if found is not None:
                self.journal.seen(found)
            if found is not None and found.engaged:
                self.kill = found
                # Flatten holds until flat, across restarts: the first evaluation retries it.
                self.flatten_pending |= found.level is KillLevel.FLATTEN
            elif found is None and stored:
                self._distrust("kill switch latch file is missing but the store says engaged", None)
            elif found is not None and stored:
                if self.journal.reset_recorded(found.seq):
                    self.journal.mark("kv")  # a reset whose store write did not land
                else:
                    self._distrust(
                        "kill switch latch says released but the store says engaged and no "
                        f"reset is recorded for seq {found.seq}",
                        None,
                    )
        if not self.kill.engaged:
            self.flatten_pending = False
        saved = self.journal.get_kv(BREAKERS_KEY)
        if saved:
            try:
                self.board = BreakerBoard.restore(self.board, saved)
            except (ValueError, KeyError, TypeError) as exc:
                self._fail_closed(f"saved breaker state is unreadable ({exc})")
        self._persist(None)

    def _fail_closed(self, reason: str) -> None:
        self.fail_reason = reason
        log.error("HALTED (fail closed): %s", reason)
        self.journal.record("system", "fail_closed", reason=reason, outcome="HALTED")
        self._bus.publish("risk_limit", {"code": "FAIL_CLOSED", "message": reason})

    # ----- the latch as seen from outside -----
    def poll_latch(self, executor: Executor) -> bool:
        """Notice a latch written by another process; retry unsaved state. True on a change."""
        changed = False
        signature = self._latch.stat_signature()
        if signature != self.journal.signature:
            self.journal.signature = signature
            changed = self._on_latch_changed(executor)
        if self.journal.due():
            changed |= self._persist(executor)
        return changed

    def _on_latch_changed(self, executor: Executor) -> bool:
        try:
            found = self._latch.load()
        except LatchCorrupt as exc:
            return self._distrust(f"kill switch latch became unreadable ({exc.reason})", executor)
        engaged_here = self.kill.engaged or bool(self.fail_reason) or self.journal.stored_engaged()
        released_seq = found.seq if found is not None and not found.engaged else None
        verdict = judge(
            found,
            memory=self.kill,
            engaged_here=engaged_here,
            known_seq=self.journal.known_seq,
            reset_recorded=released_seq is not None and self.journal.reset_recorded(released_seq),
        )
        if verdict.verdict is Verdict.FOREIGN:
            return self._distrust(verdict.problem, executor)
        if found is None:
            return False
        if found.engaged and found.seq < self.journal.known_seq:
            # Engaged, but an old copy (or re-created after a delete): lift its seq above what
            # we have seen, or a later CLI reset would carry a seq that looks replayed.
            self.journal.record(
                "system",
                "latch_rewritten",
                reason=f"engaged latch with an old seq {found.seq} (seen {self.journal.known_seq})",
                details={"file": self._latch.raw_text()},
            )
            self.journal.mark("latch")
        self.journal.seen(found)
        if verdict.verdict is Verdict.ENGAGE:
            self._adopt(found, executor)
            return True
        if verdict.verdict is Verdict.RESET:
            self.kill = found
            who = found.last_reset.actor if found.last_reset else "cli"
            why = found.last_reset.reason if found.last_reset else "reset from the command line"
            self.journal.record(
                who,
                "kill_switch_reset_applied",
                reason=why,
                outcome="released",
                details={"latch_seq": found.seq, "source": "latch file (cli)"},
            )
            self._after_reset(who, why, source="cli")
            return True
        self._persist(executor)
        return False

    def _adopt(self, found: LatchState, executor: Executor | None) -> None:
        """Apply an engage made outside (the CLI): same effects and records as our own."""
        self.kill = found
        self.journal.mark("kv")
        cancelled, outcomes = self._take_effect(found, executor)
        self.journal.record(
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
        self.journal.mark("latch", "kv")
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
        self.journal.record(
            "system",
            "latch_untrusted",
            reason=problem,
            outcome="HALTED",
            details={"file": self._latch.raw_text(), "known_seq": self.journal.known_seq},
        )
        self._bus.publish("risk_limit", {"code": "FAIL_CLOSED", "message": problem})
        self._persist(executor)
        if newly:
            self._publish_activated(self.kill, cancelled)
        return True

    def _persist(self, executor: Executor | None) -> bool:
        """Save memory's state; adopt a higher latch found on the way. True: problem cleared."""
        written, cleared = self.journal.flush(self.kill, self.flatten_pending, self.board)
        if written is not None:
            if LEVEL_RANK[written.level] > LEVEL_RANK[self.kill.level]:
                self._adopt(written, executor)  # a CLI engage landed first, at a higher level
            else:
                self.kill = written
        return cleared
