"""The replay feed: bars equal to the recording, timestamps, bad files, start, end, symbols."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.models import Quote, TradeTick, VixUpdate
from engine.runtime import EngineRuntime
from engine.settings_group import SettingsError
from engine.venues.bar_trades import BarRow, bar_trades
from engine.venues.base import ConnectionEvent, ConnectionState
from engine.venues.replay.bars import replay_instrument
from engine.venues.replay.csv_file import load_replay, parse_timestamp
from engine.venues.replay.feed import ReplayFeed, build_replay_feed
from tests.conftest import make_engine_settings, make_settings

# The repo is cloned next to shared/ (here and in CI): <repo>/../shared/data.
QQQ_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "QQQ_2020-04_1m.csv"
HEADER = "timestamp,open,high,low,close,volume\n"
T0 = 1_585_728_000.0  # 2020-04-01T08:00:00Z, the first row of the QQQ file


def qqq_csv() -> Path:
    if not QQQ_CSV.exists():
        message = f"{QQQ_CSV} is missing (the repo must sit next to shared/)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return QQQ_CSV


def write(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def replay_env(csv: Path, **env: str) -> dict[str, str]:
    return {
        "VIGIL_FEED": "replay",
        "VIGIL_REPLAY_CSV": str(csv),
        "VIGIL_REPLAY_SYMBOL": "QQQ",
        **env,
    }


def feed_for(path: Path, symbols: list[str] | None = None, **kwargs: Any) -> ReplayFeed:
    data = load_replay([path], symbols or ["QQQ"])
    instruments = {
        s: replay_instrument(s, data.decimals[s], min(r.l for r in rows))
        for s, rows in data.rows.items()
    }
    return ReplayFeed(data, instruments, **kwargs)


def play_to_end(feed: ReplayFeed, now: float, dt: float = 1.0) -> list[Any]:
    events: list[Any] = []
    for _ in range(100_000):
        if feed.ended:
            return events
        events.extend(feed.step(now, dt))
        now += dt
    raise AssertionError("the replay never ended")


class ReplayEngine:
    """An engine on a fake clock whose replay feed the test steps, as the pump would."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.clock = FakeClock(start=time.time())
        self.rt = EngineRuntime(make_engine_settings(tmp_path / "var", **env), clock=self.clock)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.rt.bus.subscribe(lambda topic, payload: self.events.append((topic, payload)))
        self.rt.boot()
        self.rt.parts.publish_snapshot()

    def play(self, wall_seconds: float, dt: float = 0.2) -> None:
        for _ in range(max(round(wall_seconds / dt), 1)):
            self.clock.advance(dt)
            for event in self.rt.parts.feed.step(self.clock.time(), dt):
                self.rt.parts.router.on_market(event)
            self.rt.run_once()

    def topics(self, name: str) -> list[dict[str, Any]]:
        return [payload for topic, payload in self.events if topic == name]

    def close(self) -> None:
        self.rt.parts.close()


# ----- the bars Vigil builds equal the recording ------------------------------------------------


def test_qqq_file_when_replayed_through_the_engine_then_1m_chart_bars_equal_the_rows(
    tmp_path: Path,
) -> None:
    csv = qqq_csv()
    rows = load_replay([csv], ["QQQ"]).rows["QQQ"]
    engine = ReplayEngine(tmp_path, **replay_env(csv, VIGIL_REPLAY_SPEED="600"))
    try:
        engine.play(60.0)  # 600 recorded minutes (the April 1 pre-market and morning)
        chart = engine.rt.parts.commands.execute(
            "query_chart", {"symbol": "QQQ", "timeframe": "1m", "limit": 1500}, "test"
        )["chart"]
        # The last bar is still forming (the replay is inside that minute): compare the rest.
        got = [(b["t"], b["o"], b["h"], b["l"], b["c"], b["v"]) for b in chart["bars"][:-1]]
        want = [(round(r.t * 1000), r.o, r.h, r.l, r.c, r.v) for r in rows[: len(got)]]
        assert len(got) >= 590
        assert got == want
        # The demo strategy traded April 2020 prices through the paper broker.
        fills = engine.rt.parts.store.load_fills()
        assert fills, "the demo strategy never traded the replay"
        lowest = min(r.l for r in rows[: len(got)])
        highest = max(r.h for r in rows[: len(got)])
        for fill in fills:
            assert fill.symbol == "QQQ"
            assert lowest * 0.99 <= fill.price <= highest * 1.01
        # The regime panel has the realized-volatility proxy.
        assert engine.rt.snapshot()["regime"]["vix"] is not None
    finally:
        engine.close()


