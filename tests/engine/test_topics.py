"""The topic declarations: the page's module and the docs are generated from them and current,
and every topic the engine publishes is declared."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from engine import topics
from engine.topics import BY_NAME, TOPICS, Topic

ENGINE = topics.ROOT / "engine"


def test_generated_page_module_is_current() -> None:
    assert topics.PAGE_MODULE.read_text(encoding="utf-8") == topics.render_page_module(), (
        "run `python -m engine.topics`"
    )


def test_events_doc_tables_are_current_and_list_every_declared_topic() -> None:
    doc = topics.EVENTS_DOC.read_text(encoding="utf-8")
    assert topics.with_events_tables(doc) == doc, "run `python -m engine.topics`"
    section = doc[doc.index(topics.DOC_BEGIN) : doc.index(topics.DOC_END)]
    for topic in TOPICS:
        assert f"| `{topic.name}` |" in section, topic.name


def _published_literals(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "publish"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.args[0].value, node.lineno))
    return found


def test_every_topic_the_engine_publishes_is_declared() -> None:
    published = {
        (name, f"{path.relative_to(topics.ROOT)}:{line}")
        for path in ENGINE.rglob("*.py")
        for name, line in _published_literals(path)
    }
    assert len(published) > 20  # the scan finds the publish calls at all
    assert [(name, where) for name, where in sorted(published) if name not in BY_NAME] == []


def test_conflated_and_activity_views_follow_the_declarations() -> None:
    assert topics.CONFLATED["bar_update"] == ("symbol", "timeframe")
    assert topics.CONFLATED["pnl_update"] == ()
    assert "safety_update" not in topics.CONFLATED  # safety is never delayed
    assert "kill_switch_activated" in topics.ACTIVITY_TOPICS
    assert "quote_update" not in topics.ACTIVITY_TOPICS
    # Safety topics go out at once, in order: none of them may ever be conflated.
    for name in ("safety_update", "breaker_update", "kill_switch_activated", "risk_limit"):
        assert not BY_NAME[name].conflated, name


def test_room_is_formatted_from_the_payload_fields() -> None:
    bars = BY_NAME["bar_update"]
    assert bars.room_for({"symbol": "SPY", "timeframe": "5m", "bar": {}}) == "bars:SPY:5m"
    assert bars.room_for({}) == "bars::"
    assert BY_NAME["quote_update"].room_for({"symbol": "SPY"}) is None


def test_rate_column_is_derived_from_the_delivery() -> None:
    assert BY_NAME["safety_update"].rate() == "immediate"
    assert BY_NAME["orders_update"].rate() == "conflated"
    assert BY_NAME["quote_update"].rate() == "conflated per symbol"


def test_a_log_tag_without_the_activity_stream_is_refused() -> None:
    with pytest.raises(ValueError, match="activity"):
        Topic("x", "`{}`", log_tag="X")
