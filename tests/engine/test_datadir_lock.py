"""One engine per data directory: the lock, as another process sees it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard.settings import VigilSettings
from engine.clock import SystemClock
from engine.datadir_lock import DataDirLock, DataDirLocked
from engine.models import KillLevel
from engine.runtime import EngineRuntime
from engine.safety.latch import KillSwitchLatch
from tests.server_process import ROOT

HOLDER = """
import sys
from engine.datadir_lock import DataDirLock
DataDirLock(sys.argv[1]).acquire()
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def other_process(settings: VigilSettings) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the data directory, as a running server's worker would."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(settings.engine.store.data_dir)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(10)


def test_data_dir_held_by_another_process_then_engine_refuses_naming_its_pid(
    settings: VigilSettings, other_process: subprocess.Popen[str]
) -> None:
    with pytest.raises(DataDirLocked) as refused:
        EngineRuntime(settings.engine)
    message = str(refused.value)
    assert f"pid {other_process.pid}" in message and str(settings.engine.store.data_dir) in message
    assert "\n" not in message
    assert refused.value.holder == other_process.pid
    # Nothing of the engine was built: the store was never opened by the refused engine.
    assert not settings.engine.store.db_path.exists()


def test_holder_exits_then_the_next_engine_starts(
    settings: VigilSettings, other_process: subprocess.Popen[str]
) -> None:
    other_process.kill()  # as in a crash: the kernel drops the lock with the process
    other_process.wait(10)
    rt = EngineRuntime(settings.engine)
    try:
        rt.boot()
        assert (settings.engine.store.data_dir / "engine.lock").read_text().strip() == str(
            os.getpid()
        )
    finally:
        rt.stop()
    assert (settings.engine.store.data_dir / "engine.lock").read_text() == ""


def test_engine_holds_lock_then_latch_cli_path_still_writes(
    settings: VigilSettings, other_process: subprocess.Popen[str]
) -> None:
    """The kill-switch CLI writes the latch file only; it must not need the engine's lock."""
    latch = KillSwitchLatch(settings.engine.store.latch_path)
    latch.engage(KillLevel.HALT, "from cli", "cli:ops", SystemClock().time())
    assert latch.read().engaged


def test_lock_in_one_process_then_shared_and_released_by_the_last_user(tmp_path: Path) -> None:
    first, second = DataDirLock(tmp_path), DataDirLock(tmp_path)
    first.acquire()
    second.acquire()
    first.release()
    holder = subprocess.run(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        cwd=ROOT,
        input="",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert holder.returncode != 0 and "in use by another Vigil engine" in holder.stderr
    second.release()
    holder = subprocess.run(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        cwd=ROOT,
        input="",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert holder.returncode == 0 and holder.stdout.strip() == "held"
