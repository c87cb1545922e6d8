"""VIGIL_SYMBOLS: the instruments of every feed (sim subset, replay file's symbols)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.bus import EventBus
from engine.clock import FakeClock
from engine.models import TradeTick
from engine.parts import build_parts
from engine.settings import SettingsError
from engine.state import DashboardState
from engine.venues.replay.feed import build_replay_feed
from engine.venues.sim.catalogue import DEFAULT_INSTRUMENTS, OPTION_SYMBOL
from tests.conftest import make_engine_settings, make_settings
from tests.engine.test_replay_feed import HEADER, T0, play_to_end, replay_env, write


def test_sim_symbols_when_a_subset_then_only_those_instruments(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var", VIGIL_SYMBOLS="QQQ, BTC/USD")
    parts = build_parts(settings.engine, FakeClock(), *_bus_state())
    try:
        assert list(parts.feed.instruments) == ["QQQ", "BTC/USD"]
        assert parts.market.symbols == ["QQQ", "BTC/USD"]
        symbols = {getattr(e, "symbol", None) for e in parts.feed.step(T0, 1.0)} - {None}
        assert symbols == {"QQQ", "BTC/USD"}
    finally:
        parts.close()


def test_sim_symbols_when_unset_then_the_full_default_set(tmp_path: Path) -> None:
    parts = build_parts(make_engine_settings(tmp_path / "var"), FakeClock(), *_bus_state())
    try:
        assert set(parts.feed.instruments) == set(DEFAULT_INSTRUMENTS)
    finally:
        parts.close()


@pytest.mark.parametrize(
    ("symbols", "expected"),
    [
        ("SPY,DOGE", "VIGIL_SYMBOLS: 'DOGE' is not in the simulated market"),
        ("spy", "VIGIL_SYMBOLS: 'spy' is not in the simulated market"),
        (OPTION_SYMBOL, f"VIGIL_SYMBOLS: the option '{OPTION_SYMBOL}' needs its underlying SPY"),
        ("SPY,SPY", "VIGIL_SYMBOLS: Value error, SPY listed more than once"),
    ],
)
def test_sim_symbols_when_unknown_then_one_line_error(
    tmp_path: Path, symbols: str, expected: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        build_parts(
            make_engine_settings(tmp_path / "var", VIGIL_SYMBOLS=symbols),
            FakeClock(),
            *_bus_state(),
        )
    assert str(caught.value).startswith(expected)


def test_replay_symbols_when_not_in_the_file_then_refused(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2020-04-01T08:00:00Z,10,11,9,10,5\n")
    settings = make_settings(tmp_path / "var", **replay_env(path, VIGIL_SYMBOLS="SPY"))
    with pytest.raises(SettingsError, match=r"^VIGIL_SYMBOLS: 'SPY' is not in the replay file"):
        build_replay_feed(settings.engine.feed)


def test_symbol_column_when_several_symbols_then_default_all_and_vigil_symbols_picks(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "symbol,timestamp,open,high,low,close,volume\n"
        "SPY,2020-04-01T08:00:00Z,250,251,249,250.5,10\n"
        "QQQ,2020-04-01T08:00:00Z,185,186,184,185.5,10\n"
        "SPY,2020-04-01T08:01:00Z,250,252,250,251,10\n",
    )
    env = {"VIGIL_FEED": "replay", "VIGIL_REPLAY_CSV": str(path)}
    feed = build_replay_feed(make_engine_settings(tmp_path / "a", **env).feed)
    assert list(feed.instruments) == ["SPY", "QQQ"]
    picked = build_replay_feed(
        make_engine_settings(tmp_path / "b", **env, VIGIL_SYMBOLS="QQQ").feed
    )
    assert list(picked.instruments) == ["QQQ"]
    events = play_to_end(picked, 0.0)
    assert {e.symbol for e in events if isinstance(e, TradeTick)} == {"QQQ"}
    spare = {**env, "VIGIL_REPLAY_SYMBOL": "IWM"}
    with pytest.raises(SettingsError, match=r"^VIGIL_REPLAY_SYMBOL: IWM names no file"):
        build_replay_feed(make_engine_settings(tmp_path / "c", **spare).feed)


def test_two_files_when_listed_then_each_takes_its_replay_symbol(tmp_path: Path) -> None:
    a = write(tmp_path, HEADER + "2020-04-01T08:00:00Z,10,11,9,10,5\n", "a.csv")
    b = write(tmp_path, HEADER + "2020-04-01T08:00:00Z,20,21,19,20,5\n", "b.csv")
    env = {
        "VIGIL_FEED": "replay",
        "VIGIL_REPLAY_CSV": f"{a},{b}",
        "VIGIL_REPLAY_SYMBOL": "AAA,BBB",
    }
    feed = build_replay_feed(make_engine_settings(tmp_path / "var", **env).feed)
    trades = [e for e in play_to_end(feed, 0.0) if isinstance(e, TradeTick)]
    assert {(t.symbol, t.price) for t in trades if t.ts == T0} == {("AAA", 10), ("BBB", 20)}


def _bus_state() -> tuple[Any, Any]:
    return EventBus(), DashboardState()
