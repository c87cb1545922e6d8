"""The store's schema upgrades: one step per version, a backup first, all steps in one transaction.

`STEPS[n - 1]` turns a version-n database into a version-n+1 one, so `SCHEMA_VERSION` is
`len(STEPS) + 1`. A step gets the connection inside the caller's IMMEDIATE transaction and
must use only transactional statements (ALTER TABLE ... ADD COLUMN, CREATE, UPDATE): if any
step raises, the transaction rolls back and the database is exactly as it was. A step is
never edited once released; a new change of schema is a new step at the end.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

Step = Callable[[sqlite3.Connection], None]


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    # The venue's own id for an order, next to ours (issue #10): '' for every older order,
    # which no venue ever saw under another id.
    conn.execute("ALTER TABLE orders ADD COLUMN venue_order_id TEXT NOT NULL DEFAULT ''")


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    # Why each trade closed (issue #14): '' for older trades, whose reason was never recorded.
    conn.execute("ALTER TABLE trades ADD COLUMN exit_reason TEXT NOT NULL DEFAULT ''")


STEPS: tuple[Step, ...] = (_v1_to_v2, _v2_to_v3)
SCHEMA_VERSION = len(STEPS) + 1


class MigrationError(RuntimeError):
    """The database cannot be brought to this Vigil's schema; it was left as it was."""


@dataclass(frozen=True)
class Migration:
    """What an upgrade at open did: from which version to which, and where the backup is."""

    from_version: int
    to_version: int
    backup: Path

    def describe(self) -> str:
        return (
            f"store upgraded from schema v{self.from_version} to v{self.to_version}; "
            f"backup of the old database: {self.backup}"
        )


def read_version(conn: sqlite3.Connection, path: Path) -> int:
    """The version in `meta`, or 0 for a database Vigil has never written (no tables)."""
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        has_orders = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'orders'"
        ).fetchone()
        if has_orders:
            raise MigrationError(
                f"{path}: holds Vigil tables but no schema version; refusing to guess"
            )
        return 0
    try:
        found = int(str(row[0]))
    except ValueError:
        raise MigrationError(
            f"{path}: schema version {row[0]!r} is not a number; refusing to open it"
        ) from None
    if found < 1:
        raise MigrationError(f"{path}: schema version {found} is not valid; refusing to open it")
    return found


def backup_path(db_path: Path, version: int, now: float) -> Path:
    """A new file next to the database; an older backup is never overwritten."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    base = db_path.with_name(f"{db_path.name}.v{version}-{stamp}")
    candidate, n = base.with_name(base.name + ".bak"), 1
    while candidate.exists():
        candidate, n = base.with_name(f"{base.name}-{n}.bak"), n + 1
    return candidate


def take_backup(db_path: Path, version: int, now: float) -> Path:
    """Copy the database with SQLite's online backup API, through its own read connection.

    The caller holds the write lock (BEGIN IMMEDIATE) on another connection, so the copy is
    exactly the database the steps will start from. The file is created with O_EXCL: two
    starts in the same second cannot write over each other's backup.
    """
    while True:
        target = backup_path(db_path, version, now)
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            break
        except FileExistsError:
            continue
    source = sqlite3.connect(str(db_path), timeout=5.0)
    try:
        dest = sqlite3.connect(str(target))
        try:
            source.backup(dest)
            check = dest.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            dest.close()
    finally:
        source.close()
    if check != "ok":
        raise MigrationError(f"{target}: the backup does not check out ({check}); not migrating")
    return target


def migrate(
    conn: sqlite3.Connection,
    db_path: Path,
    found: int,
    now: float,
    steps: Sequence[Step] = STEPS,
) -> Migration:
    """Back up, then run steps found..latest on `conn` (inside the caller's transaction).

    Raises MigrationError naming the step that failed; the caller rolls back, so the
    database is untouched (the backup file stays: it is a copy of that same database).
    """
    latest = len(steps) + 1
    backup = take_backup(db_path, found, now)
    log.warning("store schema v%d -> v%d: backup written to %s", found, latest, backup)
    for version in range(found, latest):
        step = steps[version - 1]
        try:
            step(conn)
        except Exception as exc:  # any failure refuses the start, in one line
            raise MigrationError(
                f"{db_path}: upgrade v{version} -> v{version + 1} failed "
                f"({type(exc).__name__}: {exc}); the database was left as it was, "
                f"backup at {backup}"
            ) from exc
    return Migration(found, latest, backup)
