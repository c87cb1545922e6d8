"""The kill switch inside the engine: levels, idempotence, latch polling, fail-closed boot."""

from __future__ import annotations

import threading
import time

from dashboard.settings import VigilSettings
from engine.clock import FakeClock
from engine.command_payloads import KillSwitchCmd
from engine.models import KillLevel
from engine.runtime import EngineRuntime
from engine.safety.latch import KillSwitchLatch
from tests.conftest import SyncEngine


def rest_limit_orders(engine: SyncEngine, count: int) -> None:
    quote = engine.parts.market.quote("QQQ")
    for i in range(count):
        answer = engine.do(
            "place_order",
            {
                "symbol": "QQQ",
                "side": "buy",
                "qty": 0.1,
                "type": "limit",
                "limit_price": round(quote.bid * (0.99 - i * 0.001), 2),
            },
        )
        assert answer["ok"], answer
        engine.clock.advance(0.001)


def test_halt_when_orders_open_then_all_cancelled_and_new_orders_denied(engine: SyncEngine) -> None:
    engine.market(2)
    rest_limit_orders(engine, 3)
    assert len(engine.parts.broker.open_orders()) == 3

    answer = engine.do("kill_switch", {"level": "halt", "reason": "test halt"})

    assert answer["ok"] and answer["changed"] and answer["cancelled"] == 3
    assert engine.parts.broker.open_orders() == []
    assert engine.parts.safety.trading_state.value == "HALTED"
    activated = engine.topics("kill_switch_activated")
    assert activated[-1]["level"] == "halt" and activated[-1]["cancelled"] == 3
    denied = engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.1})
    assert denied["error"]["code"] == "TRADING_HALTED"
    assert not engine.parts.desk.strategy_attached


def test_engage_twice_then_one_cancel_all_and_one_audit_record(engine: SyncEngine) -> None:
    engine.market(2)
    rest_limit_orders(engine, 2)
    first = engine.do("kill_switch", {"level": "halt", "reason": "first click"})
    second = engine.do("kill_switch", {"level": "halt", "reason": "double click"})
    assert first["changed"] and not second["changed"]
    audits = [e for e in engine.parts.store.audit_log() if e["action"] == "kill_switch_engaged"]
    assert len(audits) == 1
    assert len(engine.topics("kill_switch_activated")) == 1


def test_pause_then_entries_denied_but_exits_allowed(engine: SyncEngine) -> None:
    engine.market(2)
    assert engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})["ok"]
    engine.do("kill_switch", {"level": "pause", "reason": "lunch"})
    entry = engine.do("place_order", {"symbol": "SPY", "side": "buy", "qty": 0.1})
    assert not entry["ok"] and entry["error"]["code"] in {"REDUCING_ONLY", "ENTRIES_PAUSED"}
    exit_ = engine.do("close_position", {"symbol": "QQQ"})
    assert exit_["ok"], exit_
    assert engine.parts.desk.ledger.position("QQQ") is None


def test_flatten_then_positions_closed_and_latched_until_reset(engine: SyncEngine) -> None:
    engine.market(2)
    assert engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})["ok"]
    assert engine.do("place_order", {"symbol": "ETH/USD", "side": "sell", "qty": 0.1})["ok"]
    answer = engine.do("kill_switch", {"level": "flatten", "reason": "get out"})
    assert answer["ok"]
    assert engine.parts.desk.is_flat()
    assert engine.parts.broker.open_orders() == []
    assert engine.parts.safety.trading_state.value == "HALTED"
    reset = engine.do(
        "reset_kill_switch",
        {"reason": "all clear", "confirm": "RESET", "password": "x"},
        actor="admin",
    )
    assert reset["ok"] and reset["trading_state"] == "ACTIVE"
    assert engine.topics("kill_switch_reset")[-1]["actor"] == "admin"


