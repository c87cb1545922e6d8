"""Accounts, share links and session revocations reuse one SQLite connection per thread.

Connections opened are counted with Python's own `sqlite3.connect` audit event: real SQLite,
no patching. Before, every call opened a fresh connection.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from dashboard.auth import SessionRevocations
from dashboard.share_links import ShareLinks
from engine.clock import FakeClock
from engine.users import UserStore
from tests.conftest import CHEAP_HASHER
from tests.engine.test_connections import open_handles

_recording: list[list[str]] = []


def _on_audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "sqlite3.connect" and _recording:
        _recording[-1].append(str(args[0]))


sys.addaudithook(_on_audit)  # hooks cannot be removed: it records only inside connects()


@contextmanager
def connects() -> Iterator[list[str]]:
    """The databases opened by any thread while the block runs."""
    opened: list[str] = []
    _recording.append(opened)
    try:
        yield opened
    finally:
        _recording.remove(opened)


def in_threads(n: int, target: Callable[[], Any]) -> None:
    for _ in range(n):
        thread = threading.Thread(target=target)
        thread.start()
        thread.join(10)
        assert not thread.is_alive()


def users_calls(tmp_path: Path) -> tuple[Any, Callable[[], Any]]:
    users = UserStore(tmp_path / "vigil.sqlite3", hasher=CHEAP_HASHER)
    users.add("alice", "alice-password", "trader")

    def request() -> None:
        assert users.get("alice") is not None
        assert users.count() == 1
        assert [u.username for u in users.list()] == ["alice"]
        users.set_role("alice", "trader")

    return users, request


def share_calls(tmp_path: Path) -> tuple[Any, Callable[[], Any]]:
    links = ShareLinks(tmp_path / "vigil.sqlite3", "secret", clock=FakeClock(1_000_000.0))
    link, token = links.create("admin", 2)

    def request() -> None:
        assert links.verify(token) is not None
        assert links.get(link.id) is not None
        assert len(links.list()) == 1

    return links, request


def session_calls(tmp_path: Path) -> tuple[Any, Callable[[], Any]]:
    sessions = SessionRevocations(tmp_path / "vigil.sqlite3", clock=lambda: 1_000_000.0)

    def request() -> None:
        assert not sessions.revoked("sid-1")
        sessions.revoke("sid-2", 2_000_000.0)
        assert sessions.revoked("sid-2")

    return sessions, request


OWNERS = [users_calls, share_calls, session_calls]


@pytest.mark.parametrize("make", OWNERS, ids=["users", "share_links", "sessions"])
def test_many_calls_in_one_thread_then_one_connection(make: Any, tmp_path: Path) -> None:
    owner, request = make(tmp_path)
    request()
    with connects() as opened:
        for _ in range(20):
            request()
    assert opened == []
    owner.close()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("make", OWNERS, ids=["users", "share_links", "sessions"])
def test_many_request_threads_then_one_connection_each_and_no_leak(
    make: Any, tmp_path: Path
) -> None:
    owner, request = make(tmp_path)
    db = tmp_path / "vigil.sqlite3"
    with connects() as opened:
        in_threads(30, request)
    assert len(opened) == 30  # one per thread, not one per call
    assert open_handles(db) <= 3  # this thread's and, at most, the last ended thread's
    owner.close()
    assert open_handles(db) == 0
