"""The halt's answer to refused cancels: every refusal is named unless the venue says the order
is already closed (it filled before the cancel reached it)."""

from __future__ import annotations

import pytest

from engine.venues.base import CancelOutcome
from tests.conftest import SyncEngine
from tests.engine.test_kill_switch_engine import rest_limit_orders


@pytest.mark.parametrize("closed", ["filled", "closed", "canceled"])
def test_halt_with_refused_cancels_then_names_all_but_the_closed_one(
    engine: SyncEngine, monkeypatch: pytest.MonkeyPatch, closed: str
) -> None:
    engine.market(2)
    rest_limit_orders(engine, 3)
    cancelled, filled, stuck = [o.id for o in engine.parts.desk.orders.open_orders()]
    answers = [
        CancelOutcome(cancelled, True, "canceled"),
        CancelOutcome(filled, False, closed, f"{closed} first"),  # ccxt: it filled meanwhile
        CancelOutcome(stuck, False, "open", "Unknown order sent."),
        CancelOutcome("venue-only-7", False, "open", "not cancelable"),  # listed, not ours
    ]
    monkeypatch.setattr(engine.parts.broker, "cancel_all", lambda: answers)

    answer = engine.do("kill_switch", {"level": "halt", "reason": "test halt"})

    assert answer["trading_state"] == "HALTED"
    assert answer["unconfirmed"] == [stuck, "venue-only-7"]
    (warning,) = [e for e in engine.topics("risk_limit") if e["code"] == "UNCONFIRMED_ORDERS"]
    assert warning["orders"] == [stuck, "venue-only-7"]
    assert f"{stuck}: Unknown order sent." in warning["message"]
    assert "venue-only-7: not cancelable" in warning["message"] and filled not in warning["message"]
