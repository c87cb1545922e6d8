"""The Alpaca feed's chart history against the fake REST API: paging, errors, a hang; and the
engine with the Alpaca feed: a silent stream trips the stale-feed breaker; the registry line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from engine.clock import FakeClock, SystemClock
from engine.commands import parse_command
from engine.market.vol_proxy import PROXY_SOURCE
from engine.models import BarEvent, VixUpdate
from engine.runtime import EngineRuntime
from engine.settings import SettingsError as RootSettingsError
from engine.settings_group import SettingsError
from engine.venues.alpaca.data import alpaca_instruments
from engine.venues.alpaca.feed import AlpacaFeed
from engine.venues.base import ConnectionEvent, ConnectionState, VenueError
from engine.venues.registry import build_feed
from tests.conftest import SyncEngine, make_settings, wait_until
from tests.venues.fakes.alpaca_data import API_KEY, CRYPTO_BARS, SECRET_KEY, STOCK_BARS
from tests.venues.fakes.alpaca_data_harness import (
    Sink,
    alpaca_settings,
    connected,
    fakes,
    make_feed,
)

__all__ = ["fakes"]  # the fixture

END = 1_796_040_000.0  # a minute's open
MINUTE = 60.0


def seed(rest: Any, symbol: str, count: int, first: float, end: float = END) -> None:
    rest.add_minutes(symbol, end - count * MINUTE, [first + i for i in range(count)])


def test_history_is_the_last_minute_bars_of_every_symbol_oldest_first_across_pages(
    fakes: Any,
) -> None:
    rest, _ = fakes
    seed(rest, "SPY", 30, 500.0)
    seed(rest, "BTC/USD", 30, 60_000.0)
    rest.add_minutes("SPY", END, [530.0])  # the minute at `end` is after the history
    rest.page_size = 4  # Alpaca pages with next_page_token; the SDK follows them
    feed = make_feed(fakes, ["SPY", "BTC/USD"])
    bars = feed.history(END, 10 * MINUTE)
    spy = [b for b in bars if b.symbol == "SPY"]
    btc = [b for b in bars if b.symbol == "BTC/USD"]
    assert [b.close for b in spy] == [520.0 + i for i in range(10)]
    assert [b.ts for b in spy] == [END - (10 - i) * MINUTE for i in range(10)]
    assert [b.close for b in btc] == [60_020.0 + i for i in range(10)]
    assert all(b.closed for b in bars)
    assert [b.ts for b in bars] == sorted(b.ts for b in bars)
    stock_calls = [p for path, p in rest.requests if path == STOCK_BARS]
    assert len(stock_calls) == 3  # 4 + 4 + 2 bars
    assert stock_calls[0]["feed"] == "iex" and stock_calls[0]["sort"] == "desc"
    assert stock_calls[0]["timeframe"] == "1Min"
    assert any(path == CRYPTO_BARS for path, _ in rest.requests)


def test_history_marks_the_minute_still_forming_open(fakes: Any) -> None:
    rest, _ = fakes
    seed(rest, "QQQ", 3, 430.0, end=END + MINUTE)
    bars = make_feed(fakes, ["QQQ"]).history(END + 20, 5 * MINUTE)
    assert [b.closed for b in bars] == [True, True, False]


@pytest.mark.parametrize(
    ("status", "named"),
    [(403, "HTTP 403"), (422, "HTTP 422"), (500, "HTTP 500"), (429, "HTTP 429")],
)
def test_history_error_for_one_symbol_keeps_the_others_and_is_reported_at_start(
    fakes: Any, status: int, named: str
) -> None:
    rest, stream = fakes
    seed(rest, "SPY", 5, 500.0)
    seed(rest, "BTC/USD", 5, 60_000.0)
    rest.fail_next(1, status, "fake refusal")
    feed, sink = make_feed(fakes, ["SPY", "BTC/USD"]), Sink()
    bars = feed.history(END, 5 * MINUTE)
    assert len({b.symbol for b in bars}) == 1 and len(bars) == 5
    assert len(rest.requests) == 2  # a 429 is not retried: alpaca-py would sleep 3 s
    assert len(feed.history_problems) == 1 and named in feed.history_problems[0]
    feed.start(sink)
    try:
        connected(feed, stream, ["SPY", "BTC/USD"])
    finally:
        feed.stop()
    first = sink.of(ConnectionEvent)[0]
    assert "chart history incomplete" in first.message and named in first.message


def test_history_that_fails_for_every_symbol_raises_naming_the_cause(fakes: Any) -> None:
    rest, _ = fakes
    rest.fail_next(1, 500)
    with pytest.raises(VenueError, match="SPY: HTTP 500"):
        make_feed(fakes, ["SPY"]).history(END, 600)


def test_wrong_keys_on_history_name_the_status(fakes: Any) -> None:
    rest, stream = fakes
    settings = alpaca_settings(rest, stream, ALPACA_SECRET_KEY="wrong")
    feed = AlpacaFeed(settings, ["SPY"], clock=SystemClock())
    with pytest.raises(VenueError, match="HTTP 401"):
        feed.history(END, 600)


def test_a_hung_history_request_is_bounded_by_the_timeout(fakes: Any) -> None:
    rest, _ = fakes
    seed(rest, "BTC/USD", 5, 60_000.0)
    rest.hang_next(1)
    feed = make_feed(
        fakes,
        ["SPY", "BTC/USD"],
        VIGIL_ALPACA_HTTP_TIMEOUT_S="0.3",
        VIGIL_ALPACA_HISTORY_TIMEOUT_S="5",
    )
    started = time.monotonic()
    bars = feed.history(END, 5 * MINUTE)
    # The hung symbol timed out at its HTTP timeout, far inside the history deadline.
    assert time.monotonic() - started < 4.0
    assert len(bars) in (0, 5)
    assert len(feed.history_problems) == 1
    assert "Timeout" in feed.history_problems[0] or "HTTP" not in feed.history_problems[0]


def test_the_history_deadline_bounds_the_whole_load(fakes: Any) -> None:
    rest, _ = fakes
    rest.hang_next(2)
    feed = make_feed(
        fakes,
        ["SPY", "QQQ"],
        VIGIL_ALPACA_HTTP_TIMEOUT_S="30",
        VIGIL_ALPACA_HISTORY_TIMEOUT_S="0.5",
    )
    with pytest.raises(VenueError, match=r"no answer within 0\.5 s"):
        feed.history(END, 600)


def test_instruments_from_alpaca_notation() -> None:
    instruments = alpaca_instruments(["SPY", "BRK.B", "BTC/USD"])
    assert instruments["SPY"].asset_class == "equity" and instruments["SPY"].tick_size == 0.01
    assert instruments["SPY"].lot_size == 1.0
    assert instruments["BTC/USD"].asset_class == "crypto"
    assert instruments["BTC/USD"].lot_size == 0.0001
    assert list(alpaca_instruments([])) == ["SPY", "QQQ", "BTC/USD", "ETH/USD"]
    with pytest.raises(SettingsError, match=r"VIGIL_SYMBOLS: .*'SPY 261218C500'"):
        alpaca_instruments(["SPY", "SPY 261218C500"])
    with pytest.raises(SettingsError, match="'BTCUSD!'"):
        alpaca_instruments(["BTCUSD!"])


def _alpaca_env(rest: Any, stream: Any, **extra: str) -> dict[str, str]:
    return {
        "ALPACA_API_KEY": API_KEY,
        "ALPACA_SECRET_KEY": SECRET_KEY,
        "VIGIL_ALPACA_DATA_URL": rest.url,
        "VIGIL_ALPACA_STREAM_URL": stream.url,
        **extra,
    }


def test_registry_refuses_alpaca_without_keys_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALPACA_API_KEY", raising=False)
    monkeypatch.delenv("ALPACA_SECRET_KEY", raising=False)
    settings = make_settings(tmp_path / "var", VIGIL_FEED="alpaca")
    with pytest.raises(RootSettingsError, match=r"^ALPACA_API_KEY: ") as refused:
        build_feed(settings.engine, SystemClock())
    assert "\n" not in str(refused.value)


def test_registry_builds_the_alpaca_feed_for_the_symbols(tmp_path: Path, fakes: Any) -> None:
    rest, stream = fakes
    env = _alpaca_env(rest, stream, VIGIL_FEED="alpaca")
    settings = make_settings(tmp_path / "var", **env, VIGIL_SYMBOLS="SPY,ETH/USD")
    feed = build_feed(settings.engine, SystemClock())
    assert isinstance(feed, AlpacaFeed) and list(feed.instruments) == ["SPY", "ETH/USD"]
    bad = make_settings(tmp_path / "var2", **env, VIGIL_SYMBOLS="SPY 261218C500")
    with pytest.raises(RootSettingsError, match="VIGIL_SYMBOLS"):
        build_feed(bad.engine, SystemClock())


def test_engine_with_alpaca_feed_when_the_stream_goes_silent_then_stale_feed_halts(
    tmp_path: Path, fakes: Any
) -> None:
    rest, stream = fakes
    env = _alpaca_env(rest, stream, VIGIL_ALPACA_STALE_S="10", VIGIL_FEED="alpaca")
    clock = FakeClock(start=time.time())
    settings = make_settings(
        tmp_path / "var", **env, VIGIL_SYMBOLS="BTC/USD", VIGIL_STRATEGY="none"
    )
    engine = SyncEngine(settings, clock)
    feed = engine.parts.feed
    assert isinstance(feed, AlpacaFeed)
    try:
        feed.subscribe(list(engine.parts.market.symbols))
        feed.start(engine.rt.submit_market)
        connected(feed, stream, ["BTC/USD"])
        stream.quote("BTC/USD", 60_000.0, 60_001.0, 2.0, 2.0)
        wait_until(lambda: engine.rt.run_once() and engine.parts.market.last_data_ts)
        assert engine.rt.snapshot()["market"]["quotes"]["BTC/USD"]["bid"] == 60_000.0
        answer = engine.do("place_order", {"symbol": "BTC/USD", "side": "buy", "qty": 0.005})
        assert answer["ok"], answer
        stream.quote("BTC/USD", 60_000.5, 60_001.5, 2.0, 2.0)

        def applied() -> bool:
            engine.venue()
            quote = engine.rt.snapshot()["market"]["quotes"]["BTC/USD"]
            return quote["bid"] == 60_000.5 and bool(engine.parts.desk.ledger.position("BTC/USD"))

        # The last quote must have arrived before the clock moves, or it would look fresh.
        wait_until(applied, message="the second quote applied and the position open")
        engine.parts.safety_loop.evaluate(clock.time())
        assert "stale_feed" not in {t.name for t in engine.parts.safety.board.tripped()}
        clock.advance(31.0)  # Alpaca goes quiet: no message at all
        wait_until(lambda: feed.connection().state is ConnectionState.STALE)
        engine.rt.run_once()
        engine.parts.safety_loop.evaluate(clock.time())
        assert "stale_feed" in {t.name for t in engine.parts.safety.board.tripped()}
        assert str(engine.parts.safety.trading_state) == "HALTED"
        engine.venue()
        assert engine.rt.health_payload()["venues"]["feed"]["state"] == "stale"
    finally:
        feed.stop()  # started here, not by the runtime
        engine.close()


def test_history_ends_with_the_realized_vol_proxy_for_the_regime(fakes: Any) -> None:
    rest, _ = fakes
    seed(rest, "SPY", 40, 500.0)
    feed = make_feed(fakes, ["SPY"])
    events = feed.history(END, 40 * MINUTE)
    assert [type(e) for e in events[:-1]] == [BarEvent] * 40
    reading = events[-1]
    assert isinstance(reading, VixUpdate) and reading.source == PROXY_SOURCE
    assert reading.value > 0 and reading.ts == END


def test_a_hung_history_request_never_delays_a_command(tmp_path: Path, fakes: Any) -> None:
    rest, stream = fakes
    seed(rest, "SPY", 30, 500.0, end=time.time() // 60 * 60)
    # The history request waits out its HTTP timeout: 3 s is ages for a command that does not
    # wait behind it, and one that did would be answered only after the history had loaded.
    rest.hang_next(1)
    env = _alpaca_env(
        rest,
        stream,
        VIGIL_FEED="alpaca",
        VIGIL_ALPACA_HTTP_TIMEOUT_S="3",
        VIGIL_ALPACA_HISTORY_TIMEOUT_S="10",
    )
    chart = {"VIGIL_SYMBOLS": "SPY", "VIGIL_STRATEGY": "none", "VIGIL_SIM_HISTORY_S": "1800"}
    settings = make_settings(tmp_path / "var", **env, **chart)
    rt = EngineRuntime(settings.engine, clock=FakeClock(start=time.time()))
    try:
        rt.start()
        wait_until(lambda: len(rest.requests) >= 1, 20.0, "the history under way")
        pause = parse_command("kill_switch", {"level": "pause", "reason": "test"})
        assert rt.call("kill_switch", pause, "alice", timeout=10.0)["ok"]
        assert not rt.history_loaded.is_set()  # answered while the history was still loading
        wait_until(rt.history_loaded.is_set, 30.0, "the history, after the timeout")
    finally:
        rt.stop()
