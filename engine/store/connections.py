"""SqliteConnections: Vigil's one way to reach a SQLite file, a connection per thread, reused.

Werkzeug serves each request on a fresh thread, and opening a connection per call costs a
file open, a WAL index mapping and the pragmas every time. Here each thread keeps its own
connection for as long as it lives; the connections of threads that have ended are closed
the next time any thread connects, and `close()` closes them all.

A thread's end is seen through its thread-local storage going away, not `Thread.is_alive()`:
a greenlet of gunicorn's gevent worker (the web processes over Redis) or a thread threading
did not start is a `_DummyThread` that says it is alive for ever, so each request left its
connection (a file descriptor, the WAL index mapping, SQLite's page and statement caches)
open for the life of the process: the web processes' slow RSS rise in the soak.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


class StoreError(RuntimeError):
    """The database cannot be used safely: closed, not in WAL mode, or from a newer Vigil."""


class _Owner:
    """Kept in the opening thread's (or greenlet's) local storage only: it is freed when that
    storage is, i.e. when the thread or greenlet has ended."""

    __slots__ = ("__weakref__",)


_EVERY: weakref.WeakSet[SqliteConnections] = weakref.WeakSet()
_EVERY_LOCK = threading.Lock()  # a set must not change while another thread copies it


def release_thread_connections() -> int:
    """Close the calling thread's (or greenlet's) connections to every file; how many.

    For a thread that used the stores once and then lives on without them: a page's websocket
    greenlet reads the session at its start and then holds the socket for hours, and would
    otherwise hold two connections (~120 KiB and 2 descriptors each) all that time. A later
    use opens a new one.
    """
    with _EVERY_LOCK:
        every = list(_EVERY)
    return sum(db.release() for db in every)


class SqliteConnections:
    """Connections to one SQLite file in autocommit mode; writes go through `write()`.

    `pragmas` run on every new connection (e.g. "synchronous = FULL"); `rows` returns
    sqlite3.Row instead of tuples. Connections are opened with check_same_thread=False only
    so that `close()` and the reaping of ended threads may close them; each is otherwise used
    by the thread that opened it.
    """

    def __init__(
        self,
        path: Path | str,
        pragmas: Sequence[str] = (),
        *,
        rows: bool = False,
        timeout: float = 5.0,
    ) -> None:
        self.path = Path(path)
        self._pragmas = tuple(pragmas)
        self._rows = rows
        self._timeout = timeout
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._registry_lock = threading.Lock()
        self._open: list[tuple[weakref.ref[_Owner], sqlite3.Connection]] = []
        self._closed = False
        with _EVERY_LOCK:
            _EVERY.add(self)

    def _new(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            str(self.path), timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        try:
            if self._rows:
                conn.row_factory = sqlite3.Row
            for pragma in self._pragmas:
                conn.execute(f"PRAGMA {pragma}")
        except BaseException:
            conn.close()
            raise
        return conn

    def get(self) -> sqlite3.Connection:
        """The calling thread's connection, opened on its first use; StoreError once closed."""
        if self._closed:
            raise StoreError(f"{self.path}: store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._registry_lock:
            if self._closed:
                raise StoreError(f"{self.path}: store is closed")
            alive = []
            for owner, old in self._open:
                if owner() is not None:
                    alive.append((owner, old))
                else:
                    old.close()  # so file descriptors do not pile up, one per past request
            self._open = alive
            conn = self._new()
            owner = _Owner()
            self._open.append((weakref.ref(owner), conn))
        self._local.conn, self._local.owner = conn, owner
        return conn

    def release(self) -> bool:
        """Close the calling thread's connection now (outside a transaction); False when it
        had none."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            return False
        with self._registry_lock:
            self._open = [(owner, c) for owner, c in self._open if c is not conn]
        del self._local.conn, self._local.owner
        conn.close()
        return True

    def open_count(self) -> int:
        """How many connections are open now (ended threads' ones until they are reaped)."""
        with self._registry_lock:
            return len(self._open)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on this thread's connection: all of it commits or none.

        Writes through this object are serialised by a lock; IMMEDIATE takes SQLite's write
        lock up front, so another process (the kill-switch CLI) waits on the busy timeout
        instead of failing half-way through a transaction.
        """
        conn = self.get()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # Also after a failed COMMIT (disk full), or the next BEGIN would fail too.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close every thread's connection; later calls raise StoreError."""
        with self._registry_lock:
            self._closed = True
            connections, self._open = self._open, []
        for _owner, conn in connections:
            conn.close()
