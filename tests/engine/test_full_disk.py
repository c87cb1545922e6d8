"""A really full disk (a size-limited tmpfs filled to the last byte) under a running engine."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.clock import FakeClock
from engine.store import Store
from tests.conftest import SyncEngine, make_settings


def _run_privileged(*args: str) -> subprocess.CompletedProcess[str]:
    command = list(args) if os.geteuid() == 0 else ["sudo", "-n", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


class SmallDisk:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._filler = root / "filler"

    def fill(self) -> None:
        """Write a file until the file system says ENOSPC."""
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            chunk = b"\0" * 65536
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    if len(chunk) == 1:
                        return
                    chunk = chunk[: len(chunk) // 2]
        finally:
            os.close(fd)

    def free(self) -> None:
        self._filler.unlink()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    root = tmp_path / "disk"
    root.mkdir()
    options = "size=16m,mode=1777"
    mounted = _run_privileged("mount", "-t", "tmpfs", "-o", options, "tmpfs", str(root))
    if mounted.returncode != 0:
        why = f"cannot mount a size-limited tmpfs: {mounted.stderr.strip() or mounted.returncode}"
        if os.environ.get("CI"):
            pytest.fail(f"{why} (CI must run this test: root or passwordless sudo is needed)")
        pytest.skip(why)
    try:
        yield SmallDisk(root)
    finally:
        _run_privileged("umount", "-l", str(root))


def test_fill_when_disk_full_then_booked_halted_and_stored_once_when_space_returns(
    small_disk: SmallDisk, clock: FakeClock
) -> None:
    settings = make_settings(small_disk.root / "var")
    engine = SyncEngine(settings, clock)
    try:
        engine.market(2)
        small_disk.fill()

        answer = engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})

        assert answer["ok"] is True, answer
        assert answer["warning"]["code"] == "NOT_DURABLE"
        assert "full" in answer["warning"]["message"]
        position = engine.c.desk.ledger.position("QQQ")
        assert position is not None and position.qty == 0.5
        assert engine.c.safety.trading_state.value == "HALTED"
        denied = engine.do("place_order", {"symbol": "SPY", "side": "buy", "qty": 0.1})
        assert not denied["ok"]
        assert engine.c.desk.retry_unsaved() is False

        small_disk.free()
        assert engine.c.desk.retry_unsaved() is True
        fresh = Store(settings.db_path)
        try:
            fills = fresh.load_fills()
        finally:
            fresh.close()
        assert [(f.order_id, f.qty) for f in fills] == [(answer["order"]["id"], 0.5)]
    finally:
        engine.close()
