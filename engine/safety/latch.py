"""The kill switch latch file: atomic, checksummed, flock-guarded, readable with the server down."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.models import KillLevel

SCHEMA_VERSION = 1

# Escalation order: a request at or below the engaged level changes nothing.
LEVEL_RANK: dict[KillLevel, int] = {KillLevel.PAUSE: 1, KillLevel.HALT: 2, KillLevel.FLATTEN: 3}

_BODY_KEYS = frozenset(
    {"version", "engaged", "level", "reason", "actor", "since", "seq", "last_reset"}
)
_SEQ_PATTERN = re.compile(r'"seq"\s*:\s*(\d+)')


class LatchCorrupt(Exception):
    """The latch file exists but cannot be trusted; callers must treat this as HALTED."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"kill switch latch {path} is corrupt: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class LastReset:
    actor: str
    reason: str
    at: float  # epoch seconds

    def to_dict(self) -> dict[str, Any]:
        return {"actor": self.actor, "reason": self.reason, "at": round(self.at * 1000)}


@dataclass(frozen=True)
class LatchState:
    engaged: bool
    level: KillLevel | None
    reason: str
    actor: str
    since: float | None  # epoch seconds
    seq: int
    last_reset: LastReset | None = None

    def to_dict(self) -> dict[str, Any]:
        """The `kill_switch` object of docs/EVENTS.md (since in epoch ms)."""
        if not self.engaged:
            return {"engaged": False, "level": None, "reason": None, "actor": None, "since": None}
        return {
            "engaged": True,
            "level": self.level.value if self.level else None,
            "reason": self.reason,
            "actor": self.actor,
            "since": round(self.since * 1000) if self.since is not None else None,
        }


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _checksum(body: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(body)).hexdigest()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _state_to_body(state: LatchState) -> dict[str, Any]:
    return {
        "version": SCHEMA_VERSION,
        "engaged": state.engaged,
        "level": state.level.value if state.level else None,
        "reason": state.reason,
        "actor": state.actor,
        "since": state.since,
        "seq": state.seq,
        "last_reset": (
            {"actor": r.actor, "reason": r.reason, "at": r.at}
            if (r := state.last_reset) is not None
            else None
        ),
    }