def test_reset_when_flatten_could_not_finish_then_refused(
    settings: VigilSettings, clock: FakeClock
) -> None:
    engine = SyncEngine(settings, clock)
    engine.market(2)
    assert engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5})["ok"]
    engine.parts.safety.flatten_pending = True  # as if the close order had been rejected
    engine.parts.safety.engage(KillLevel.HALT, "halted first", "alice", engine.parts.desk)
    answer = engine.do(
        "reset_kill_switch",
        {"reason": "too soon", "confirm": "RESET", "password": "x"},
        actor="admin",
    )
    assert answer["error"]["code"] == "FLATTEN_IN_PROGRESS"
    assert engine.parts.safety.trading_state.value == "HALTED"
    engine.close()


def test_latch_written_by_another_process_then_running_engine_halts_within_a_second(
    settings: VigilSettings,
) -> None:
    rt = EngineRuntime(settings.engine)
    seen = threading.Event()
    rt.bus.subscribe(lambda t, p: seen.set(), {"kill_switch_activated"})
    rt.start(feed=False)
    try:
        assert rt.wait_idle(10)  # the engine runs and has read the latch once
        started = time.monotonic()
        KillSwitchLatch(settings.engine.store.latch_path).engage(
            KillLevel.HALT, "from cli", "cli:ops", time.time()
        )
        assert seen.wait(1.0), "the engine did not notice the latch within 1 s"
        assert time.monotonic() - started < 1.0
        assert rt.snapshot()["safety"]["trading_state"] == "HALTED"
    finally:
        rt.stop()


def test_two_operators_engage_at_once_then_exactly_one_cancel_all(settings: VigilSettings) -> None:
    rt = EngineRuntime(settings.engine)
    rt.start(feed=False)
    try:
        answers: list[dict] = []
        barrier = threading.Barrier(2)

        def engage(who: str) -> None:
            barrier.wait()
            answers.append(
                rt.call(
                    "kill_switch",
                    KillSwitchCmd(level=KillLevel.HALT, reason=f"{who} says stop"),
                    who,
                )
            )

        threads = [threading.Thread(target=engage, args=(n,)) for n in ("ann", "bob")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        assert sorted(a["changed"] for a in answers) == [False, True]
        engaged = [e for e in rt.parts.store.audit_log() if e["action"] == "kill_switch_engaged"]
        assert len(engaged) == 1
    finally:
        rt.stop()


def test_boot_when_latch_is_garbage_then_halted_with_reason(
    settings: VigilSettings, clock: FakeClock
) -> None:
    settings.engine.store.latch_path.write_text('{"body": {"engaged": tru')
    engine = SyncEngine(settings, clock)
    assert engine.parts.safety.trading_state.value == "HALTED"
    assert "unreadable" in engine.parts.safety.state_reason()
    assert engine.topics("risk_limit")[0]["code"] == "FAIL_CLOSED"
    denied = engine.do("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.1})
    assert denied["error"]["code"] == "TRADING_HALTED"
    engine.close()


def test_boot_when_latch_truncated_then_halted(settings: VigilSettings, clock: FakeClock) -> None:
    latch = KillSwitchLatch(settings.engine.store.latch_path)
    latch.engage(KillLevel.PAUSE, "seed", "t", time.time())
    data = settings.engine.store.latch_path.read_bytes()
    settings.engine.store.latch_path.write_bytes(data[: len(data) // 2])
    engine = SyncEngine(settings, clock)
    assert engine.parts.safety.trading_state.value == "HALTED"
    engine.close()


def test_boot_when_latch_missing_but_store_says_engaged_then_halted(
    settings: VigilSettings, clock: FakeClock
) -> None:
    first = SyncEngine(settings, clock)
    first.do("kill_switch", {"level": "halt", "reason": "before crash"})
    first.close()
    settings.engine.store.latch_path.unlink()
    second = SyncEngine(settings, clock)
    assert second.parts.safety.trading_state.value == "HALTED"
    assert "missing" in second.parts.safety.state_reason()
    second.close()


def test_restart_while_halted_then_halted_before_any_order(
    settings: VigilSettings, clock: FakeClock
) -> None:
    first = SyncEngine(settings, clock)
    first.do("kill_switch", {"level": "halt", "reason": "overnight"})
    first.close()
    second = SyncEngine(settings, clock)
    assert second.parts.safety.trading_state.value == "HALTED"
    assert second.parts.safety.kill.reason == "overnight"
    assert not second.parts.desk.strategy_attached
    second.close()
