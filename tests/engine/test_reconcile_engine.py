"""Reconciliation in the engine: each kind of mismatch -> REDUCING until an admin acknowledges,
shown on the page with the differences, raised once; missed fills booked; a clean paper run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.clock import FakeClock
from engine.models import Fill, Order, OrderStatus, OrderType, Side
from tests.conftest import SyncEngine, make_settings
from tests.engine.fake_venue import FakeVenueRecord

EVERY_S, GRACE_S = 30.0, 10.0


@pytest.fixture
def engine(tmp_path: Path, clock: FakeClock) -> Iterator[SyncEngine]:
    settings = make_settings(
        tmp_path / "var",
        VIGIL_STRATEGY="none",
        VIGIL_RECONCILE_EVERY_S=str(EVERY_S),
        VIGIL_RECONCILE_GRACE_S=str(GRACE_S),
        # The clock jumps without market data here: a stale feed is not what is tested.
        VIGIL_BREAKERS="rapid_loss,error_rate,drawdown,daily_loss,max_positions,order_rate",
    )
    sync = SyncEngine(settings, clock)
    yield sync
    sync.close()


@pytest.fixture
def venue(engine: SyncEngine) -> FakeVenueRecord:
    """The engine's reconciler reads this record from now on (the paper venue of this branch
    keeps none of its own)."""
    fake = FakeVenueRecord()
    engine.parts.reconciler.venue = fake
    return fake


def next_round(engine: SyncEngine) -> None:
    """Let one reconciliation interval pass and the engine do its periodic work (twice: the
    safety section is published on the turn after a change)."""
    engine.clock.advance(EVERY_S + 0.5)
    engine.rt.run_once()
    engine.rt.run_once()


def state(engine: SyncEngine) -> str:
    return engine.parts.safety.trading_state.value


def shown(engine: SyncEngine) -> list[tuple[str, str]]:
    """The differences as the page gets them: the safety section of the snapshot."""
    recon = engine.rt.state.get("safety")["reconciliation"]
    return (
        []
        if recon is None
        else [(i["kind"], i["order_id"] or i["symbol"]) for i in recon["issues"]]
    )


def alerts(engine: SyncEngine) -> list[str]:
    return [p["message"] for p in engine.topics("risk_limit") if p["code"] == "RECONCILIATION"]


def audit_actions(engine: SyncEngine) -> list[str]:
    return [row["action"] for row in engine.parts.store.audit_log()]


def order(oid: str, created: float) -> Order:
    return Order(
        oid, "SPY", Side.BUY, 1.0, OrderType.LIMIT, OrderStatus.NEW, created, created, 300.0
    )


def acknowledge(engine: SyncEngine, actor: str = "admin") -> dict:
    return engine.do("acknowledge_reconciliation", {"reason": "checked at the venue"}, actor)


def test_order_open_at_the_venue_unknown_to_the_store_holds_reducing_until_acknowledged(
    engine: SyncEngine, venue: FakeVenueRecord
) -> None:
    venue.rest(order("X-1", engine.clock.time() - 60))
    next_round(engine)
    assert state(engine) == "REDUCING"
    assert shown(engine) == [("order_unknown_to_store", "X-1")]
    issue = engine.rt.state.get("safety")["reconciliation"]["issues"][0]
    assert issue["venue"] == "buy 1 SPY limit @ 300" and issue["store"] == ""
    assert len(alerts(engine)) == 1 and "X-1" in alerts(engine)[0]
    assert audit_actions(engine).count("reconciliation_mismatch") == 1
    # Found again on every round: still REDUCING, never alerted again.
    for _ in range(3):
        next_round(engine)
    assert state(engine) == "REDUCING" and len(alerts(engine)) == 1
    assert audit_actions(engine).count("reconciliation_mismatch") == 1
    # REDUCING: a new entry is refused.
    answer = engine.do("place_order", {"symbol": "SPY", "side": "buy", "qty": 0.1})
    assert answer["ok"] is False
    # The acknowledgement releases it, is audited, and the same mismatch stays quiet.
    assert acknowledge(engine)["ok"]
    next_round(engine)
    assert state(engine) == "ACTIVE" and shown(engine) == []
    assert "reconciliation_acknowledged" in audit_actions(engine)
    next_round(engine)
    assert state(engine) == "ACTIVE" and len(alerts(engine)) == 1
    # A new mismatch after the acknowledgement is raised again.
    venue.held["QQQ"] = 3.0
    next_round(engine)
    assert state(engine) == "REDUCING" and shown(engine) == [("position_mismatch", "QQQ")]
    assert len(alerts(engine)) == 2


def test_acknowledge_with_nothing_to_acknowledge_is_refused(engine: SyncEngine) -> None:
    answer = acknowledge(engine)
    assert answer["ok"] is False and answer["error"]["code"] == "NOTHING_TO_ACKNOWLEDGE"


def test_order_open_in_the_store_unknown_to_the_venue_after_the_grace(
    engine: SyncEngine, venue: FakeVenueRecord
) -> None:
    engine.clock.advance(EVERY_S + 1)
    # Sent a moment ago and not acknowledged yet: in flight, not a mismatch.
    engine.parts.store.save_order(order("P-77", engine.clock.time()))
    engine.rt.run_once()
    assert engine.parts.reconciler.runs >= 2 and state(engine) == "ACTIVE"
    next_round(engine)  # now older than the grace and still unknown to the venue
    assert state(engine) == "REDUCING"
    assert shown(engine) == [("order_unknown_to_venue", "P-77")]
    issue = engine.rt.state.get("safety")["reconciliation"]["issues"][0]
    assert issue["store"] == "buy 1 SPY limit @ 300" and issue["venue"] == ""


def test_position_the_store_does_not_hold_is_a_mismatch(
    engine: SyncEngine, venue: FakeVenueRecord
) -> None:
    venue.held["SPY"] = -4.0
    next_round(engine)
    assert state(engine) == "REDUCING"
    [issue] = engine.rt.state.get("safety")["reconciliation"]["issues"]
    assert (issue["kind"], issue["symbol"], issue["store"], issue["venue"]) == (
        "position_mismatch",
        "SPY",
        "0",
        "-4",
    )
    assert "SPY: store holds 0, venue holds -4" in engine.rt.state.get("safety")["state_reason"]


def test_fills_the_store_missed_are_booked_audited_and_not_a_mismatch(
    engine: SyncEngine, venue: FakeVenueRecord
) -> None:
    ts = engine.clock.time() - 20
    venue.execute(Fill("V-OUT-1", "SPY", Side.BUY, 2.0, 400.0, 0.08, ts, "VF-1"))
    next_round(engine)
    assert state(engine) == "ACTIVE", engine.parts.safety.state_reason()
    assert shown(engine) == []
    assert engine.parts.desk.ledger.position("SPY").qty == 2.0
    assert [f.id for f in engine.parts.store.load_fills()] == ["VF-1"]
    assert "reconciliation_fills_applied" in audit_actions(engine)
    assert any(p.get("kind") == "reconciliation_fills" for p in engine.topics("system"))
    assert {p["symbol"]: p["qty"] for p in engine.rt.state.get("positions")} == {"SPY": 2.0}
    next_round(engine)  # fills_since(the last stored fill) returns it again: booked once
    assert engine.parts.desk.ledger.position("SPY").qty == 2.0
    assert engine.parts.store.counts()["fills"] == 1


def test_a_fill_lost_behind_a_later_one_that_arrived_is_still_found(
    engine: SyncEngine, venue: FakeVenueRecord
) -> None:
    next_round(engine)  # a clean round: everything before it is verified
    lost = Fill("P-6", "SPY", Side.BUY, 1.0, 400.0, 0.0, engine.clock.time() + 5, "VF-lost")
    later = Fill("P-7", "SPY", Side.BUY, 2.0, 401.0, 0.0, engine.clock.time() + 15, "VF-later")
    venue.execute(lost)
    venue.execute(later)
    engine.parts.desk.apply_fills([later], "broker")  # its event arrived; the first one's did not
    next_round(engine)
    assert sorted(f.id for f in engine.parts.store.load_fills()) == ["VF-later", "VF-lost"]
    assert engine.parts.desk.ledger.position("SPY").qty == 3.0
    assert state(engine) == "ACTIVE", engine.parts.safety.state_reason()


def test_a_fill_still_in_flight_waits_for_its_event(
    engine: SyncEngine, venue: FakeVenueRecord
) -> None:
    engine.clock.advance(EVERY_S + 1)
    venue.execute(Fill("P-5", "SPY", Side.BUY, 1.0, 400.0, 0.0, engine.clock.time(), "VF-2"))
    engine.rt.run_once()
    assert engine.parts.store.counts()["fills"] == 0 and state(engine) == "ACTIVE"
    next_round(engine)  # no event came: now it is booked by reconciliation
    assert engine.parts.store.counts()["fills"] == 1 and state(engine) == "ACTIVE"


def test_an_unreadable_venue_fails_closed_and_is_raised_once(
    engine: SyncEngine, venue: FakeVenueRecord
) -> None:
    venue.down = True
    next_round(engine)
    next_round(engine)
    assert state(engine) == "REDUCING" and shown(engine) == [("venue_unreadable", "")]
    assert len(alerts(engine)) == 1


def test_reconciliation_runs_every_interval_not_every_turn(
    engine: SyncEngine, venue: FakeVenueRecord
) -> None:
    engine.clock.advance(EVERY_S + 1)
    engine.rt.run_once()
    reads = venue.reads
    assert reads == 3  # positions, open orders, fills since
    for _ in range(5):
        engine.clock.advance(EVERY_S / 6)
        engine.rt.run_once()
    assert venue.reads == reads
    engine.clock.advance(EVERY_S / 6)
    engine.rt.run_once()
    assert venue.reads == reads + 3


def test_paper_broker_with_a_consistent_state_reconciles_clean_across_a_restart(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(tmp_path / "var", VIGIL_STRATEGY="none")
    first = SyncEngine(settings, clock)
    first.market(3)
    quote = first.parts.market.quote("QQQ")
    assert first.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})["ok"]
    resting = {"symbol": "QQQ", "side": "buy", "qty": 0.5, "type": "limit"}
    assert first.do("place_order", {**resting, "limit_price": round(quote.bid * 0.97, 2)})["ok"]
    assert first.parts.desk.ledger.position("QQQ").qty == 0.5
    assert len(first.parts.broker.open_orders()) == 1
    first.close()
    clock.advance(60)
    second = SyncEngine(settings, clock)
    try:
        assert second.parts.reconciler.runs == 1  # at boot, before any order
        assert second.parts.safety.trading_state.value == "ACTIVE"
        assert second.rt.state.get("safety")["reconciliation"] is None
        second.market(EVERY_S + 1)
        assert second.parts.reconciler.runs == 2
        assert second.parts.safety.reconciliation.active == []
        assert "reconciliation_mismatch" not in audit_actions(second)
    finally:
        second.close()