def _body_to_state(body: object) -> LatchState:
    """Validate the schema strictly; raise ValueError naming the first problem."""
    if not isinstance(body, dict):
        raise ValueError("body is not an object")
    if set(body) != _BODY_KEYS:
        raise ValueError(f"unexpected fields {sorted(set(body) ^ _BODY_KEYS)}")
    if body["version"] != SCHEMA_VERSION:
        raise ValueError(f"unsupported version {body['version']!r}")
    engaged = body["engaged"]
    if not isinstance(engaged, bool):
        raise ValueError("engaged is not a boolean")
    seq = body["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValueError("seq is not a non-negative integer")
    if not isinstance(body["reason"], str) or not isinstance(body["actor"], str):
        raise ValueError("reason and actor must be strings")
    level: KillLevel | None = None
    if engaged:
        try:
            level = KillLevel(body["level"])
        except ValueError:
            raise ValueError(f"unknown level {body['level']!r}") from None
        if not _is_number(body["since"]):
            raise ValueError("an engaged latch needs a numeric since")
    elif body["level"] is not None or body["since"] is not None:
        raise ValueError("a released latch carries a level or since")
    last_reset: LastReset | None = None
    raw_reset = body["last_reset"]
    if raw_reset is not None:
        if (
            not isinstance(raw_reset, dict)
            or set(raw_reset) != {"actor", "reason", "at"}
            or not isinstance(raw_reset["actor"], str)
            or not isinstance(raw_reset["reason"], str)
            or not _is_number(raw_reset["at"])
        ):
            raise ValueError("last_reset is malformed")
        last_reset = LastReset(raw_reset["actor"], raw_reset["reason"], float(raw_reset["at"]))
    return LatchState(
        engaged=engaged,
        level=level,
        reason=body["reason"],
        actor=body["actor"],
        since=float(body["since"]) if engaged else None,
        seq=seq,
        last_reset=last_reset,
    )


class KillSwitchLatch:
    """One latch file shared by every process; writers serialise on a sibling lock file.

    Readers take no lock: every write lands with os.replace, so a reader sees either the old
    file or the new one, never a mixture.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        # The file's stat signature as this object's last engage/reset left it, taken under
        # the lock: a poller that compared against a stat taken after the lock was released
        # could miss another process's write landing in between.
        self.last_signature: tuple[int, ...] | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def stat_signature(self) -> tuple[int, ...] | None:
        """(mtime_ns, size, inode) for cheap change polling; None when the file is missing.

        Every write replaces the inode, so a change shows even within one mtime tick. A stat
        failure other than "missing" gives (-1, errno) so a poller re-reads and meets the error.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return (-1, exc.errno or 0)
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def read(self) -> LatchState:
        """The latch as a released state when the file is missing (what the CLI shows).

        The server must not trust that reading: it uses load(), where missing is None.
        """
        state = self.load()
        return LatchState(False, None, "", "", None, 0) if state is None else state

    def load(self) -> LatchState | None:
        """The latch, or None when there is no file; LatchCorrupt when it cannot be trusted."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LatchCorrupt(self.path, f"unreadable ({exc.strerror or exc})") from exc
        return self._parse(raw)

    def raw_text(self, limit: int = 2000) -> str:
        """The file's first bytes as text, for an audit row about a file we refuse to trust."""
        try:
            with self.path.open("rb") as handle:
                return handle.read(limit).decode("utf-8", errors="replace")
        except OSError as exc:
            return f"<{exc.strerror or exc}>"

    def engage(
        self, level: KillLevel, reason: str, actor: str, now: float, *, seq_floor: int = 0
    ) -> tuple[LatchState, bool]:
        """Engage or escalate; (state, changed). Always allowed, even over a corrupt file.

        `seq_floor`: the highest seq the caller has seen, so a latch rewritten after the file
        was deleted never goes back to a seq an old copy (or an old reset record) carries. An
        engaged file below it (an old copy put back) is rewritten as it is, with a new seq.
        """
        level = KillLevel(level)
        with self._locked():
            current, seq, last_reset = self._read_for_write()
            if (
                current is not None
                and current.engaged
                and current.level is not None
                and LEVEL_RANK[current.level] >= LEVEL_RANK[level]
            ):
                if current.seq >= seq_floor:
                    return current, False
                lifted = dataclasses.replace(current, seq=seq_floor + 1)
                self._write(lifted)
                return lifted, False
            seq = max(seq, seq_floor)
            state = LatchState(True, level, reason, actor, float(now), seq + 1, last_reset)
            self._write(state)
            return state, True

    def reset(
        self,
        actor: str,
        reason: str,
        now: float,
        *,
        before_write: Callable[[int], None] | None = None,
    ) -> LatchState:
        """Release the latch; authorisation is the caller's job, this only records who and why.

        `before_write(seq)` runs under the lock before the file changes, with the seq the
        released latch will carry: the caller records the reset there (an audit row), so a
        server that sees the released file can always find the record (engine/safety/trust.py).
        If it raises, nothing is written.
        """
        with self._locked():
            _, seq, _ = self._read_for_write()
            state = LatchState(
                False, None, "", "", None, seq + 1, LastReset(actor, reason, float(now))
            )
            if before_write is not None:
                before_write(state.seq)
            self._write(state)
            return state

    def _parse(self, raw: bytes) -> LatchState:
        if not raw.strip():
            raise LatchCorrupt(self.path, "empty file")
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise LatchCorrupt(self.path, f"not valid JSON ({exc})") from None
        if not isinstance(doc, dict) or set(doc) != {"body", "sha256"}:
            raise LatchCorrupt(self.path, "expected an object with 'body' and 'sha256'")
        body = doc["body"]
        try:
            expected = _checksum(body)
        except (TypeError, ValueError) as exc:
            raise LatchCorrupt(self.path, f"body cannot be canonicalised ({exc})") from None
        if doc["sha256"] != expected:
            raise LatchCorrupt(self.path, "checksum mismatch (truncated or edited)")
        try:
            return _body_to_state(body)
        except ValueError as exc:
            raise LatchCorrupt(self.path, f"wrong schema: {exc}") from None

    def _read_for_write(self) -> tuple[LatchState | None, int, LastReset | None]:
        """Current state (None if corrupt), the seq to build on, and the reset record to keep."""
        try:
            current = self.read()
        except LatchCorrupt:
            # Salvage the counter so pollers comparing seq still notice the repair.
            try:
                text = self.path.read_bytes().decode("utf-8", errors="replace")
            except OSError:
                text = ""
            seqs = [int(m) for m in _SEQ_PATTERN.findall(text)]
            return None, max(seqs, default=0), None
        return current, current.seq, current.last_reset

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # flock (not lockf) because its locks belong to the open file description, so two
        # threads of one process exclude each other as well as two processes do.
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
                self.last_signature = self.stat_signature()
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _write(self, state: LatchState) -> None:
        body = _state_to_body(state)
        doc = {"body": body, "sha256": _checksum(body)}
        data = (json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()
        directory = self.path.parent
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        # The rename is only durable once the directory entry itself reaches the disk.
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
