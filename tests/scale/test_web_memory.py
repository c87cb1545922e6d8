"""A web process over Redis (gunicorn's gevent worker) keeps nothing for pages and requests
that have gone: each is served on a greenlet that ends, and what it opened must go with it.

Before, every such greenlet left its SQLite connections open for the life of the process
(engine/store/connections.py judged a thread's end by `Thread.is_alive()`, which a greenlet's
dummy thread never stops answering True): file descriptors and memory rose with every page
and request (the one-hour soak's RSS rise, docs/BENCHMARKS.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import wait_until
from tests.scale.clients import PageClient
from tests.scale.processes import EngineProcess, RedisServer
from tests.server_process import ServerProcess

pytestmark = pytest.mark.slow

CYCLES = 30
SLACK = 12  # descriptors of greenlets still ending (a page's socket closes asynchronously)


def worker_pid(web: ServerProcess) -> int:
    assert web.proc is not None
    master = web.proc.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1, children  # VIGIL_WEB_WORKERS=1
    return int(children[0])


def db_handles(pid: int, db: Path) -> int:
    """The worker's file descriptors on the database (its -wal and -shm files included)."""
    prefix = str(db.resolve())
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if str(fd.readlink()).startswith(prefix):
                count += 1
        except OSError:
            continue
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_pages_and_requests_come_and_go_then_the_web_process_keeps_no_connection_for_them(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "var"
    url = redis_server.url
    engine = EngineProcess(data_dir, VIGIL_REDIS_URL=url, VIGIL_STRATEGY="none").start()
    web = ServerProcess(data_dir, VIGIL_REDIS_URL=url, VIGIL_WEB_WORKERS="1").start()
    try:
        assert "Using worker: gevent" in web.output()
        session = web.login()
        pid, db = worker_pid(web), data_dir / "vigil.sqlite3"

        def request() -> None:
            # A new TCP connection each time: gunicorn serves it on a new greenlet.
            answer = session.get(
                f"{web.url}/api/state", headers={"Connection": "close"}, timeout=10
            )
            assert answer.status_code == 200, answer.text

        def visit() -> None:
            page = PageClient(web, session).connect()
            try:
                page.wait_for("initial_state")
            finally:
                page.close()

        visit()
        request()
        before = db_handles(pid, db)
        for _ in range(CYCLES):
            visit()
            request()

        seen: list[int] = []

        def settled() -> bool:
            request()  # a greenlet's first use of a store closes those of the ended ones
            seen.append(db_handles(pid, db))
            return seen[-1] <= before + SLACK

        try:
            wait_until(settled, 20, "the worker's database handles")
        except AssertionError:
            raise AssertionError(
                f"{seen[-1]} handles on the database after {CYCLES} pages and requests "
                f"came and went ({before} before)"
            ) from None
    finally:
        web.stop()
        engine.stop()
