"""Circuit breakers: each plugin below, at and above its threshold; the board's latching."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dashboard.settings import VigilSettings, load_settings
from engine.clock import FakeClock
from engine.safety.breakers import (
    BREAKER_TYPES,
    Breaker,
    BreakerBoard,
    DailyLossBreaker,
    DrawdownBreaker,
    ErrorRateBreaker,
    MaxPositionsBreaker,
    OrderRateBreaker,
    RapidLossBreaker,
    SafetySnapshot,
    StaleFeedBreaker,
    Trip,
    build_breakers,
)
from engine.safety.settings import DEFAULT_BREAKERS

NOW = FakeClock().time()
CALM = SafetySnapshot(
    now=NOW,
    equity=100_000.0,
    peak_equity=100_000.0,
    equity_history=[(NOW - 1000, 100_000.0), (NOW, 100_000.0)],
    daily_pnl=0.0,
    open_positions=1,
    error_times=(),
    order_times=(),
    last_market_data_ts=NOW,
)
# Equity was 100k at the window start (NOW-900) and 101k later: the start point is what counts.
HISTORY = [(NOW - 1000, 99_000.0), (NOW - 900, 100_000.0), (NOW - 300, 101_000.0)]


def snap(**changes: Any) -> SafetySnapshot:
    return replace(CALM, **changes)


CASES: list[tuple[str, Breaker, SafetySnapshot, float, bool]] = [
    (
        "rapid_loss_below",
        RapidLossBreaker(),
        snap(equity_history=HISTORY, equity=98_100),
        1.9,
        False,
    ),
    ("rapid_loss_at", RapidLossBreaker(), snap(equity_history=HISTORY, equity=98_000), 2.0, True),
    (
        "rapid_loss_above",
        RapidLossBreaker(),
        snap(equity_history=HISTORY, equity=97_000),
        3.0,
        True,
    ),
    (
        "rapid_loss_gain_is_zero",
        RapidLossBreaker(),
        snap(equity_history=HISTORY, equity=102_000),
        0.0,
        False,
    ),
    (
        "rapid_loss_short_history_uses_oldest",
        RapidLossBreaker(),
        snap(equity_history=[(NOW - 120, 50_000.0)], equity=48_500),
        3.0,
        True,
    ),
    ("rapid_loss_no_history", RapidLossBreaker(), snap(equity_history=[], equity=1.0), 0.0, False),
    ("error_rate_below", ErrorRateBreaker(), snap(error_times=[NOW - 10, NOW - 5]), 2, False),
    ("error_rate_at", ErrorRateBreaker(), snap(error_times=[NOW - 299, NOW - 5, NOW]), 3, True),
    ("error_rate_above", ErrorRateBreaker(), snap(error_times=[NOW] * 4), 4, True),
    (
        "error_rate_old_errors_left_out",
        ErrorRateBreaker(),
        snap(error_times=[NOW - 900, NOW - 300, NOW - 5, NOW]),
        2,
        False,
    ),
    ("drawdown_below", DrawdownBreaker(), snap(equity=95_001), 4.999, False),
    ("drawdown_at", DrawdownBreaker(), snap(equity=95_000), 5.0, True),
    ("drawdown_above", DrawdownBreaker(), snap(equity=94_000), 6.0, True),
    ("drawdown_new_high", DrawdownBreaker(), snap(equity=101_000), 0.0, False),
    ("daily_loss_below", DailyLossBreaker(1000), snap(daily_pnl=-999.99), 999.99, False),
    ("daily_loss_at", DailyLossBreaker(1000), snap(daily_pnl=-1000.0), 1000.0, True),
    ("daily_loss_above", DailyLossBreaker(1000), snap(daily_pnl=-1500.0), 1500.0, True),
    ("daily_loss_profit", DailyLossBreaker(1000), snap(daily_pnl=250.0), 0.0, False),
    ("max_positions_below", MaxPositionsBreaker(3), snap(open_positions=2), 2, False),
    ("max_positions_at_is_allowed", MaxPositionsBreaker(3), snap(open_positions=3), 3, False),
    ("max_positions_above", MaxPositionsBreaker(3), snap(open_positions=4), 4, True),
    ("order_rate_below", OrderRateBreaker(40, 60), snap(order_times=[NOW - 1] * 39), 39, False),
    ("order_rate_at", OrderRateBreaker(40, 60), snap(order_times=[NOW - 1] * 40), 40, True),
    ("order_rate_above", OrderRateBreaker(40, 60), snap(order_times=[NOW - 1] * 41), 41, True),
    (
        "order_rate_window_edge_left_out",
        OrderRateBreaker(40, 60),
        snap(order_times=[NOW - 60] * 10 + [NOW - 1] * 39),
        39,
        False,
    ),
    ("stale_feed_below", StaleFeedBreaker(), snap(last_market_data_ts=NOW - 29), 29, False),
    ("stale_feed_at", StaleFeedBreaker(), snap(last_market_data_ts=NOW - 30), 30, True),
    ("stale_feed_above", StaleFeedBreaker(), snap(last_market_data_ts=NOW - 31), 31, True),
    (
        "stale_feed_flat_book_is_zero",
        StaleFeedBreaker(),
        snap(open_positions=0, last_market_data_ts=NOW - 9999),
        0,
        False,
    ),
    (
        "stale_feed_never_priced_positions_fail_closed",
        StaleFeedBreaker(),
        snap(last_market_data_ts=None),
        30,
        True,
    ),
    (
        "stale_feed_future_tick_is_zero",
        StaleFeedBreaker(),
        snap(last_market_data_ts=NOW + 2),
        0,
        False,
    ),
    ("drawdown_nan_equity_fails_closed", DrawdownBreaker(), snap(equity=float("nan")), 5.0, True),
]


@pytest.mark.parametrize(
    ("breaker", "snapshot", "value", "triggered"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_breaker_reading_below_at_and_above_threshold(
    breaker: Breaker, snapshot: SafetySnapshot, value: float, triggered: bool
):
    reading = breaker.evaluate(snapshot)
    assert reading.value == pytest.approx(value)
    assert reading.triggered is triggered
    assert reading.name == breaker.name
    assert reading.threshold == breaker.threshold
    assert reading.pct >= 0


@pytest.mark.parametrize(
    ("name", "action", "unit"),
    [
        ("rapid_loss", "HALTED", "%"),
        ("error_rate", "HALTED", "errors"),
        ("drawdown", "HALTED", "%"),
        ("daily_loss", "HALTED", "$"),
        ("max_positions", "REDUCING", "positions"),
        ("order_rate", "HALTED", "orders"),
        ("stale_feed", "HALTED", "s"),
    ],
)
def test_breaker_types_registry_names_actions_and_units(name: str, action: str, unit: str):
    cls = BREAKER_TYPES[name]
    assert (cls.name, cls.action, cls.unit) == (name, action, unit)
    assert cls.description


def test_reading_pct_is_share_of_threshold_used():
    assert DrawdownBreaker().evaluate(snap(equity=97_500)).pct == pytest.approx(50.0)
    assert MaxPositionsBreaker(0).evaluate(snap(open_positions=0)).pct == 0.0
    assert MaxPositionsBreaker(0).evaluate(snap(open_positions=1)).triggered


def _settings(tmp_path: Path, **env: str) -> VigilSettings:
    return load_settings({"VIGIL_DATA_DIR": str(tmp_path), **env})


def test_build_breakers_from_default_settings_in_configured_order(tmp_path: Path):
    settings = _settings(
        tmp_path,
        VIGIL_DAILY_LOSS_LIMIT="750",
        VIGIL_MAX_POSITIONS="2",
        VIGIL_ORDER_RATE_MAX="10",
        VIGIL_ORDER_RATE_WINDOW_S="30",
    )
    breakers = build_breakers(settings.engine.breakers.names, settings.engine.limits)
    assert [b.name for b in breakers] == DEFAULT_BREAKERS.split(",")
    by_name = {b.name: b for b in breakers}
    assert by_name["daily_loss"].threshold == 750
    assert by_name["max_positions"].threshold == 2
    assert by_name["order_rate"].threshold == 20
    assert by_name["order_rate"].window_s == 30
    assert (by_name["rapid_loss"].threshold, by_name["rapid_loss"].window_s) == (2.0, 900.0)
    assert (by_name["error_rate"].threshold, by_name["error_rate"].window_s) == (3, 300.0)
    assert by_name["drawdown"].threshold == 5.0
    assert by_name["stale_feed"].threshold == 30.0


def test_build_breakers_when_name_unknown_then_value_error_lists_known(tmp_path: Path):
    with pytest.raises(ValueError) as info:
        build_breakers(["drawdown", "x"], _settings(tmp_path))
    assert str(info.value) == (
        "VIGIL_BREAKERS: unknown breaker 'x' (known: rapid_loss, error_rate, drawdown, "
        "daily_loss, max_positions, order_rate, stale_feed)"
    )


def test_build_breakers_when_name_repeated_then_value_error(tmp_path: Path):
    with pytest.raises(ValueError, match="'drawdown' is listed twice"):
        build_breakers(["drawdown", "error_rate", "drawdown"], _settings(tmp_path))


@pytest.fixture
def board() -> BreakerBoard:
    return BreakerBoard([DrawdownBreaker(), ErrorRateBreaker(), MaxPositionsBreaker(3)])


def test_board_evaluate_returns_only_new_trips(board: BreakerBoard):
    assert board.evaluate(CALM) == []
    trips = board.evaluate(snap(equity=94_000))
    assert trips == [Trip("drawdown", pytest.approx(6.0), 5.0, "%", "HALTED", NOW)]
    assert board.evaluate(snap(now=NOW + 1, equity=93_000)) == []
    later = board.evaluate(snap(now=NOW + 2, equity=93_000, open_positions=4))
    assert [(t.name, t.action, t.at) for t in later] == [("max_positions", "REDUCING", NOW + 2)]
    assert [t.name for t in board.tripped()] == ["drawdown", "max_positions"]


def test_board_when_value_recovers_then_trip_stays_latched(board: BreakerBoard):
    board.evaluate(snap(equity=94_000))
    readings = {r["name"]: r for r in board.readings(snap(now=NOW + 60))}
    drawdown = readings["drawdown"]
    assert drawdown["triggered"] is True
    assert drawdown["since"] == round(NOW * 1000)
    assert drawdown["value"] == 0.0  # shows the recovery while staying latched
    assert readings["error_rate"]["triggered"] is False
    assert readings["error_rate"]["since"] is None
    assert board.evaluate(snap(now=NOW + 60)) == []
    assert [t.name for t in board.tripped()] == ["drawdown"]


def test_board_readings_match_the_events_contract(board: BreakerBoard):
    readings = board.readings(snap(equity=97_500))
    assert readings[0] == {
        "name": "drawdown",
        "description": "Drawdown from peak equity",
        "triggered": False,
        "value": pytest.approx(2.5),
        "threshold": 5.0,
        "unit": "%",
        "pct": pytest.approx(50.0),
        "since": None,
        "action": "HALTED",
    }
    assert [r["name"] for r in readings] == ["drawdown", "error_rate", "max_positions"]
    json.dumps(readings)


def test_board_reset_one_then_it_can_trip_again(board: BreakerBoard):
    bad = snap(equity=94_000, error_times=[NOW] * 3)
    assert len(board.evaluate(bad)) == 2
    assert board.reset("drawdown") == ["drawdown"]
    assert [t.name for t in board.tripped()] == ["error_rate"]
    assert board.reset("drawdown") == []
    assert board.evaluate(CALM) == []
    assert [t.name for t in board.evaluate(replace(bad, now=NOW + 5))] == ["drawdown"]


def test_board_reset_all_releases_every_trip(board: BreakerBoard):
    board.evaluate(snap(equity=94_000, error_times=[NOW] * 3, open_positions=9))
    assert sorted(board.reset()) == ["drawdown", "error_rate", "max_positions"]
    assert board.tripped() == []
    assert not any(r["triggered"] for r in board.readings(CALM))


def test_board_reset_unknown_name_then_value_error(board: BreakerBoard):
    with pytest.raises(ValueError, match="unknown breaker 'nope'"):
        board.reset("nope")


def test_board_restore_keeps_trips_and_since_across_restart(board: BreakerBoard):
    board.evaluate(snap(equity=94_000))
    saved = board.to_json()
    fresh = BreakerBoard([DrawdownBreaker(), ErrorRateBreaker(), MaxPositionsBreaker(3)])
    restored = fresh.restore(saved)
    assert fresh.tripped() == []
    assert restored.tripped() == board.tripped()
    assert restored.evaluate(snap(now=NOW + 600, equity=94_000)) == []
    drawdown = restored.readings(snap(now=NOW + 600))[0]
    assert (drawdown["triggered"], drawdown["since"]) == (True, round(NOW * 1000))


def test_board_restore_when_breaker_no_longer_configured_then_trip_still_holds(
    board: BreakerBoard,
):
    board.evaluate(snap(error_times=[NOW] * 3))
    restored = BreakerBoard([DrawdownBreaker()]).restore(board.to_json())
    assert [t.name for t in restored.tripped()] == ["error_rate"]
    orphan = restored.readings(CALM)[-1]
    assert (orphan["name"], orphan["triggered"], orphan["action"]) == (
        "error_rate",
        True,
        "HALTED",
    )
    assert restored.reset("error_rate") == ["error_rate"]
    assert restored.tripped() == []


@pytest.mark.parametrize(
    "damaged",
    ["", "not json", "[]", '{"version": 2, "trips": []}', '{"version": 1, "trips": [{}]}'],
)
def test_board_restore_when_record_damaged_then_value_error(damaged: str):
    with pytest.raises(ValueError, match="damaged"):
        BreakerBoard([DrawdownBreaker()]).restore(damaged)


def test_board_with_duplicate_breakers_then_value_error():
    with pytest.raises(ValueError, match="duplicate"):
        BreakerBoard([DrawdownBreaker(), DrawdownBreaker(4.0)])


@pytest.mark.parametrize(
    ("value", "threshold", "unit", "expected"),
    [
        (3.0, 3.0, "errors", "3 errors against 3 errors"),
        (41.0, 40.0, "orders", "41 orders against 40 orders"),
        (2.1534, 2.0, "%", "2.15% against 2.00%"),
        (1234.5, 1000.0, "$", "$1,234.50 against $1,000.00"),
        (31.25, 30.0, "s", "31.2 s against 30.0 s"),
    ],
)
def test_trip_message_when_formatted_then_units_read_like_words(
    value: float, threshold: float, unit: str, expected: str
) -> None:
    trip = Trip("x", value, threshold, unit, "HALTED", 0.0)
    assert trip.message() == f"breaker x tripped: {expected}; action HALTED"
