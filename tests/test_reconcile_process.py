"""Reconciliation with the real server: the paper venue's record file edited while the server
is down -> REDUCING at start, the differences on the page, until an admin acknowledges."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.server_process import ServerProcess

pytest.importorskip("engine.venues.paper.venue", reason="needs the paper venue's own record")
pytestmark = pytest.mark.slow

ENV = {"VIGIL_SIM_HISTORY_S": "0", "VIGIL_STRATEGY": "none"}


def state(session: Any, server: ServerProcess) -> dict[str, Any]:
    return session.get(f"{server.url}/api/state", timeout=10).json()


def control(session: Any, server: ServerProcess, name: str, body: dict[str, Any]) -> dict:
    answer = session.post(
        f"{server.url}/api/control/{name}", json=body, headers={"Origin": server.url}, timeout=10
    )
    return answer.json()


def qqq_qty(snapshot: dict[str, Any]) -> float:
    return sum(p["qty"] for p in snapshot["positions"] if p["symbol"] == "QQQ")


def diverge_venue_record(tmp_path: Path) -> Path:
    """A data directory whose paper venue record was edited while the server was down (as
    trading outside Vigil would change it): QQQ 0.6 at the venue against 0.1 in the store,
    and an order open at the venue (PV-900) that Vigil never placed."""
    data_dir = tmp_path / "var"
    server = ServerProcess(data_dir, **ENV).start()
    session = server.login()
    wait_until(lambda: state(session, server)["market"]["quotes"].get("QQQ"), 30, "a QQQ quote")
    placed = control(session, server, "place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.1})
    assert placed["ok"], placed
    wait_until(lambda: qqq_qty(state(session, server)) == pytest.approx(0.1), 30, "the fill")
    server.stop()

    record_path = data_dir / "paper_venue.json"
    record = json.loads(record_path.read_text())
    [qqq] = [p for p in record["positions"] if p["symbol"] == "QQQ"]
    qqq["qty"] = 0.6
    outside = dict(record["closed_orders"][0])  # the order we placed, as a template
    old = time.time() - 600  # older than the in-flight grace
    outside.update(
        id="PV-900",
        status="accepted",
        type="limit",
        limit_price=1.0,
        qty=1.0,
        filled_qty=0.0,
        avg_fill_price=0.0,
        created_ts=old,
        updated_ts=old,
    )
    record["open_orders"].append(outside)
    record_path.write_text(json.dumps(record))
    return data_dir


def test_venue_record_edited_while_down_then_reducing_until_acknowledged(tmp_path: Path) -> None:
    data_dir = diverge_venue_record(tmp_path)
    server = ServerProcess(data_dir, **ENV).start()
    try:
        session = server.login()
        snapshot = state(session, server)
        safety = snapshot["safety"]
        assert safety["trading_state"] == "REDUCING"
        issues = {
            (i["kind"], i["symbol"], i["order_id"]) for i in safety["reconciliation"]["issues"]
        }
        assert issues == {
            ("position_mismatch", "QQQ", ""),
            ("order_unknown_to_store", "QQQ", "PV-900"),
        }
        [position] = [
            i
            for i in safety["reconciliation"]["issues"]
            if i["symbol"] == "QQQ" and not i["order_id"]
        ]
        assert (position["store"], position["venue"]) == ("0.1", "0.6")
        assert server.health()["trading_state"] == "REDUCING"
        # REDUCING holds across reconciliation rounds until an admin acknowledges.
        entry = control(
            session, server, "place_order", {"symbol": "SPY", "side": "buy", "qty": 0.1}
        )
        assert entry["ok"] is False
        acknowledged = control(session, server, "acknowledge_reconciliation", {"reason": "seen"})
        assert acknowledged["ok"], acknowledged
        wait_until(
            lambda: state(session, server)["safety"]["trading_state"] == "ACTIVE", 10, "ACTIVE"
        )
        assert state(session, server)["safety"]["reconciliation"] is None
        audit = session.get(f"{server.url}/api/audit", timeout=10).json()["entries"]
        actions = [e["action"] for e in audit]
        assert "reconciliation_mismatch" in actions and "reconciliation_acknowledged" in actions
    finally:
        server.stop()
