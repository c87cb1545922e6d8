"""The kill switch's and the reset's answers say what happened (engine/kill_messages.py)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.commands import parse_command
from tests.conftest import ADMIN_PASSWORD, SyncEngine, make_settings
from tests.engine.test_operator_controls import ROOMY, buy, quote


@pytest.fixture
def settings(tmp_path: Any) -> Any:
    return make_settings(tmp_path / "var", **ROOMY)


def test_pause_while_halted_then_answer_says_nothing_changed(engine: SyncEngine) -> None:
    engine.market(1)
    engine.do("kill_switch", {"level": "halt", "reason": "first halt"})

    answer = engine.do("kill_switch", {"level": "pause", "reason": "late pause"})

    assert answer["ok"] and answer["changed"] is False
    assert answer["message"].startswith("Nothing changed: the kill switch is already at halt")
    assert "engaged (pause)" not in answer["message"]


def test_flatten_then_answer_names_orders_cancelled_and_positions_closing(
    engine: SyncEngine,
) -> None:
    buy(engine, 2)
    far = round(quote(engine).bid * 0.98, 2)
    engine.do(
        "place_order",
        {"symbol": "QQQ", "side": "buy", "qty": 1, "type": "limit", "limit_price": far},
    )
    engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 1})
    engine.parts.desk.broker.stall()  # the closes stay in flight while the answer is read

    answer = engine.parts.commands.execute(
        "kill_switch", parse_command("kill_switch", {"level": "flatten", "reason": "flat"}), "a"
    )

    assert answer["positions"] == 2 and answer["closing"] == 2, answer
    assert "closing 2 positions (2 close orders sent)" in answer["message"], answer["message"]
    assert "order cancelled" in answer["message"] or "orders cancelled" in answer["message"]


def test_reset_after_halt_then_answer_says_the_bot_stays_stopped(engine: SyncEngine) -> None:
    engine.market(1)
    engine.do("kill_switch", {"level": "halt", "reason": "halt for reset"})
    answer = engine.do(
        "reset_kill_switch",
        {"reason": "all clear", "confirm": "RESET", "password": ADMIN_PASSWORD},
        actor="admin",
    )

    assert answer["ok"], answer
    assert answer["strategy"] == "stopped"
    assert "The bot stays stopped" in answer["message"]
    assert "trading ACTIVE" in answer["message"]
