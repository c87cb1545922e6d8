"""Venue events on the engine's queue: after commands, before market data, never dropped."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any

import pytest

import engine.runtime as runtime_module
from dashboard.settings import VigilSettings
from engine.clock import SystemClock
from engine.command_payloads import EmptyCmd
from engine.queue_items import COMMAND_PRIORITY, Call, Item
from engine.runtime import EngineRuntime
from engine.settings_group import SettingsError
from engine.venues.base import AccountEvent, VenueAccount
from engine.venues.registry import BROKERS, FEEDS, build_broker, build_feed
from tests.conftest import make_settings


def account_event(cash: float) -> AccountEvent:
    return AccountEvent(VenueAccount("paper", cash, cash, cash), time.time())


def test_venue_event_then_handled_before_queued_market_data(settings: VigilSettings) -> None:
    rt = EngineRuntime(settings.engine)
    rt.boot()
    try:
        for event in rt.parts.feed.step(time.time(), 0.2):
            rt.submit_market(event)
        rt.submit_venue(account_event(123.0))

        rt.run_once()

        assert rt.parts.venue_account is not None and rt.parts.venue_account.cash == 123.0
        assert rt.parts.market.quote("QQQ") is None  # the market data is still waiting
    finally:
        rt.stop()


def test_command_then_handled_before_queued_venue_event(settings: VigilSettings) -> None:
    rt = EngineRuntime(settings.engine)
    rt.boot()
    try:
        rt.submit_venue(account_event(1.0))
        future: Future[dict[str, Any]] = Future()
        rt._queue.put(Item(COMMAND_PRIORITY, 10**9, Call("pause_entries", EmptyCmd(), "t", future)))

        rt.run_once()

        assert future.result(0)["ok"] and rt.parts.venue_account is None
        rt.run_once()
        assert rt.parts.venue_account is not None
    finally:
        rt.stop()


def test_market_backlog_then_market_dropped_but_venue_events_kept(
    settings: VigilSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_module, "MAX_MARKET_BACKLOG", 3)
    rt = EngineRuntime(settings.engine)
    rt.boot()
    try:
        for event in rt.parts.feed.step(time.time(), 0.2) * 3:
            rt.submit_market(event)
        assert rt.dropped_market_events > 0
        senders = [
            threading.Thread(target=rt.submit_venue, args=(account_event(float(i)),))
            for i in range(5)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        handled = []
        while rt.run_once():
            if rt.parts.venue_account is not None:
                handled.append(rt.parts.venue_account.cash)
                rt.parts.venue_account = None
        assert sorted(handled) == [0.0, 1.0, 2.0, 3.0, 4.0]
    finally:
        rt.stop()


def test_registry_then_one_line_per_name(tmp_path: Any) -> None:
    assert set(BROKERS) == {"paper", "alpaca", "ccxt"}
    assert set(FEEDS) == {"sim", "replay", "alpaca", "polygon", "ccxt"}
    settings = make_settings(tmp_path / "var")
    feed = build_feed(settings.engine, SystemClock())
    broker = build_broker(settings.engine, SystemClock(), feed.instruments)
    assert broker.name == "paper"


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"VIGIL_BROKER": "ccxt"}, "VIGIL_BROKER: 'ccxt' is not available"),
        ({"VIGIL_FEED": "ccxt"}, "VIGIL_FEED: 'ccxt' is not available"),
    ],
)
def test_registry_when_name_not_available_then_one_line_naming_the_variable(
    tmp_path: Any, env: dict[str, str], line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every name the settings accept may have its line by now: take it out for this test.
    for registry, name in ((BROKERS, env.get("VIGIL_BROKER")), (FEEDS, env.get("VIGIL_FEED"))):
        if name in registry:
            monkeypatch.delitem(registry, name)
    settings = make_settings(tmp_path / "var", **env)
    with pytest.raises(SettingsError, match=line):
        if "VIGIL_FEED" in env:
            build_feed(settings.engine, SystemClock())
        else:
            build_broker(settings.engine, SystemClock(), {})


def test_unreadable_paper_record_then_start_refused_with_one_line(tmp_path: Any) -> None:
    settings = make_settings(tmp_path / "var")
    settings.engine.store.paper_venue_path.write_text("garbage")
    with pytest.raises(SettingsError, match=r"^VIGIL_DATA_DIR: paper venue record"):
        build_broker(settings.engine, SystemClock(), {})
