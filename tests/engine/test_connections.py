"""SqliteConnections: one connection per thread, reused, closed for ended threads and on close()."""

from __future__ import annotations

import _thread
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine.store.connections import SqliteConnections, StoreError, release_thread_connections
from tests.conftest import wait_until
from tests.engine.test_store import open_handles

ROOT = Path(__file__).resolve().parents[2]


def in_thread(target: object) -> None:
    thread = threading.Thread(target=target)  # type: ignore[arg-type]
    thread.start()
    thread.join(10)
    assert not thread.is_alive()


@contextmanager
def held_elsewhere(db: SqliteConnections) -> Iterator[sqlite3.Connection]:
    """Another thread's connection to `db`, that thread alive until the block ends."""
    theirs: list[sqlite3.Connection] = []
    release, opened = threading.Event(), threading.Event()

    def hold() -> None:
        theirs.append(db.get())
        opened.set()
        release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert opened.wait(10)
        yield theirs[0]
    finally:
        release.set()
        thread.join(10)


@pytest.fixture
def conns(tmp_path: Path) -> SqliteConnections:
    db = SqliteConnections(tmp_path / "c.sqlite3", ("journal_mode = WAL",))
    with db.write() as conn:
        conn.execute("CREATE TABLE t (x INTEGER NOT NULL)")
    return db


def test_same_thread_then_same_connection(conns: SqliteConnections) -> None:
    assert conns.get() is conns.get()
    with conns.write() as conn:
        assert conn is conns.get()


def test_other_thread_then_other_connection(conns: SqliteConnections) -> None:
    mine = conns.get()
    theirs: list[sqlite3.Connection] = []
    in_thread(lambda: theirs.append(conns.get()))
    assert len(theirs) == 1 and theirs[0] is not mine


def test_pragmas_and_rows_then_applied_to_every_connection(tmp_path: Path) -> None:
    db = SqliteConnections(tmp_path / "p.sqlite3", ("foreign_keys = ON",), rows=True)
    seen: list[tuple[int, type]] = []

    def look() -> None:
        conn = db.get()
        row = conn.execute("PRAGMA foreign_keys").fetchone()
        seen.append((row[0], type(row)))

    look()
    in_thread(look)
    assert seen == [(1, sqlite3.Row), (1, sqlite3.Row)]
    db.close()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_many_request_threads_then_no_descriptor_leak(
    conns: SqliteConnections, tmp_path: Path
) -> None:
    path = tmp_path / "c.sqlite3"
    conns.get()
    before = open_handles(path)
    answers: list[int] = []

    def request() -> None:
        answers.append(conns.get().execute("SELECT COUNT(*) FROM t").fetchone()[0])

    for _ in range(50):
        in_thread(request)
    assert answers == [0] * 50
    # The ended threads' connections are closed as the next one opens: at most one is left.
    assert open_handles(path) <= before + 1
    assert conns.open_count() <= 2
    conns.close()
    assert open_handles(path) == 0


def test_close_then_every_connection_closed_and_later_use_refused(
    conns: SqliteConnections,
) -> None:
    mine = conns.get()
    with held_elsewhere(conns) as theirs:
        conns.close()
    for conn in (mine, theirs):
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")
    with pytest.raises(StoreError, match="closed"):
        conns.get()
    with pytest.raises(StoreError, match="closed"), conns.write():
        pass


def test_write_when_block_fails_then_rolled_back_and_next_write_works(
    conns: SqliteConnections,
) -> None:
    with pytest.raises(RuntimeError), conns.write() as conn:
        conn.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("half-way")
    assert not conns.get().in_transaction
    with pytest.raises(sqlite3.IntegrityError), conns.write() as conn:
        conn.execute("INSERT INTO t VALUES (2)")
        conn.execute("INSERT INTO t VALUES (NULL)")
    with conns.write() as conn:
        conn.execute("INSERT INTO t VALUES (3)")
    assert conns.get().execute("SELECT x FROM t").fetchall() == [(3,)]