def test_every_bar_of_the_qqq_file_when_played_then_trades_rebuild_it_exactly() -> None:
    data = load_replay([qqq_csv()], ["QQQ"])
    tick = replay_instrument("QQQ", data.decimals["QQQ"], 1.0).tick_size
    for row in data.rows["QQQ"]:
        trades = bar_trades("QQQ", row, 60, tick)
        prices = [t.price for t in trades]
        total = 0.0
        for t in trades:
            total += t.size
        assert (prices[0], max(prices), min(prices), prices[-1]) == (row.o, row.h, row.l, row.c)
        assert total == row.v
        assert all(row.t <= t.ts < row.t + 60 for t in trades)


def test_fractional_volume_when_split_then_sizes_add_up_exactly() -> None:
    row = BarRow(T0, 10.0, 10.5, 9.5, 10.2, 0.123456789, 2)
    total = 0.0
    for trade in bar_trades("BTC/USD", row, 60, 0.01):
        total += trade.size
    assert total == 0.123456789


# ----- time: file time on trades, engine time on quotes --------------------------------------


def test_step_then_trades_carry_file_time_and_quotes_books_carry_engine_time(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, HEADER + "2020-04-01T08:00:00Z,10,11,9,10.5,100\n")
    feed = feed_for(path)
    now = 1_800_000_000.0
    events = feed.step(now) + feed.step(now + 1.0)
    trades = [e for e in events if isinstance(e, TradeTick)]
    assert trades and all(T0 <= t.ts < T0 + 60 for t in trades)
    others = [e for e in events if not isinstance(e, TradeTick)]
    assert others and all(e.ts in (now, now + 1.0) for e in others)
    for quote in (e for e in events if isinstance(e, Quote)):
        assert quote.bid < quote.ask


def test_engine_when_replaying_then_stale_feed_measured_from_arrival_not_file_time(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, HEADER + "2020-04-01T08:00:00Z,10,11,9,10.5,100\n")
    engine = ReplayEngine(tmp_path, **replay_env(path, VIGIL_STRATEGY="none"))
    try:
        engine.play(0.4)
        assert engine.rt.parts.market.last_data_ts == pytest.approx(engine.clock.time(), abs=0.5)
    finally:
        engine.close()


def test_slow_replay_of_a_quiet_bar_then_quoted_at_every_step(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2020-04-01T08:00:00Z,10,10,10,10,5\n")
    feed = feed_for(path, speed=1.0)
    feed.step(0.0)  # the bar's one trade; the feed lasts until the bar's minute is over
    for now in (0.2, 0.4, 20.0, 40.0):
        quotes = [e for e in feed.step(now) if isinstance(e, Quote)]
        assert [(q.symbol, q.ts) for q in quotes] == [("QQQ", now)]
        assert quotes[0].bid < 10 <= quotes[0].ask
    assert not feed.ended
    assert isinstance(feed.step(61.0)[-1], ConnectionEvent) and feed.ended


def test_gap_between_bars_when_replayed_then_skipped_not_waited_out(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "2020-04-01T08:00:00Z,10,11,9,10.5,100\n2020-04-01T08:01:00Z,10,11,9,10.5,100\n"
        + "2020-04-03T14:30:00Z,12,13,11,12.5,100\n",
    )
    feed = feed_for(path, speed=60.0)
    # Two recorded minutes and a bit: past the two days of nothing to the third bar.
    events = [e for now in (0.0, 1.0, 2.0, 2.1) for e in feed.step(now)]
    trades = [e for e in events if isinstance(e, TradeTick)]
    assert trades[-1].ts >= parse_timestamp("2020-04-03T14:30:00Z")


# ----- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2020-04-01T08:00:00Z",
        "2020-04-01 08:00:00Z",
        "2020-04-01T08:00:00+00:00",
        "2020-04-01T04:00:00-04:00",
        "2020-04-01 10:00:00+02:00",
        "2020-04-01T08:00:00.000Z",
        "1585728000",
        "1585728000.0",
        "1585728000000",
    ],
)
def test_timestamp_when_in_an_accepted_form_then_same_instant(text: str, tmp_path: Path) -> None:
    assert parse_timestamp(text) == T0
    path = write(tmp_path, HEADER + f"{text},10,11,9,10.5,100\n")
    assert load_replay([path], ["QQQ"]).rows["QQQ"][0].t == T0


def test_timestamp_when_milliseconds_then_same_instant_as_iso_fraction() -> None:
    assert parse_timestamp("1585728000123") == parse_timestamp("2020-04-01T08:00:00.123Z")


