"""A really full disk (a size-limited tmpfs filled to the last byte) under a running engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.clock import FakeClock
from engine.store import Store
from tests.conftest import SyncEngine, make_settings
from tests.small_disk import SmallDisk, small_disk_at


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with small_disk_at(tmp_path / "disk") as disk:
        yield disk


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
        position = engine.parts.desk.ledger.position("QQQ")
        assert position is not None and position.qty == 0.5
        assert engine.parts.safety.trading_state.value == "HALTED"
        denied = engine.do("place_order", {"symbol": "SPY", "side": "buy", "qty": 0.1})
        assert not denied["ok"]
        assert engine.parts.desk.retry_unsaved() is False

        small_disk.free()
        assert engine.parts.desk.retry_unsaved() is True
        fresh = Store(settings.engine.store.db_path)
        try:
            fills = fresh.load_fills()
        finally:
            fresh.close()
        assert [(f.order_id, f.qty) for f in fills] == [(answer["order"]["id"], 0.5)]
    finally:
        engine.close()
