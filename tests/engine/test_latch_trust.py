"""The latch under faults, in one engine: deleted, forged, lowered or replaced files fail closed;
only a recorded reset releases; a halt that cannot be saved still holds and is retried."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from dashboard.settings import VigilSettings
from engine.bus import EventBus
from engine.clock import FakeClock
from engine.models import KillLevel
from engine.safety.breakers import BreakerBoard, build_breakers
from engine.safety.checks import Limits
from engine.safety.latch import KillSwitchLatch
from engine.safety.manager import ENGAGED_KEY, SafetyManager
from engine.store import Store
from notifier.rules import AlertMapper
from tests.conftest import SyncEngine
from tests.engine.test_kill_switch_engine import rest_limit_orders
from tests.storage_faults import frozen, require_freezable


def audit_actions(engine: SyncEngine) -> list[str]:
    return [row["action"] for row in engine.parts.store.audit_log()]


def cli_reset(settings: VigilSettings, store_engine: SyncEngine, who: str = "admin") -> int:
    """What `flask kill-switch reset` does once the password checked out."""
    latch = KillSwitchLatch(settings.engine.store.latch_path)

    def record(seq: int) -> None:
        store_engine.parts.store.audit(
            who, "kill_switch_reset", reason="cli", details={"latch_seq": seq, "source": "cli"}
        )

    return latch.reset(who, "checked from the shell", time.time(), before_write=record).seq


def halted(engine: SyncEngine) -> bool:
    return engine.parts.safety.trading_state.value == "HALTED"


def test_latch_deleted_while_engaged_then_halted_audited_alerted_and_rewritten(
    engine: SyncEngine, settings: VigilSettings
) -> None:
    engine.do("kill_switch", {"level": "pause", "reason": "lunch"})
    seq_before = KillSwitchLatch(settings.engine.store.latch_path).read().seq
    settings.engine.store.latch_path.unlink()

    engine.parts.safety_loop.poll_latch()
    safety = engine.rt.snapshot()["safety"]
    assert safety["trading_state"] == "HALTED"  # a PAUSE is escalated: the latch is gone
    assert "deleted" in safety["state_reason"]
    assert "latch_untrusted" in audit_actions(engine)
    fail = [p for p in engine.topics("risk_limit") if p["code"] == "FAIL_CLOSED"]
    assert fail and "deleted" in fail[-1]["message"]
    alerts = AlertMapper().map("risk_limit", fail[-1])
    assert alerts and alerts[0].kind == "fail_closed"
    rewritten = KillSwitchLatch(settings.engine.store.latch_path).read()
    assert rewritten.engaged and rewritten.level is KillLevel.HALT
    assert rewritten.seq > seq_before


def test_latch_deleted_then_restart_still_halted(settings: VigilSettings, clock: FakeClock) -> None:
    first = SyncEngine(settings, clock)
    first.do("kill_switch", {"level": "halt", "reason": "night"})
    settings.engine.store.latch_path.unlink()
    first.parts.safety_loop.poll_latch()
    first.close()
    second = SyncEngine(settings, clock)
    assert halted(second)
    second.close()


def test_latch_deleted_while_released_then_nothing_happens(
    engine: SyncEngine, settings: VigilSettings
):
    engine.do("kill_switch", {"level": "halt", "reason": "xyz"})
    assert engine.do(
        "reset_kill_switch",
        {"reason": "all clear", "confirm": "RESET", "password": "x"},
        actor="admin",
    )["ok"]
    settings.engine.store.latch_path.unlink()
    engine.parts.safety_loop.poll_latch()
    assert engine.parts.safety.trading_state.value == "ACTIVE"
    assert "latch_untrusted" not in audit_actions(engine)


def test_released_latch_written_by_hand_then_halted_and_latch_reengaged(
    engine: SyncEngine, settings: VigilSettings
) -> None:
    engine.market(2)
    engine.do("kill_switch", {"level": "halt", "reason": "stop"})
    # A valid, checksummed released latch, but no reset behind it.
    KillSwitchLatch(settings.engine.store.latch_path).reset("mallory", "by hand", time.time())
    engine.parts.safety_loop.poll_latch()
    assert halted(engine)
    assert "released outside a reset" in engine.parts.safety.state_reason()
    assert KillSwitchLatch(settings.engine.store.latch_path).read().engaged
    denied = engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.1})
    assert denied["error"]["code"] == "TRADING_HALTED"


def test_old_released_copy_put_back_then_halted(
    engine: SyncEngine, settings: VigilSettings
) -> None:
    engine.do("kill_switch", {"level": "halt", "reason": "first"})
    cli_reset(settings, engine)
    engine.parts.safety_loop.poll_latch()
    old_copy = settings.engine.store.latch_path.read_bytes()  # released, with its reset recorded
    engine.do("kill_switch", {"level": "halt", "reason": "second"})
    settings.engine.store.latch_path.write_bytes(old_copy)
    engine.parts.safety_loop.poll_latch()
    assert halted(engine)
    assert "older released copy" in engine.parts.safety.state_reason()


def test_latch_lowered_by_hand_then_halted(engine: SyncEngine, settings: VigilSettings) -> None:
    engine.do("kill_switch", {"level": "halt", "reason": "stop"})
    latch = KillSwitchLatch(settings.engine.store.latch_path)
    latch.reset("mallory", "x", time.time())
    latch.engage(KillLevel.PAUSE, "only a pause", "mallory", time.time())
    engine.parts.safety_loop.poll_latch()
    assert halted(engine)
    assert "lowered" in engine.parts.safety.state_reason()
    assert latch.read().level is KillLevel.HALT


def test_corrupt_latch_at_runtime_then_halted_and_reset_releases(
    engine: SyncEngine, settings: VigilSettings
) -> None:
    settings.engine.store.latch_path.write_text("{not json")
    engine.parts.safety_loop.poll_latch()
    assert halted(engine) and "unreadable" in engine.parts.safety.state_reason()
    assert "{not json" in engine.parts.store.audit_log()[0]["details"]["file"]
    answer = engine.do(
        "reset_kill_switch", {"reason": "fixed", "confirm": "RESET", "password": "x"}, "admin"
    )
    assert answer["ok"] and answer["trading_state"] == "ACTIVE"


def test_recorded_cli_reset_then_released_audited_and_in_activity(
    engine: SyncEngine, settings: VigilSettings
) -> None:
    engine.do("kill_switch", {"level": "halt", "reason": "stop"})
    cli_reset(settings, engine, who="root-admin")
    engine.parts.safety_loop.poll_latch()
    assert engine.parts.safety.trading_state.value == "ACTIVE"
    assert engine.topics("kill_switch_reset")[-1]["actor"] == "root-admin"
    applied = [
        r for r in engine.parts.store.audit_log() if r["action"] == "kill_switch_reset_applied"
    ]
    assert applied and applied[0]["actor"] == "root-admin"
    assert engine.parts.store.get_kv(ENGAGED_KEY) == "0"


def test_cli_engage_then_immediate_engage_applies_it_and_answers_the_truth(
    engine: SyncEngine, settings: VigilSettings
) -> None:
    engine.market(2)
    rest_limit_orders(engine, 2)
    KillSwitchLatch(settings.engine.store.latch_path).engage(
        KillLevel.HALT, "from cli", "cli:ops", time.time()
    )
    # No poll in between: the page's engage arrives first.
    answer = engine.do("kill_switch", {"level": "halt", "reason": "from page"})
    assert answer["ok"] and answer["trading_state"] == "HALTED"
    assert engine.parts.broker.open_orders() == []
    assert halted(engine)
    engaged = [r for r in engine.parts.store.audit_log() if r["action"] == "kill_switch_engaged"]
    assert engaged and engaged[0]["actor"] == "cli:ops"
    assert engine.topics("kill_switch_activated")[-1]["actor"] == "cli:ops"
    reset = engine.do(
        "reset_kill_switch", {"reason": "done", "confirm": "RESET", "password": "x"}, "admin"
    )
    assert reset["ok"] and reset["trading_state"] == "ACTIVE"


def test_flatten_pending_survives_restart_and_flatten_retries(
    settings: VigilSettings, clock: FakeClock
) -> None:
    first = SyncEngine(settings, clock)
    first.market(2)
    assert first.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})["ok"]
    # The CLI engages FLATTEN; the server dies before it acts on it.
    KillSwitchLatch(settings.engine.store.latch_path).engage(
        KillLevel.FLATTEN, "out", "cli:ops", time.time()
    )
    first.close()
    second = SyncEngine(settings, clock)
    assert second.parts.safety.flatten_pending
    assert second.rt.snapshot()["safety"]["flatten_pending"] is True
    assert not second.parts.desk.is_flat()
    second.market(2)  # quotes arrive; the periodic evaluation retries the flatten
    assert second.parts.desk.is_flat()
    second.close()


def test_boot_when_latch_released_but_store_engaged_without_reset_then_halted(
    settings: VigilSettings, clock: FakeClock
) -> None:
    first = SyncEngine(settings, clock)
    first.do("kill_switch", {"level": "halt", "reason": "xyz"})
    first.close()
    KillSwitchLatch(settings.engine.store.latch_path).reset("mallory", "offline edit", time.time())
    second = SyncEngine(settings, clock)
    assert halted(second) and "no reset is recorded" in second.parts.safety.state_reason()
    second.close()


def test_boot_when_reset_recorded_but_store_not_updated_then_released(
    settings: VigilSettings, clock: FakeClock
) -> None:
    first = SyncEngine(settings, clock)
    first.do("kill_switch", {"level": "halt", "reason": "xyz"})
    cli_reset(settings, first)  # and the CLI died before it set the store's flag
    first.close()
    second = SyncEngine(settings, clock)
    assert second.parts.safety.trading_state.value == "ACTIVE"
    assert second.parts.store.get_kv(ENGAGED_KEY) == "0"
    second.close()


def test_engage_when_latch_unwritable_then_halted_not_durable_then_saved_once_writable(
    engine: SyncEngine, settings: VigilSettings, tmp_path: Path
) -> None:
    require_freezable(tmp_path)
    engine.market(2)
    rest_limit_orders(engine, 3)
    with frozen(settings.engine.store.data_dir):
        answer = engine.do("kill_switch", {"level": "halt", "reason": "disk trouble"})
        assert answer["ok"] and answer["trading_state"] == "HALTED"
        assert answer["durable"] is False and "NOT DURABLE" in answer["warning"]
        assert answer["cancelled"] == 3 and engine.parts.broker.open_orders() == []
        assert engine.rt.health_payload()["status"] == "ERROR"
        safety = engine.rt.snapshot()["safety"]
        assert safety["durable"] is False and "NOT DURABLE" in safety["state_reason"]
        not_durable = [p for p in engine.topics("risk_limit") if p["code"] == "NOT_DURABLE"]
        assert len(not_durable) == 1
        assert AlertMapper().map("risk_limit", not_durable[0])[0].kind == "fail_closed"
        assert not settings.engine.store.latch_path.exists()
        refused = engine.do(
            "reset_kill_switch", {"reason": "go on", "confirm": "RESET", "password": "x"}, "admin"
        )
        assert refused["error"]["code"] == "NOT_DURABLE"
        engine.clock.advance(2)
        engine.parts.safety_loop.poll_latch()  # still frozen: still not durable
        assert engine.parts.safety.durability_problem
    engine.clock.advance(2)
    # The safety manager saves the halt before the engine publishes it: in between, health
    # must not say OK while the page and /api/state still say NOT DURABLE.
    assert engine.parts.safety.poll_latch(engine.parts.desk)
    assert engine.parts.safety.durability_problem == ""
    assert engine.rt.snapshot()["safety"]["durable"] is False
    assert engine.rt.health_payload()["status"] == "ERROR"
    engine.parts.safety_loop.publish(force=True)
    assert engine.rt.snapshot()["safety"]["durable"] is True
    assert engine.rt.health_payload()["status"] == "OK"
    assert KillSwitchLatch(settings.engine.store.latch_path).read().level is KillLevel.HALT
    assert {"kill_switch_engaged", "durability_problem", "durability_restored"} <= set(
        audit_actions(engine)
    )
    assert halted(engine)


def test_engage_when_store_full_then_halted_and_records_written_later(
    engine: SyncEngine, settings: VigilSettings
) -> None:
    engine.market(2)
    conn = engine.parts.store._conn()  # the engine thread's connection: this test's thread
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    for size in (900, 100, 1):  # use up the free space inside the file too
        try:
            for _ in range(10_000):
                conn.execute(
                    "INSERT INTO kv (key, value) VALUES (randomblob(16), randomblob(?))", (size,)
                )
        except sqlite3.OperationalError as exc:
            assert "full" in str(exc)
        else:
            raise AssertionError("the store never filled up")
    engaged_at = engine.clock.time()
    answer = engine.do("kill_switch", {"level": "halt", "reason": "disk full"})
    assert answer["ok"] and answer["durable"] is False
    assert halted(engine)
    assert (
        KillSwitchLatch(settings.engine.store.latch_path).read().engaged
    )  # the latch file did save
    assert engine.parts.store.get_kv(ENGAGED_KEY) != "1"
    conn.execute("PRAGMA max_page_count = 1073741823")
    engine.clock.advance(2)
    engine.parts.safety_loop.poll_latch()
    assert not engine.parts.safety.durability_problem
    assert engine.parts.store.get_kv(ENGAGED_KEY) == "1"
    row = next(r for r in engine.parts.store.audit_log() if r["action"] == "kill_switch_engaged")
    assert row["ts"] == round(engaged_at * 1000)  # recorded late, with its own time


def test_reset_when_latch_cannot_be_written_then_refused_and_its_seq_void(
    engine: SyncEngine, settings: VigilSettings, tmp_path: Path
) -> None:
    require_freezable(tmp_path)
    engine.do("kill_switch", {"level": "halt", "reason": "stop"})
    engaged_seq = KillSwitchLatch(settings.engine.store.latch_path).read().seq
    with frozen(settings.engine.store.data_dir):
        answer = engine.do(
            "reset_kill_switch", {"reason": "go on", "confirm": "RESET", "password": "x"}, "admin"
        )
    assert answer["error"]["code"] == "STORAGE_UNAVAILABLE"
    assert halted(engine) and KillSwitchLatch(settings.engine.store.latch_path).read().engaged
    # The reset row for engaged_seq + 1 was written, then voided: a hand-made latch with that
    # seq is still foreign.
    forged = KillSwitchLatch(settings.engine.store.latch_path).reset(
        "mallory", "reuse", time.time()
    )
    assert forged.seq == engaged_seq + 1
    engine.parts.safety_loop.poll_latch()
    assert halted(engine) and "released outside a reset" in engine.parts.safety.state_reason()


class VenueDown:
    """An executor whose venue fails mid-cancel (not a storage fault)."""

    def detach_strategy(self, reason: str) -> None:
        pass

    def cancel_all_orders(self, reason: str) -> list[dict[str, Any]]:
        raise ConnectionError("venue unreachable")

    def flatten_positions(self, reason: str) -> list[dict[str, Any]]:
        raise ConnectionError("venue unreachable")

    def is_flat(self) -> bool:
        return False


def safety_manager(settings: VigilSettings, clock: FakeClock, store: Store) -> SafetyManager:
    manager = SafetyManager(
        clock=clock,
        bus=EventBus(clock),
        store=store,
        latch=KillSwitchLatch(settings.engine.store.latch_path),
        board=BreakerBoard(build_breakers(settings.engine.breakers.names, settings.engine.limits)),
        limits=Limits.from_settings(settings.engine.limits),
    )
    manager.boot()
    return manager


def test_engage_when_the_venue_fails_mid_cancel_then_the_halt_is_still_saved(
    settings: VigilSettings, clock: FakeClock
) -> None:
    store = Store(settings.engine.store.db_path)
    first = safety_manager(settings, clock, store)
    with pytest.raises(ConnectionError):
        first.engage(KillLevel.HALT, "venue trouble", "alice", VenueDown())
    assert first.trading_state.value == "HALTED"
    assert KillSwitchLatch(settings.engine.store.latch_path).read().engaged
    assert store.get_kv(ENGAGED_KEY) == "1"
    again = safety_manager(settings, clock, store)
    assert again.trading_state.value == "HALTED"
    store.close()


def test_old_engaged_copy_put_back_then_rewritten_and_a_later_cli_reset_still_works(
    engine: SyncEngine, settings: VigilSettings
) -> None:
    engine.do("kill_switch", {"level": "halt", "reason": "first"})
    old_copy = settings.engine.store.latch_path.read_bytes()
    engine.do("reset_kill_switch", {"reason": "done", "confirm": "RESET", "password": "x"}, "admin")
    engine.do("kill_switch", {"level": "halt", "reason": "second"})
    known = KillSwitchLatch(settings.engine.store.latch_path).read().seq
    settings.engine.store.latch_path.write_bytes(old_copy)
    engine.parts.safety_loop.poll_latch()
    assert halted(engine)
    assert KillSwitchLatch(settings.engine.store.latch_path).read().seq > known
    assert "latch_rewritten" in audit_actions(engine)
    cli_reset(settings, engine)
    engine.parts.safety_loop.poll_latch()
    assert engine.parts.safety.trading_state.value == "ACTIVE"
