"""Support/resistance from clustered swing pivots, and the volume profile."""

from __future__ import annotations

import pytest

from engine.market.bars import Bar
from engine.market.levels import support_resistance, volume_profile

T0 = 1_767_225_600.0

# Mid prices with swing highs at 3, 11, 19 and swing lows at 7, 15; monotone in between.
MIDS = [
    105, 106, 107, 110, 107, 106, 105, 100, 105, 106, 107, 110.1,
    107, 106, 105, 100.05, 104, 106, 108, 120, 108, 106, 104, 102,
]  # fmt: skip


def bar(i: int, h: float, l: float, c: float, v: float = 1.0, buy_v: float = 0.0) -> Bar:  # noqa: E741
    return Bar(T0 + 60 * i, c, h, l, c, v, buy_v, v - buy_v)


def zigzag() -> list[Bar]:
    return [bar(i, m + 0.2, m - 0.2, m) for i, m in enumerate(MIDS)]


def test_pivots_within_tolerance_cluster_into_levels_classified_by_last_close():
    levels = support_resistance(zigzag())
    assert [lv["kind"] for lv in levels] == ["resistance", "resistance", "support"]
    assert [lv["touches"] for lv in levels] == [1, 2, 2]
    assert [lv["price"] for lv in levels] == pytest.approx([120.2, 110.25, 99.825])
    assert [lv["last_t"] for lv in levels] == [
        round((T0 + 60 * 19) * 1000),
        round((T0 + 60 * 11) * 1000),
        round((T0 + 60 * 15) * 1000),
    ]


def test_max_levels_keeps_the_most_touched():
    levels = support_resistance(zigzag(), max_levels=2)
    assert [lv["price"] for lv in levels] == pytest.approx([110.25, 99.825])


def test_pivots_further_apart_than_tolerance_stay_separate():
    levels = support_resistance(zigzag(), tolerance_pct=0.01)
    assert sorted(lv["price"] for lv in levels) == pytest.approx([99.8, 99.85, 110.2, 110.3, 120.2])
    assert all(lv["touches"] == 1 for lv in levels)


def test_edge_bars_without_a_full_window_are_not_pivots():
    # The highest high is the last bar: with no bars to its right it is not a swing high yet.
    bars = [*zigzag()[:21], bar(21, 130.0, 129.0, 129.5)]
    prices = [lv["price"] for lv in support_resistance(bars)]
    assert all(p < 125 for p in prices)


def test_no_pivots_gives_no_levels():
    rising = [bar(i, 100 + i + 0.5, 100 + i - 0.5, 100 + i) for i in range(20)]
    assert support_resistance(rising) == []
    assert support_resistance([]) == []


def test_volume_profile_spreads_each_bar_over_its_range_and_finds_poc():
    bars = [
        bar(0, h=110.0, l=100.0, c=105.0, v=10.0, buy_v=4.0),  # 2 per bin over all 5 bins
        bar(1, h=105.9, l=104.0, c=105.0, v=30.0, buy_v=30.0),  # all in bin [104, 106)
    ]
    profile = volume_profile(bars, bins=5)
    rows = profile["bins"]
    assert [r["price_low"] for r in rows] == pytest.approx([100, 102, 104, 106, 108])
    assert [r["price_high"] for r in rows] == pytest.approx([102, 104, 106, 108, 110])
    assert [r["volume"] for r in rows] == pytest.approx([2, 2, 32, 2, 2])
    assert rows[2]["buy_v"] == pytest.approx(30.8)
    assert rows[2]["sell_v"] == pytest.approx(1.2)
    assert sum(r["volume"] for r in rows) == pytest.approx(40.0)
    assert profile["poc"] == pytest.approx(105.0)


def test_volume_profile_tie_picks_the_lowest_bin_and_top_price_lands_in_last_bin():
    bars = [bar(0, h=101.0, l=100.0, c=100.5, v=5.0), bar(1, h=104.0, l=103.5, c=104.0, v=5.0)]
    profile = volume_profile(bars, bins=4)
    assert [r["volume"] for r in profile["bins"]] == pytest.approx([2.5, 2.5, 0, 5.0])
    assert profile["poc"] == pytest.approx(103.5)


def test_volume_profile_of_flat_or_empty_ranges():
    flat = volume_profile([bar(0, 50.0, 50.0, 50.0, v=3.0)], bins=24)
    assert len(flat["bins"]) == 1 and flat["bins"][0]["volume"] == 3.0 and flat["poc"] == 50.0
    assert volume_profile([]) == {"bins": [], "poc": None}
