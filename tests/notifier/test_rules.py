"""Which engine events become alerts, and how: the default mapping and its configuration."""

from __future__ import annotations

import pytest

from notifier.alerts import EMERGENCY, HIGH, LOW, NORMAL
from notifier.rules import AlertMapper, build_rules, parse_priority, rules_from_json

TS = 1_767_225_600_000


def _breaker(name: str, triggered: bool) -> dict:
    return {
        "name": name,
        "description": f"{name} breaker",
        "triggered": triggered,
        "value": 5.2,
        "threshold": 5.0,
        "unit": "%",
        "action": "HALTED",
    }


def test_kill_switch_activated_then_emergency_siren_with_reason_and_actor() -> None:
    payload = {
        "level": "halt",
        "reason": "runaway loop",
        "actor": "admin",
        "since": TS,
        "trading_state": "HALTED",
        "cancelled": 3,
        "ts": TS,
    }

    [alert] = AlertMapper().map("kill_switch_activated", payload)

    assert (alert.priority, alert.sound, alert.created_ts) == (EMERGENCY, "siren", TS)
    assert alert.title == "KILL SWITCH ENGAGED (HALT)"
    assert "admin" in alert.message and "runaway loop" in alert.message
    assert "3 open order(s) cancelled" in alert.message


def test_breaker_update_then_alert_only_for_newly_tripped_breakers() -> None:
    mapper = AlertMapper()

    first = mapper.map(
        "breaker_update",
        {"breakers": [_breaker("drawdown", True), _breaker("order_rate", False)], "ts": TS},
    )
    again = mapper.map(
        "breaker_update",
        {"breakers": [_breaker("drawdown", True), _breaker("order_rate", True)], "ts": TS},
    )
    cleared = mapper.map("breaker_update", {"breakers": [_breaker("drawdown", False)], "ts": TS})
    retripped = mapper.map("breaker_update", {"breakers": [_breaker("drawdown", True)], "ts": TS})

    assert [a.title for a in first] == ["Circuit breaker tripped: drawdown"]
    assert (first[0].priority, first[0].sound) == (HIGH, "siren")
    assert "5.2% against threshold 5%" in first[0].message
    assert [a.key for a in again] == ["breaker:order_rate"]
    assert cleared == []
    assert [a.key for a in retripped] == ["breaker:drawdown"]


def test_daily_loss_breaker_or_budget_denial_then_daily_loss_alert_persistent() -> None:
    mapper = AlertMapper()

    from_breaker = mapper.map("breaker_update", {"breakers": [_breaker("daily_loss", True)]})
    from_denial = mapper.map("risk_limit", {"code": "DAILY_LOSS_BUDGET", "message": "spent"})
    from_flag = mapper.map("risk_limit", {"code": "X", "daily_loss_reached": True})
    other_denial = mapper.map("risk_limit", {"code": "MAX_NOTIONAL", "message": "too big"})

    for alerts in (from_breaker, from_denial, from_flag):
        [alert] = alerts
        assert (alert.key, alert.priority, alert.sound) == ("daily_loss", HIGH, "persistent")
        assert alert.title == "Daily loss limit reached"
    assert other_denial == []


def test_error_event_then_high_alien_naming_where() -> None:
    [alert] = AlertMapper().map("error", {"message": "broker timeout", "where": "broker"})

    assert (alert.priority, alert.sound) == (HIGH, "alien")
    assert alert.title == "System error in broker" and alert.message == "broker timeout"


def test_health_update_then_alert_only_on_transition_to_degraded() -> None:
    mapper = AlertMapper()

    ok = mapper.map("system_health_update", {"status": "OK"})
    degraded = mapper.map(
        "system_health_update", {"status": "DEGRADED", "errors": 4, "last_error": "feed stale"}
    )
    still = mapper.map("system_health_update", {"status": "DEGRADED"})
    mapper.map("system_health_update", {"status": "OK"})
    again = mapper.map("system_health_update", {"status": "DEGRADED"})

    assert ok == [] and still == []
    assert [(a.priority, a.sound) for a in degraded] == [(HIGH, "alien")]
    assert "feed stale" in degraded[0].message
    assert len(again) == 1


def test_trade_executed_then_normal_cashregister() -> None:
    payload = {
        "symbol": "SPY",
        "side": "buy",
        "qty": 2.0,
        "price": 500.1,
        "fee": 0.1,
        "order_id": "P-1",
        "source": "manual",
        "ts": TS,
    }

    [alert] = AlertMapper().map("trade_executed", payload)

    assert (alert.priority, alert.sound) == (NORMAL, "cashregister")
    assert alert.title == "Filled: BUY 2 SPY @ 500.1"


