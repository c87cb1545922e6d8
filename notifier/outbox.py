"""The alert outbox: every alert is on disk before it is sent, so a restart loses none."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from engine.store.connections import SqliteConnections
from notifier.alerts import Alert

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, kind TEXT NOT NULL,
        title TEXT NOT NULL, message TEXT NOT NULL, priority INTEGER NOT NULL,
        sound TEXT, url TEXT, created_ts INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS alerts_key ON alerts (key, created_ts)",
    """CREATE TABLE IF NOT EXISTS deliveries (
        alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
        channel TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, updated_ts INTEGER NOT NULL,
        PRIMARY KEY (alert_id, channel))""",
    "CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (state)",
)


class Outbox:
    """One SQLite file of its own (WAL, synchronous=FULL), a connection per thread using it."""

    def __init__(self, path: Path | str, *, clock_ms: Callable[[], int] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._now_ms = clock_ms or (lambda: int(time.time() * 1000))
        # FULL: a crash right after "written" must not lose the alert that says why it crashed.
        self._db = SqliteConnections(
            self.path, ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON"), timeout=10
        )
        with self._db.write() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    @property
    def _conn(self) -> sqlite3.Connection:
        """The calling thread's connection."""
        return self._db.get()

    def close(self) -> None:
        self._db.close()

    def add(self, alert: Alert, channels: Iterable[str]) -> int:
        """Store `alert` as pending on each of `channels`; returns its id."""
        now = self._now_ms()
        with self._db.write() as conn:
            cursor = conn.execute(
                "INSERT INTO alerts (key, kind, title, message, priority, sound, url, created_ts)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    alert.key,
                    alert.kind,
                    alert.title,
                    alert.message,
                    alert.priority,
                    alert.sound,
                    alert.url,
                    alert.created_ts,
                ),
            )
            alert_id = int(cursor.lastrowid or 0)
            conn.executemany(
                "INSERT INTO deliveries (alert_id, channel, state, updated_ts)"
                " VALUES (?, ?, 'pending', ?)",
                [(alert_id, channel, now) for channel in channels],
            )
        return alert_id

    def record(
        self,
        alert_id: int,
        channel: str,
        *,
        delivered: bool,
        error: str | None = None,
        final: bool = True,
    ) -> None:
        """One attempt's outcome: delivered, failed for good, or still pending a retry."""
        state = "delivered" if delivered else ("failed" if final else "pending")
        with self._db.write() as conn:
            conn.execute(
                "UPDATE deliveries SET state = ?, attempts = attempts + 1, last_error = ?,"
                " updated_ts = ? WHERE alert_id = ? AND channel = ?",
                (state, None if delivered else error, self._now_ms(), alert_id, channel),
            )

    def undelivered(self) -> list[tuple[int, Alert, list[str]]]:
        """Alerts with at least one channel not yet delivered, oldest first, and those channels."""
        rows = self._conn.execute(
            "SELECT a.id, a.key, a.kind, a.title, a.message, a.priority, a.sound, a.url,"
            " a.created_ts, d.channel FROM alerts a JOIN deliveries d ON d.alert_id = a.id"
            " WHERE d.state != 'delivered' ORDER BY a.id, d.channel"
        ).fetchall()
        found: dict[int, tuple[Alert, list[str]]] = {}
        for alert_id, key, kind, title, message, priority, sound, url, created, channel in rows:
            if alert_id not in found:
                alert = Alert(
                    key=key,
                    title=title,
                    message=message,
                    priority=priority,
                    sound=sound,
                    created_ts=created,
                    url=url,
                    kind=kind,
                )
                found[alert_id] = (alert, [])
            found[alert_id][1].append(channel)
        return [(alert_id, alert, chans) for alert_id, (alert, chans) in found.items()]

    def deliveries(self, alert_id: int) -> dict[str, tuple[str, int, str | None]]:
        """channel -> (state, attempts, last_error) for one alert."""
        rows = self._conn.execute(
            "SELECT channel, state, attempts, last_error FROM deliveries WHERE alert_id = ?",
            (alert_id,),
        ).fetchall()
        return {channel: (state, attempts, error) for channel, state, attempts, error in rows}

    def counts(self) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT state, COUNT(*) FROM deliveries GROUP BY state"
        ).fetchall()
        counts = {"pending": 0, "delivered": 0, "failed": 0}
        counts.update({state: n for state, n in rows})
        return counts

    def recent_keys(self, since_ms: int) -> dict[str, int]:
        """key -> newest created_ts of alerts raised since `since_ms` (seeds duplicate checks)."""
        rows = self._conn.execute(
            "SELECT key, MAX(created_ts) FROM alerts WHERE created_ts >= ? GROUP BY key",
            (since_ms,),
        ).fetchall()
        return {key: int(ts) for key, ts in rows}

    def prune(self, before_ms: int) -> int:
        """Drop alerts older than `before_ms` that reached every channel; returns how many."""
        with self._db.write() as conn:
            cursor = conn.execute(
                "DELETE FROM alerts WHERE created_ts < ? AND NOT EXISTS ("
                " SELECT 1 FROM deliveries d WHERE d.alert_id = alerts.id"
                " AND d.state != 'delivered')",
                (before_ms,),
            )
        return cursor.rowcount