def test_write_when_commit_fails_then_rolled_back_and_next_write_works(
    conns: SqliteConnections,
) -> None:
    with conns.write() as conn:
        conn.execute(
            "CREATE TABLE child (p INTEGER REFERENCES t (x) DEFERRABLE INITIALLY DEFERRED)"
        )
        conn.execute("CREATE UNIQUE INDEX t_x ON t (x)")
    conns.get().execute("PRAGMA foreign_keys = ON")
    # A deferred foreign key is checked at COMMIT: the COMMIT itself fails.
    with pytest.raises(sqlite3.IntegrityError), conns.write() as conn:
        conn.execute("INSERT INTO child VALUES (42)")
    assert not conns.get().in_transaction
    assert conns.get().execute("SELECT COUNT(*) FROM child").fetchone()[0] == 0
    with conns.write() as conn:
        conn.execute("INSERT INTO t VALUES (42)")
        conn.execute("INSERT INTO child VALUES (42)")
    assert conns.get().execute("SELECT p FROM child").fetchall() == [(42,)]


def test_writes_from_many_threads_then_all_land(conns: SqliteConnections) -> None:
    def writer(base: int) -> None:
        for i in range(20):
            with conns.write() as conn:
                conn.execute("INSERT INTO t VALUES (?)", (base + i,))

    threads = [threading.Thread(target=writer, args=(n * 100,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert conns.get().execute("SELECT COUNT(DISTINCT x) FROM t").fetchone()[0] == 80


def test_threads_not_started_by_threading_then_their_connections_reaped(
    conns: SqliteConnections,
) -> None:
    """A thread that threading did not start (a C extension's, or gevent's greenlet) is a
    _DummyThread to threading.current_thread(), and says it is alive for ever after it ended:
    its connection must still be closed once it has gone."""
    conns.get()
    for _ in range(30):
        done = threading.Event()

        def request(done: threading.Event = done) -> None:
            conns.get().execute("SELECT COUNT(*) FROM t").fetchone()
            done.set()

        _thread.start_new_thread(request, ())
        assert done.wait(10)

    def reaped() -> bool:
        in_thread(conns.get)  # a new connection reaps those of the threads that have ended
        return conns.open_count() <= 3

    wait_until(reaped, 10, "the ended threads' connections closed")


GREENLET_REQUESTS = """
import sys
from gevent import monkey

monkey.patch_all()
import gevent

from engine.store.connections import SqliteConnections

conns = SqliteConnections(sys.argv[1], ("journal_mode = WAL",))
conns.get().execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")


def request():
    conns.get().execute("SELECT COUNT(*) FROM t").fetchone()


# As gunicorn's gevent worker serves requests: one greenlet each, one after another.
for _ in range(200):
    gevent.spawn(request).join()
print(conns.open_count())
"""


def test_greenlet_per_request_then_connections_do_not_pile_up(tmp_path: Path) -> None:
    """The web process over Redis (gunicorn's gevent worker) serves each request on a greenlet
    that then ends; before, each one left its connection open for the process's life."""
    pytest.importorskip("gevent")
    script = tmp_path / "greenlets.py"
    script.write_text(GREENLET_REQUESTS)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "g.sqlite3")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) <= 3


def test_release_then_this_threads_connections_closed_and_reopened_on_use(
    tmp_path: Path,
) -> None:
    """A page's socket thread reads the session once and lives on: it lets its connections go."""
    first = SqliteConnections(tmp_path / "a.sqlite3", ("journal_mode = WAL",))
    second = SqliteConnections(tmp_path / "b.sqlite3", ("journal_mode = WAL",))
    try:
        with held_elsewhere(first) as theirs:
            mine = [first.get(), second.get()]
            # Every store's (other tests' stores too, when they have one on this thread).
            assert release_thread_connections() >= 2
            for conn in mine:
                with pytest.raises(sqlite3.ProgrammingError):
                    conn.execute("SELECT 1")
            assert theirs.execute("SELECT 1").fetchone() == (1,)  # another thread's: untouched
            assert first.open_count() == 1 and second.open_count() == 0
            assert first.release() is False and second.release() is False
            assert first.get().execute("SELECT 1").fetchone() == (1,)  # a later use opens anew
    finally:
        first.close()
        second.close()