@pytest.mark.parametrize("text", ["2020-04-01T08:00:00", "yesterday", "2020-13-01T00:00:00Z", ""])
def test_timestamp_when_zone_missing_or_garbage_then_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


# ----- bad files are named ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        ("2020-04-01T08:00:00Z,10,11,9,10.5,100\n", "line 1: no header"),
        ("timestamp,open,high,low,close\n2020-04-01T08:00:00Z,1,1,1,1\n", "missing column volume"),
        (HEADER, "has a header but no rows"),
        (HEADER + "2020-04-01T08:00:00Z,abc,11,9,10.5,100\n", "line 2: open is not a number"),
        (HEADER + "2020-04-01T08:00:00Z,10,11,9,10.5,nan\n", "line 2: volume is not a finite"),
        (HEADER + "2020-04-01T08:00:00Z,10,9,11,10,100\n", "line 2: high 9 is below low 11"),
        (HEADER + "2020-04-01T08:00:00Z,12,11,9,10,100\n", "line 2: open 12 is outside"),
        (HEADER + "2020-04-01T08:00:00Z,-1,11,9,10,100\n", "line 2: open must be positive"),
        (HEADER + "2020-04-01T08:00:00Z,10,11,9,10,-5\n", "line 2: volume must not be negative"),
        (HEADER + "2020-04-01T08:00:00Z,10,11,9,10\n", "line 2: expected 6 fields"),
        (HEADER + "2020-04-01 08:00,10,11,9,10,5\n", "line 2: timestamp '2020-04-01 08:00' has no"),
        (
            HEADER + "2020-04-01T08:01:00Z,10,11,9,10,5\n2020-04-01T08:00:00Z,10,11,9,10,5\n",
            "line 3: timestamp 2020-04-01T08:00:00Z comes before",
        ),
        (
            HEADER + "2020-04-01T08:00:00Z,10,11,9,10,5\n2020-04-01T08:00:00Z,10,11,9,10,5\n",
            "line 3: timestamp 2020-04-01T08:00:00Z repeats",
        ),
        (
            HEADER + "2020-04-01T08:00:30Z,10,11,9,10,5\n2020-04-01T08:01:30Z,10,11,9,10,5\n",
            "line 2: QQQ bar at 2020-04-01T08:00:30Z does not start on a whole 60 s",
        ),
    ],
)
def test_bad_file_when_building_the_engine_then_one_line_names_the_line_and_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    settings = make_settings(tmp_path / "var", **replay_env(path))
    with pytest.raises(SettingsError) as caught:
        build_replay_feed(settings.engine.feed)
    message = str(caught.value)
    assert message.startswith(f"VIGIL_REPLAY_CSV: {path}")
    assert expected in message
    assert "\n" not in message


def test_header_when_mixed_case_with_extra_columns_then_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Volume, TIMESTAMP ,Open,High,Low,Close,vwap\n100,2020-04-01T08:00:00Z,10,11,9,10,10\n",
    )
    row = load_replay([path], ["QQQ"]).rows["QQQ"][0]
    assert (row.t, row.o, row.h, row.l, row.c, row.v) == (T0, 10, 11, 9, 10, 100)


def test_missing_file_when_starting_then_settings_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var", **replay_env(tmp_path / "nope.csv"))
    with pytest.raises(SettingsError, match=r"^VIGIL_REPLAY_CSV: .*nope.csv: cannot be read"):
        build_replay_feed(settings.engine.feed)


def test_replay_without_csv_when_loading_settings_then_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^VIGIL_REPLAY_CSV: required"):
        make_settings(tmp_path / "var", VIGIL_FEED="replay")


