"""The Redis link's hold (dashboard/relay.py sends `link_state`): REDUCING while it is down,
positions keep their protection, entries are denied; audited, announced and lifted on return."""

from __future__ import annotations

from engine.commands import LINK_STATE
from tests.conftest import SyncEngine

LOST = "Redis link lost (ConnectionError: refused)"


def link(engine: SyncEngine, issue: str) -> dict[str, object]:
    result = engine.parts.commands.execute(LINK_STATE, issue, "system:redis-link")
    engine.venue()
    return result


def test_link_lost_then_entries_denied_exits_and_stops_kept_then_resumed(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    mid = engine.parts.market.quote("QQQ").mid
    stop = round(mid * 0.98, 2)
    opened = engine.do(
        "place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5, "stop_loss": stop}
    )
    assert opened["ok"], opened

    lost = link(engine, LOST)
    assert lost["ok"] and lost["changed"] and lost["trading_state"] == "REDUCING"
    assert engine.parts.safety.state_reason() == LOST
    entry = engine.do("place_order", {"symbol": "SPY", "side": "buy", "qty": 0.1})
    assert not entry["ok"] and entry["error"]["code"] == "REDUCING_ONLY"
    protective = engine.parts.desk.orders.protective("QQQ")
    assert [o.stop_price for o in protective] == [stop]  # the stop still stands
    assert not link(engine, LOST)["changed"]  # said once
    rows = [e for e in engine.parts.store.audit_log() if e["action"] == "link_lost"]
    assert len(rows) == 1 and rows[0]["outcome"] == "REDUCING" and rows[0]["reason"] == LOST
    assert any(p.get("kind") == "link" for p in engine.topics("system"))

    back = link(engine, "")
    assert back["changed"] and back["trading_state"] == "ACTIVE"
    assert engine.do("place_order", {"symbol": "SPY", "side": "buy", "qty": 0.1})["ok"]
    restored = [e for e in engine.parts.store.audit_log() if e["action"] == "link_restored"]
    assert restored and restored[0]["outcome"] == "ACTIVE"
    assert engine.topics("safety_update")[-1]["trading_state"] == "ACTIVE"
