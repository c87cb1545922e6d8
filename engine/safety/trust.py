"""Which latch changes made outside the server it may believe: the latch file's fault model.

The latch file (engine/safety/latch.py) is shared with the CLI, so the server re-reads it
whenever its stat signature changes. What it finds is judged against what the server knows:
its own state in memory, the store's `kill_switch.engaged` and the highest latch seq it has
seen (`known_seq`; every write of the latch raises the seq by one).

- Engaged at a higher level than in force here: an engage from outside (the CLI, or an old
  engaged copy put back). Engaging is always allowed, so it is applied at once.
- Engaged at the same level: nothing changes. An engaged file with a seq below `known_seq`
  (an old copy put back, or re-created after a delete) is rewritten above it and audited
  (`latch_rewritten`), so a later CLI reset does not look like a replay.
- Engaged at a lower level than in force here: FOREIGN. Only a reset lowers the latch.
- Released while nothing is engaged here (memory and store): nothing to do.
- Released while engaged here: believed only if it is a legitimate CLI reset, i.e. its seq is
  above `known_seq` (not an old copy) and the store's audit log holds a `kill_switch_reset`
  row whose details carry that `latch_seq`. The CLI writes that row, after checking an admin's
  password, under the latch lock and before it writes the released file, so the row is
  always there by the time any reader can see the file. If the file then cannot be written,
  a `kill_switch_reset_failed` row voids that seq (best effort). Anything else is FOREIGN: a latch
  written by hand, by a script, or restored from a backup.
- Missing while engaged here: FOREIGN (deleted). Missing while released here is the normal
  state of a fresh data directory.
- Unreadable, corrupt or with a wrong checksum: FOREIGN, whatever the state here.

FOREIGN means fail closed: the server goes HALTED (escalating a PAUSE), says why on the page,
audits it, alerts, and rewrites the latch as engaged so the CLI and the next start agree.
Only a reset (page/HTTP with an admin's password, or the CLI with one) releases it.

Not covered: someone who can write the SQLite store can also forge an audit row (or a user);
the store is the trusted record, the latch file alone is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engine.safety.latch import LEVEL_RANK, LatchState
from engine.store import Store

RESET_ACTION = "kill_switch_reset"
# Written when the latch could not be released after its reset row was: that seq is void.
RESET_FAILED_ACTION = "kill_switch_reset_failed"
# How far back to look for a reset row: the CLI writes it just before the file, so it is
# among the newest rows unless the audit log grew by this much in between.
RESET_LOOKBACK_ROWS = 2000


class Verdict(StrEnum):
    UNCHANGED = "unchanged"
    ENGAGE = "engage"
    RESET = "reset"
    FOREIGN = "foreign"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    problem: str = ""


def judge(
    found: LatchState | None,
    *,
    memory: LatchState,
    engaged_here: bool,
    known_seq: int,
    reset_recorded: bool,
) -> Judgement:
    """Judge a readable latch (None: the file is missing). A corrupt one is always FOREIGN."""
    rank_here = LEVEL_RANK[memory.level] if memory.engaged and memory.level else 0
    if found is None:
        if engaged_here:
            return Judgement(Verdict.FOREIGN, "kill switch latch file was deleted while engaged")
        return Judgement(Verdict.UNCHANGED)
    if found.engaged and found.level is not None:
        rank_found = LEVEL_RANK[found.level]
        if rank_found > rank_here:
            return Judgement(Verdict.ENGAGE)
        if rank_found < rank_here:
            return Judgement(
                Verdict.FOREIGN,
                f"kill switch latch was lowered to {found.level} outside a reset",
            )
        return Judgement(Verdict.UNCHANGED)
    if not engaged_here:
        return Judgement(Verdict.UNCHANGED)
    if found.seq <= known_seq:
        return Judgement(
            Verdict.FOREIGN,
            f"kill switch latch was replaced by an older released copy (seq {found.seq}, "
            f"expected above {known_seq})",
        )
    if not reset_recorded:
        return Judgement(
            Verdict.FOREIGN,
            f"kill switch latch was released outside a reset (no reset is recorded for "
            f"seq {found.seq})",
        )
    return Judgement(Verdict.RESET)


def reset_recorded(store: Store, seq: int) -> bool:
    """True when the audit log holds a reset row for this latch seq, not voided later."""
    for row in store.audit_log(limit=RESET_LOOKBACK_ROWS):  # newest first
        details = row.get("details") or {}
        if details.get("latch_seq") != seq:
            continue
        if row["action"] == RESET_FAILED_ACTION:
            return False
        if row["action"] == RESET_ACTION:
            return True
    return False


def void_reset(store: Store, actor: str, seq: int, why: str) -> None:
    """Best effort, after a reset row was written but the latch was not: void that seq."""
    try:
        store.audit(
            actor, RESET_FAILED_ACTION, reason=why, outcome="HALTED", details={"latch_seq": seq}
        )
    except Exception:  # noqa: BLE001 - the store is likely what failed; the latch is unchanged
        return