def test_trade_history_new_trade_then_exit_alert_with_pnl() -> None:
    trade = {
        "id": "T-3",
        "symbol": "BTC/USD",
        "direction": "long",
        "qty": 0.01,
        "entry_price": 60000.0,
        "exit_price": 60100.0,
        "pnl": 0.9,
        "fees": 0.1,
    }

    [alert] = AlertMapper().map("trade_history_update", {"trades": [trade], "new": trade})
    none = AlertMapper().map("trade_history_update", {"trades": [trade]})

    assert alert.priority == NORMAL and alert.key == "trade_exit:T-3"
    assert alert.title == "Trade closed: BTC/USD long P&L +0.90"
    assert "P&L +0.90" in alert.message
    assert none == []


def test_kill_switch_reset_then_high() -> None:
    [alert] = AlertMapper().map(
        "kill_switch_reset", {"actor": "risk", "reason": "checked", "trading_state": "ACTIVE"}
    )

    assert alert.priority == HIGH and "risk" in alert.message


def test_daily_summary_then_low_with_its_figures_and_system_no_longer_alerts() -> None:
    mapper = AlertMapper()

    [alert] = mapper.map(
        "daily_summary",
        {
            "session_start": 1,
            "pnl": -12.5,
            "trades": 4,
            "wins": 1,
            "losses": 3,
            "win_rate": 0.25,
            "largest_loss": -9.0,
            "breakers_tripped": ["rapid_loss"],
        },
    )
    other = mapper.map("system", {"kind": "daily_summary", "message": "feed connected"})

    assert alert.priority == LOW and alert.kind == "daily_summary"
    assert alert.message == (
        "P&L -12.50\ntrades 4 (1 won, 3 lost)\nwin rate 25%\nlargest loss -9.00\n"
        "breakers tripped: rapid_loss"
    )
    assert other == []


def test_signals_update_then_one_alert_per_new_pending_signal_and_rule_can_page() -> None:
    mapper = AlertMapper(build_rules({"signal_pending": {"priority": "high", "sound": "siren"}}))
    one = {"id": "sig-1", "symbol": "SPY", "side": "buy", "qty": 2, "source": "webhook"}
    two = {**one, "id": "sig-2", "symbol": "QQQ"}

    first = mapper.map("signals_update", {"mode": "approve", "pending": [one]})
    again = mapper.map("signals_update", {"mode": "approve", "pending": [one]})
    second = mapper.map("signals_update", {"mode": "approve", "pending": [one, two]})

    assert [a.title for a in first] == ["Signal waiting: BUY 2 SPY"]
    assert first[0].priority == HIGH and first[0].sound == "siren"
    assert again == []
    assert [a.title for a in second] == ["Signal waiting: BUY 2 QQQ"]
    silenced = AlertMapper(build_rules({"signal_pending": {"enabled": False}}))
    assert silenced.map("signals_update", {"pending": [one]}) == []


def test_unmapped_topic_then_no_alert() -> None:
    assert AlertMapper().map("quote_update", {"symbol": "SPY"}) == []


def test_rules_override_then_disabled_kinds_silent_and_priority_changed() -> None:
    rules = build_rules(
        {
            "trade_executed": {"enabled": False},
            "breaker_trip": {"priority": "emergency", "sound": "alien"},
        }
    )
    mapper = AlertMapper(rules)

    fills = mapper.map("trade_executed", {"symbol": "SPY", "side": "buy"})
    [trip] = mapper.map("breaker_update", {"breakers": [_breaker("drawdown", True)]})

    assert fills == []
    assert (trip.priority, trip.sound) == (EMERGENCY, "alien")


def test_min_priority_then_lower_alerts_dropped() -> None:
    mapper = AlertMapper(min_priority=HIGH)

    assert mapper.map("trade_executed", {"symbol": "SPY", "side": "buy"}) == []
    assert len(mapper.map("error", {"message": "x"})) == 1


@pytest.mark.parametrize(
    "text",
    ['{"nope": {}}', '{"error": {"priority": 3}}', '{"error": {"colour": "red"}}', "[1]", "{"],
)
def test_rules_from_bad_json_then_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        rules_from_json(text)


def test_parse_priority_accepts_names_and_numbers() -> None:
    assert [parse_priority(v) for v in ("lowest", "HIGH", "-1", 2)] == [-2, 1, -1, 2]
