"""Risk overrides with an expiry: size multiplier, minimum confidence, max open positions; they
revert by themselves on the engine's clock and never loosen a kill switch or a breaker."""

from __future__ import annotations

from typing import Any

import pytest

from engine.commands import parse_command
from engine.models import OrderRequest, Side, Signal
from engine.strategies.demo import Decision
from tests.conftest import SyncEngine, make_settings

ROOMY = {"VIGIL_MAX_NOTIONAL": "100000", "VIGIL_DAILY_LOSS_LIMIT": "100000"}


@pytest.fixture
def settings(tmp_path: Any) -> Any:
    return make_settings(tmp_path / "var", **ROOMY)


def overrides(engine: SyncEngine) -> dict[str, Any]:
    return {o["name"]: o for o in engine.rt.state.get("safety")["overrides"]}


def audit_actions(engine: SyncEngine) -> list[str]:
    return [r["action"] for r in engine.parts.store.audit_log()]


def strategy_entry(engine: SyncEngine, qty: float, confidence: float, **kw: Any) -> None:
    """A strategy's entry as the strategies hand it to the market router."""
    req = OrderRequest("SPY", Side.BUY, qty, source="strategy", tag="demo", **kw)
    from_strategy(engine, req, confidence)


def from_strategy(engine: SyncEngine, req: OrderRequest, confidence: float) -> None:
    price = engine.parts.market.quote_payload(req.symbol)["mid"]
    signal = Signal(req.symbol, req.side, confidence, "test", price, engine.clock.time())
    engine.parts.router.emit(Decision(signal, req))
    engine.venue()


def held(engine: SyncEngine, symbol: str = "SPY") -> float:
    position = engine.parts.desk.ledger.position(symbol)
    return position.qty if position is not None else 0.0


def test_size_multiplier_with_expiry_then_banner_data_then_reverts_by_itself(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    answer = engine.do(
        "set_risk_override",
        {"name": "size_multiplier", "value": 0.5, "expires_in_s": 60, "reason": "news"},
        actor="ada",
    )
    assert answer["ok"], answer
    shown = overrides(engine)["size_multiplier"]
    assert shown["value"] == 0.5 and shown["previous"] == 1.0 and shown["actor"] == "ada"
    assert shown["expires_ts"] == pytest.approx((engine.clock.time() + 60) * 1000, abs=1)
    strategy_entry(engine, 4, 0.9)
    assert held(engine) == 2  # 4 x 0.5

    engine.market(59)
    assert "size_multiplier" in overrides(engine)
    engine.market(1.2)

    assert overrides(engine) == {}
    assert "risk_override_expired" in audit_actions(engine)
    assert any("back to 1" in p["message"] for p in engine.topics("system"))
    strategy_entry(engine, 4, 0.9)
    assert held(engine) == 6


def test_size_multiplier_rounds_down_to_lots_and_never_resizes_an_exit(
    engine: SyncEngine,
) -> None:
    engine.market(2)
    engine.do("set_risk_override", {"name": "size_multiplier", "value": 2, "expires_in_s": 600})
    strategy_entry(engine, 1.005, 0.9)
    assert held(engine) == pytest.approx(2.01)

    exit_req = OrderRequest("SPY", Side.SELL, 1.0, reduce_only=True, source="strategy")
    from_strategy(engine, exit_req, 0.1)
    assert held(engine) == pytest.approx(1.01)


def test_min_confidence_then_weaker_entries_skipped_and_said_so(engine: SyncEngine) -> None:
    engine.market(2)
    engine.do("set_risk_override", {"name": "min_confidence", "value": 0.7, "expires_in_s": 600})

    strategy_entry(engine, 1, 0.6)
    assert held(engine) == 0
    assert "below the override's minimum 0.70" in engine.topics("system")[-1]["message"]
    strategy_entry(engine, 1, 0.75)
    assert held(engine) == 1


def test_max_positions_override_then_gateway_uses_it_until_it_expires(engine: SyncEngine) -> None:
    engine.market(2)
    assert engine.do(
        "set_risk_override", {"name": "max_positions", "value": 1, "expires_in_s": 30}
    )["ok"]
    assert engine.do("place_order", {"symbol": "SPY", "side": "buy", "qty": 1})["ok"]

    denied = engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 1})
    assert denied["error"]["code"] == "MAX_POSITIONS"

    engine.market(31)
    assert engine.parts.safety.limits.max_positions == 3
    assert engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 1})["ok"]


