"""A web process whose engine was replaced while it could not look (frozen, or the restart was
quicker than its one-second check) still gives its open pages the new engine's snapshot.

Stop 17's CI flake: the web process's watch only looked for a gap in the engine's heartbeat,
and a quick restart showed none, so the open pages kept the old engine's state."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.scale.clients import PageClient
from tests.scale.processes import EngineProcess, stop_all
from tests.server_process import ServerProcess

pytestmark = pytest.mark.slow


@dataclass
class Pair:
    """One engine and one web process over Redis, on one data directory."""

    data_dir: Path
    engine_env: dict[str, str]
    engine: EngineProcess
    web: ServerProcess | None = None


@pytest.fixture
def pair(redis_server: Any, tmp_path: Path) -> Iterator[Pair]:
    env = {"VIGIL_REDIS_URL": redis_server.url, "VIGIL_STRATEGY": "none"}
    found = Pair(tmp_path / "var", env, EngineProcess(tmp_path / "var", **env).start())
    try:
        found.web = ServerProcess(found.data_dir, VIGIL_REDIS_URL=redis_server.url).start()
        yield found
    finally:
        stop_all([found.web] if found.web else [], found.engine, redis_server)


def test_engine_replaced_while_the_web_process_was_frozen_then_open_pages_resync(
    pair: Pair,
) -> None:
    assert pair.web is not None and pair.web.proc is not None
    page = PageClient(pair.web).connect()
    try:
        page.wait_for("initial_state")
        before = page.count("initial_state")
        os.killpg(pair.web.proc.pid, signal.SIGSTOP)  # its watch cannot see the engine's gap
        try:
            assert pair.engine.stop() == 0
            pair.engine = EngineProcess(pair.data_dir, **pair.engine_env).start()
        finally:
            os.killpg(pair.web.proc.pid, signal.SIGCONT)
        page.wait_new("initial_state", before, timeout=20)
        page.wait_new("quote_update", page.count("quote_update"), timeout=20)
    finally:
        page.close()
