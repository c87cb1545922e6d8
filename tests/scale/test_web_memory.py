"""A web process over Redis (gunicorn's gevent worker) keeps nothing for pages and requests
that have gone, and no database connection for an open page: each page and request is served
on a greenlet, and what it opened must not outlive its use.

Before, every such greenlet left its SQLite connections open for the life of the process
(engine/store/connections.py judged a thread's end by `Thread.is_alive()`, which a greenlet's
dummy thread never stops answering True): descriptors and memory rose with every page and
request (the one-hour soak's RSS rise, docs/BENCHMARKS.md). And an open page's greenlet kept
the connections its session check opened for as long as the page stayed open.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from engine.users import UserStore
from tests.conftest import wait_until
from tests.scale.clients import PageClient
from tests.scale.processes import EngineProcess, RedisServer, stop_all
from tests.server_process import ServerProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc"),
]

CYCLES = 30
PAGES = 20
SLACK = 12  # descriptors of greenlets still ending (a page's socket closes asynchronously)
VIEWER = ("viewer", "web-memory-viewer-password")


@dataclass
class Web:
    server: ServerProcess
    session: requests.Session
    pid: int  # the gevent worker
    db: Path

    def handles(self) -> int:
        """The worker's file descriptors on the database (its -wal and -shm files included)."""
        prefix = str(self.db.resolve())
        count = 0
        for fd in Path(f"/proc/{self.pid}/fd").iterdir():
            try:
                if str(fd.readlink()).startswith(prefix):
                    count += 1
            except OSError:
                continue
        return count

    def request(self) -> None:
        # A new TCP connection each time: gunicorn serves it on a new greenlet.
        answer = self.session.get(
            f"{self.server.url}/api/state", headers={"Connection": "close"}, timeout=10
        )
        assert answer.status_code == 200, answer.text

    def page(self) -> PageClient:
        page = PageClient(self.server, self.session).connect()
        page.wait_for("initial_state")
        return page

    def settle(self, at_most: int, what: str) -> None:
        seen: list[int] = []

        def settled() -> bool:
            self.request()  # a greenlet's first use of a store closes those of the ended ones
            seen.append(self.handles())
            return seen[-1] <= at_most

        try:
            wait_until(settled, 20, "the worker's database handles")
        except AssertionError:
            raise AssertionError(f"{seen[-1]} handles on the database {what}") from None


def worker_pid(web: ServerProcess) -> int:
    assert web.proc is not None
    master = web.proc.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1, children  # VIGIL_WEB_WORKERS=1
    return int(children[0])


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    root = tmp_path_factory.mktemp("web-memory")
    data_dir = root / "var"
    redis_server = RedisServer(root / "redis").start()
    engine: EngineProcess | None = None
    server: ServerProcess | None = None
    try:
        url = redis_server.url
        engine = EngineProcess(data_dir, VIGIL_REDIS_URL=url, VIGIL_STRATEGY="none").start()
        server = ServerProcess(
            data_dir,
            VIGIL_REDIS_URL=url,
            VIGIL_WEB_WORKERS="1",
            VIGIL_MAX_CONNECTIONS_PER_IP="64",  # every test page comes from 127.0.0.1
        ).start()
        assert "Using worker: gevent" in server.output()
        found = Web(server, server.login(), worker_pid(server), data_dir / "vigil.sqlite3")
        found.page().close()
        found.request()
        yield found
    finally:
        stop_all([server] if server is not None else [], engine, redis_server)


def test_pages_and_requests_come_and_go_then_the_web_process_keeps_no_connection_for_them(
    web: Web,
) -> None:
    before = web.handles()
    for _ in range(CYCLES):
        web.page().close()
        web.request()
    web.settle(before + SLACK, f"after {CYCLES} pages and requests came and went ({before} before)")


def test_pages_open_then_they_hold_no_database_connection(web: Web) -> None:
    # An account of their own: the previous test's pages spent the admin's connect budget.
    UserStore(web.db).add(*VIEWER, "viewer")
    web.session = web.server.login(*VIEWER)
    before = web.handles()
    pages = [web.page() for _ in range(PAGES)]
    try:
        web.settle(before + SLACK, f"with {PAGES} pages open ({before} before)")
        for page in pages:  # and they are live
            page.wait_new("quote_update", page.count("quote_update"))
    finally:
        for page in pages:
            page.close()