def test_replaced_override_then_expiry_restores_the_value_before_the_first(
    engine: SyncEngine,
) -> None:
    engine.market(1)
    engine.do("set_risk_override", {"name": "max_positions", "value": 1, "expires_in_s": 30})
    engine.do("set_risk_override", {"name": "max_positions", "value": 2, "expires_in_s": 30})
    assert engine.parts.safety.limits.max_positions == 2
    engine.market(31)
    assert engine.parts.safety.limits.max_positions == 3


def test_clear_then_reverted_now_and_clearing_nothing_refused(engine: SyncEngine) -> None:
    engine.market(1)
    engine.do("set_risk_override", {"name": "size_multiplier", "value": 1.5, "expires_in_s": 600})

    assert engine.do("clear_risk_override", {"name": "size_multiplier"})["ok"]
    again = engine.do("clear_risk_override", {"name": "size_multiplier"})

    assert overrides(engine) == {}
    assert again["error"]["code"] == "NO_OVERRIDE"
    actions = audit_actions(engine)
    assert "risk_override_cleared" in actions and "risk_override_clear_refused" in actions


def test_overrides_under_a_latched_halt_then_still_halted_and_denied(engine: SyncEngine) -> None:
    engine.market(2)
    engine.do("kill_switch", {"level": "halt", "reason": "test halt"})
    for name, value in (("max_positions", 1000), ("size_multiplier", 2), ("min_confidence", 0)):
        assert engine.do("set_risk_override", {"name": name, "value": value, "expires_in_s": 30})[
            "ok"
        ]

    assert engine.parts.safety.trading_state.value == "HALTED"
    denied = engine.do("place_order", {"symbol": "SPY", "side": "buy", "qty": 1})
    assert denied["error"]["code"] == "TRADING_HALTED"
    engine.market(31)  # expiring changes nothing about the latch either
    assert engine.parts.safety.kill.engaged
    assert engine.parts.safety.trading_state.value == "HALTED"


def test_overrides_with_a_tripped_breaker_then_trip_stays(engine: SyncEngine) -> None:
    engine.market(1)
    for _ in range(5):
        engine.parts.safety.record_error(engine.clock.time())
    engine.market(0.5)
    assert {t.name for t in engine.parts.safety.board.tripped()} >= {"error_rate"}

    engine.do("set_risk_override", {"name": "max_positions", "value": 1000, "expires_in_s": 30})
    engine.market(1)

    assert {t.name for t in engine.parts.safety.board.tripped()} >= {"error_rate"}
    assert engine.parts.safety.trading_state.value == "HALTED"


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "size_multiplier", "value": 3, "expires_in_s": 60},
        {"name": "size_multiplier", "value": 0.4, "expires_in_s": 60},
        {"name": "size_multiplier", "value": 1.5},
        {"name": "size_multiplier", "value": 1.5, "expires_in_s": 5},
        {"name": "size_multiplier", "value": 1.5, "expires_in_s": float("inf")},
        {"name": "min_confidence", "value": 1.5, "expires_in_s": 60},
        {"name": "min_confidence", "value": float("nan"), "expires_in_s": 60},
        {"name": "max_positions", "value": 2.5, "expires_in_s": 60},
        {"name": "max_positions", "value": -1, "expires_in_s": 60},
        {"name": "leverage", "value": 2, "expires_in_s": 60},
    ],
)
def test_bad_override_payload_then_invalid(payload: dict[str, Any]) -> None:
    result = parse_command("set_risk_override", payload)
    assert isinstance(result, dict) and result["error"]["code"] == "INVALID_PAYLOAD", result