def test_file_without_symbol_column_when_no_replay_symbol_then_refused(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2020-04-01T08:00:00Z,10,11,9,10,5\n")
    settings = make_settings(tmp_path / "var", VIGIL_FEED="replay", VIGIL_REPLAY_CSV=str(path))
    with pytest.raises(SettingsError, match="VIGIL_REPLAY_SYMBOL must name its symbol"):
        build_replay_feed(settings.engine.feed)


# ----- start and end ---------------------------------------------------------------------------


def test_replay_start_when_set_then_first_trade_there_and_history_is_the_bars_before(
    tmp_path: Path,
) -> None:
    csv = qqq_csv()
    rows = load_replay([csv], ["QQQ"]).rows["QQQ"]
    start = "2020-04-02T13:30:00Z"
    settings = make_settings(tmp_path / "var", **replay_env(csv, VIGIL_REPLAY_START=start))
    feed = build_replay_feed(settings.engine.feed)
    history = feed.history(time.time(), 3600)
    first = next(e for e in feed.step(1_800_000_000.0) if isinstance(e, TradeTick))
    assert first.ts == parse_timestamp(start)
    before = [r for r in rows if parse_timestamp(start) - 3600 <= r.t < parse_timestamp(start)]
    from engine.market.view import MarketView

    market = MarketView(feed.instruments)
    for event in history:
        if isinstance(event, TradeTick):
            market.on_trade(event)
    bars = market.bars.bars("QQQ", "1m")
    assert len(bars) == len(before) > 0
    assert [(b.t, b.o, b.h, b.l, b.c, b.v) for b in bars] == [
        (r.t, r.o, r.h, r.l, r.c, r.v) for r in before
    ]
    assert any(isinstance(e, VixUpdate) for e in history)


def test_replay_start_when_between_bars_then_the_next_bar(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + "2020-04-01T08:00:00Z,10,11,9,10,5\n2020-04-01T08:05:00Z,12,13,11,12,5\n",
    )
    feed = feed_for(path, start=parse_timestamp("2020-04-01T08:00:30Z"))
    first = next(e for e in feed.step(0.0) if isinstance(e, TradeTick))
    assert (first.ts, first.price) == (parse_timestamp("2020-04-01T08:05:00Z"), 12)


def test_replay_start_when_after_the_file_then_refused(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2020-04-01T08:00:00Z,10,11,9,10,5\n")
    settings = make_settings(
        tmp_path / "var", **replay_env(path, VIGIL_REPLAY_START="2021-01-01T00:00:00Z")
    )
    with pytest.raises(SettingsError, match=r"^VIGIL_REPLAY_START: 2021-01-01T00:00:00Z is after"):
        build_replay_feed(settings.engine.feed)


def test_replay_start_when_unparseable_then_refused_at_settings(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^VIGIL_REPLAY_START: .*neither ISO 8601"):
        make_settings(tmp_path / "var", VIGIL_REPLAY_START="next tuesday")


def test_end_of_file_when_reached_then_ended_status_once_and_no_more_events(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        HEADER + "2020-04-01T08:00:00Z,10,11,9,10,5\n2020-04-01T08:01:00Z,10,12,10,11,7\n",
    )
    feed = feed_for(path, speed=60.0)
    assert feed.start_message().startswith("replaying QQQ")
    events = play_to_end(feed, 0.0, 0.5)
    statuses = [e for e in events if isinstance(e, ConnectionEvent)]
    assert [s.state for s in statuses] == [ConnectionState.ENDED]
    assert statuses[0].source == "feed" and statuses[0].venue == "replay"
    assert "2020-04-01T08:01:00Z" in statuses[-1].message
    assert events[-1] is statuses[-1]
    assert feed.step(1000.0) == [] and feed.step(5000.0) == []


def test_end_of_file_when_position_open_then_page_told_and_stale_feed_halts(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        HEADER + "".join(f"2020-04-01T08:{m:02d}:00Z,100,101,99,100.5,500\n" for m in range(3)),
    )
    engine = ReplayEngine(tmp_path, **replay_env(path, VIGIL_STRATEGY="none"))
    try:
        engine.play(0.4)
        from engine.commands import parse_command

        answer = engine.rt.parts.commands.execute(
            "place_order",
            parse_command("place_order", {"symbol": "QQQ", "side": "buy", "qty": 1}),
            "alice",
        )
        assert answer["ok"], answer
        # Playing, the feed is fresh although its trades are stamped in 2020.
        engine.play(1.0)
        engine.rt.parts.safety_loop.evaluate(engine.clock.time())
        assert "stale_feed" not in {t.name for t in engine.rt.parts.safety.board.tripped()}
        assert str(engine.rt.parts.safety.trading_state) == "ACTIVE"
        engine.play(5.0)
        messages = [p["message"] for p in engine.topics("system")]
        assert any(m.startswith("replay ended") for m in messages)
        activity = engine.rt.snapshot().get("activity", [])
        assert any(a.get("message", "").startswith("replay ended") for a in activity)
        engine.clock.advance(31.0)
        engine.rt.run_once()
        engine.rt.parts.safety_loop.evaluate(engine.clock.time())
        assert "stale_feed" in {t.name for t in engine.rt.parts.safety.board.tripped()}
        assert str(engine.rt.parts.safety.trading_state) == "HALTED"
    finally:
        engine.close()
