"""The alert rules against the topic declarations: each rule's topic is declared, and a topic
raises only the alert kinds declared with it."""

from __future__ import annotations

from typing import Any

from engine.topics import ALERTING_TOPICS, BY_NAME, TOPICS
from notifier.rules import DEFAULT_RULES, AlertMapper

# Not raised by a topic: sent on an operator's request (test_notification command).
NOT_FROM_A_TOPIC = {"test_notification"}

BREAKERS = {
    "breakers": [
        {"name": "drawdown", "triggered": True, "value": 6, "threshold": 5, "unit": "%"},
        {"name": "daily_loss", "triggered": True, "value": 1200, "threshold": 1000},
    ]
}
# For each alerting topic, payloads that together raise every kind it can raise.
TRIGGERS: dict[str, list[dict[str, Any]]] = {
    "kill_switch_activated": [{"level": "halt", "reason": "r", "actor": "a"}],
    "kill_switch_reset": [{"actor": "a", "reason": "r", "trading_state": "ACTIVE"}],
    "breaker_update": [BREAKERS],
    "risk_limit": [
        {"code": "FAIL_CLOSED", "message": "latch unreadable"},
        {"code": "NOT_DURABLE", "message": "disk full"},
        {"code": "DAILY_LOSS_BUDGET", "message": "spent"},
    ],
    "error": [{"message": "boom", "where": "broker"}],
    "system_health_update": [{"status": "DEGRADED", "errors": 3}],
    "trade_executed": [{"side": "buy", "symbol": "SPY", "qty": 1, "price": 500.0}],
    "trade_history_update": [{"trades": [], "new": {"id": "T-1", "symbol": "SPY", "pnl": 1.0}}],
    "daily_summary": [{"session_start": 1, "pnl": 1.0, "trades": 1}],
    "signals_update": [{"mode": "approve", "pending": [{"id": "sig-1", "symbol": "SPY"}]}],
}


def test_every_rule_is_raised_by_a_declared_topic_and_every_declared_kind_has_a_rule() -> None:
    declared_kinds = {kind for topic in TOPICS for kind in topic.alerts}
    assert set(DEFAULT_RULES) - NOT_FROM_A_TOPIC == declared_kinds


def test_every_alerting_topic_has_a_handler_and_every_handler_a_declared_topic() -> None:
    handlers = {name[len("_on_") :] for name in dir(AlertMapper) if name.startswith("_on_")}
    assert handlers == ALERTING_TOPICS


def test_each_topic_raises_exactly_the_kinds_declared_with_it() -> None:
    assert TRIGGERS.keys() == ALERTING_TOPICS
    for name, payloads in TRIGGERS.items():
        mapper = AlertMapper()
        kinds = {alert.kind for p in payloads for alert in mapper.map(name, p)}
        assert kinds == set(BY_NAME[name].alerts), name


def test_a_declared_topic_without_alerts_raises_none() -> None:
    mapper = AlertMapper()
    for topic in TOPICS:
        if not topic.alerts:
            assert mapper.map(topic.name, {"symbol": "SPY", "message": "x", "code": "X"}) == []
