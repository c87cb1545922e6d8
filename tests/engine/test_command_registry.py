"""The command registry is the one list: engine handlers, the late policy and the docs follow it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from dashboard.settings import VigilSettings
from engine import command_docs
from engine.clock import FakeClock
from engine.commands import (
    COMMAND_SPECS,
    INTAKE_SIGNAL,
    LINK_STATE,
    QUERY_SPECS,
    SPECS,
    parse_command,
)
from engine.controls import OperatorControls
from engine.runtime import EngineRuntime
from engine.users import ROLES
from tests.conftest import ADMIN_PASSWORD, SyncEngine

ENGINE_SPECS = [spec for spec in COMMAND_SPECS if spec.handler is not None]

# A payload the engine accepts for each command it runs.
VALID: dict[str, dict[str, Any]] = {
    "kill_switch": {"level": "halt", "reason": "registry"},
    "reset_kill_switch": {"reason": "registry", "confirm": "RESET", "password": ADMIN_PASSWORD},
    "place_order": {"symbol": "SPY", "side": "buy", "qty": 1},
    "close_position": {"symbol": "SPY"},
    "cancel_order": {"id": "P-1"},
    "modify_stops": {"symbol": "SPY", "stop_loss": 1.0},
    "pause_entries": {},
    "resume_entries": {},
    "bot_start": {},
    "bot_stop": {},
    "set_signal_mode": {"mode": "approve"},
    "set_strategy": {"name": "demo", "size_multiplier": 1.5},
    "approve_signal": {"id": "sig-1"},
    "reject_signal": {"id": "sig-1"},
    "set_risk_override": {"name": "max_notional", "value": 100.0},
    "clear_risk_override": {"name": "max_notional"},
    "acknowledge_reconciliation": {},
}


def test_events_md_command_table_then_the_one_rendered_from_the_registry() -> None:
    text = command_docs.EVENTS_MD.read_text(encoding="utf-8")
    assert command_docs.updated(text) == text, "run: python -m engine.command_docs"
    for spec in COMMAND_SPECS:
        assert f"| `{spec.name}` |" in text


def test_handlers_then_each_named_by_exactly_one_entry_and_each_entry_names_one() -> None:
    handlers = {
        name
        for name, member in vars(OperatorControls).items()
        if callable(member) and not name.startswith("_") and name != "execute"
    }
    named = [spec.handler for spec in ENGINE_SPECS] + [query.handler for query in QUERY_SPECS]
    named.append(INTAKE_SIGNAL)  # the signal webhook's hand-over, no client command
    named.append(LINK_STATE)  # the Redis relay's link state (dashboard/relay.py), no client command
    assert sorted(named) == sorted(handlers)
    for spec in COMMAND_SPECS:
        assert spec.role in ROLES
    assert not set(SPECS) & {query.name for query in QUERY_SPECS}
    assert set(VALID) == {spec.name for spec in ENGINE_SPECS}


def test_execute_of_a_name_with_no_engine_handler_then_unknown_command(
    engine: SyncEngine,
) -> None:
    for name in ("test_notification", "request_state", "feed_error", "nonsense"):
        assert engine.parts.commands.execute(name, {}, "t")["error"]["code"] == "UNKNOWN_COMMAND", (
            name
        )


def test_query_then_no_safety_published_and_command_then_safety_published(
    engine: SyncEngine,
) -> None:
    engine.market(1.0)
    engine.events.clear()
    assert engine.parts.commands.execute("query_ticks_csv", {"symbol": "SPY"}, "query")["ok"]
    assert engine.topics("safety_update") == []
    assert engine.do("pause_entries", {})["ok"]
    assert engine.topics("safety_update")


@pytest.fixture
def blocked(settings: VigilSettings, clock: FakeClock) -> Iterator[EngineRuntime]:
    """A runtime whose 'engine thread' is stuck: commands wait in the queue until drained."""
    rt = EngineRuntime(settings.engine, clock=clock)
    rt.boot()
    gate = threading.Event()
    stuck = threading.Thread(target=gate.wait, daemon=True)
    stuck.start()
    rt._thread = stuck
    yield rt
    gate.set()
    rt._thread = None
    rt.stop()


@pytest.mark.parametrize("name", [spec.name for spec in ENGINE_SPECS])
def test_command_whose_caller_timed_out_then_runs_late_or_is_dropped_as_its_entry_says(
    blocked: EngineRuntime, name: str
) -> None:
    command = parse_command(name, VALID[name])
    assert not isinstance(command, dict), command
    answer = blocked.call(name, command, "tina", timeout=0.01)
    assert answer["error"]["code"] == "TIMEOUT"
    blocked.drain()
    kinds = {
        a["kind"]
        for a in blocked.snapshot()["activity"]
        if a.get("kind") in ("late_command", "dropped_command")
        and a["message"].startswith(f"{name} by tina ")
    }
    dropped = any(e["action"] == f"{name}_dropped" for e in blocked.parts.store.audit_log())
    if SPECS[name].runs_late:
        assert "will still run" in answer["error"]["message"]
        assert kinds == {"late_command"} and not dropped
    else:
        assert "was withdrawn" in answer["error"]["message"]
        assert kinds == {"dropped_command"} and dropped


def test_payload_doc_then_optional_fields_marked_and_choices_listed() -> None:
    doc = command_docs.payload_doc(SPECS["place_order"].model)  # type: ignore[arg-type]
    assert doc.startswith('{"symbol": str, "side": "buy"|"sell", "qty": number, "type"?:')
