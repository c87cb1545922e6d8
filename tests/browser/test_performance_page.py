"""The performance charts in a real browser: lightweight-charts draws the equity curve and the
daily P&L, live points arrive in place, and days are the trading session's, not the browser's."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import open_logged_in
from tests.server_process import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The browser runs in Tokyo (UTC+9); the server's session zone is the default, New York.
BROWSER_ZONE = "Asia/Tokyo"
SESSION_ZONE = "America/New_York"

CANVAS_SIZES = """(sel) => Array.from(document.querySelectorAll(`${sel} canvas`))
  .map((c) => [c.getBoundingClientRect().width, c.getBoundingClientRect().height])"""


@pytest.fixture(scope="module")
def page(browser: Any, server: ServerProcess) -> Any:
    page, errors = open_logged_in(browser, server, timezone_id=BROWSER_ZONE)
    page.errors = errors
    yield page
    page.context.close()


def test_equity_and_daily_pnl_charts_draw_and_take_live_points(page: Any) -> None:
    page.wait_for_function(
        "window.__vigilEquity && window.__vigilEquity.ready() && window.__vigilEquity.points() > 0",
        timeout=15_000,
    )
    before = page.evaluate("window.__vigilEquity.points()")
    page.evaluate("document.querySelector('#equity-chart canvas').dataset.probe = 'first'")
    # The engine records equity every 5 s and sends it as performance_update.equity_point.
    page.wait_for_function("(n) => window.__vigilEquity.points() > n", arg=before, timeout=20_000)
    for selector in ("#equity-chart", "#daily-pnl-chart"):
        host = page.locator(selector)
        assert host.get_attribute("data-testid") == selector[1:]
        assert host.get_attribute("aria-label")
        sizes = page.evaluate(CANVAS_SIZES, selector)
        assert any(w > 50 and h > 30 for w, h in sizes), (selector, sizes)
    assert page.evaluate("typeof window.Chart") == "undefined"
    # Updated in place: the chart that drew the snapshot is the one that took the new point.
    assert page.locator("#equity-chart canvas[data-probe=first]").count() == 1
    assert page.evaluate("window.__vigilEquity.days().length") >= 1
    legend = page.inner_text("#equity-chart .eq-legend")
    assert legend.startswith("Equity $") and "DD" in legend
    assert not [e for e in page.errors if "pageerror" in e], page.errors


def test_daily_pnl_days_are_the_session_zones_not_the_browsers(page: Any) -> None:
    page.wait_for_function("window.__vigilEquity && window.__vigilEquity.zone() !== ''")
    assert page.evaluate("window.__vigilEquity.zone()") == SESSION_ZONE
    assert page.inner_text("#daily-pnl-label .chart-zone") == SESSION_ZONE
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == BROWSER_ZONE
    # 23:00 and 01:00 New York time around midnight: one Tokyo day (13:00, 15:00 on Jan 2)
    # but two session days, each with its own P&L.
    days = page.evaluate(
        """async (zone) => {
          const { EquityData } = await import("/static/js/panels/equitydata.js");
          const d = new EquityData();
          d.load([
            { t: Date.UTC(2026, 0, 1, 20, 0), equity: 100000 },
            { t: Date.UTC(2026, 0, 2, 4, 0), equity: 100050 },
            { t: Date.UTC(2026, 0, 2, 6, 0), equity: 100020 },
          ], zone);
          return d.shownDays();
        }""",
        SESSION_ZONE,
    )
    assert days == [
        {"key": "2026-01-01", "pnl": 50},
        {"key": "2026-01-02", "pnl": -30},
    ]


def test_long_history_thinned_with_the_tail_and_peak_kept(page: Any) -> None:
    result = page.evaluate(
        """async () => {
          const { EquityData, MAX_POINTS } = await import("/static/js/panels/equitydata.js");
          const d = new EquityData();
          const start = Date.UTC(2026, 0, 5, 15, 0);
          const curve = [];
          for (let i = 0; i < 20000; i++) {
            curve.push({ t: start + i * 5000, equity: 100000 + (i === 9000 ? 500 : i % 7) });
          }
          d.load(curve, "America/New_York");
          for (let i = 20000; i < 23000; i++) d.add(start + i * 5000, 100001);
          const pts = d.points;
          const ordered = pts.every((p, i) => i === 0 || p.time > pts[i - 1].time);
          return { n: pts.length, max: MAX_POINTS, ordered, last: pts[pts.length - 1],
                   lastT: Math.floor((start + 22999 * 5000) / 1000) };
        }"""
    )
    assert result["n"] <= result["max"]
    assert result["ordered"]
    assert result["last"]["time"] == result["lastT"]
    assert result["last"]["value"] == 100001
    # Thinning may drop the 100,500 spike itself; the peak it set is carried by later points.
    assert result["last"]["peak"] == 100500


def test_axis_labels_keep_the_digits_a_small_move_on_big_equity_needs(page: Any) -> None:
    labels = page.evaluate(
        """async () => {
          const { axisMoney } = await import("/static/js/panels/equity.js");
          return [axisMoney([100000, 100005, 100010]), axisMoney([100000.2, 100000.4]),
                  axisMoney([2000000, 2500000])];
        }"""
    )
    assert labels == [
        ["100,000", "100,005", "100,010"],
        ["100,000.20", "100,000.40"],
        ["2.00M", "2.50M"],
    ]


def test_charts_draw_under_the_enforced_csp(browser: Any, server: ServerProcess) -> None:
    page, errors = open_logged_in(browser, server, enforce_csp=True)
    try:
        page.wait_for_selector("#equity-chart canvas", timeout=15_000)
        page.wait_for_selector("#daily-pnl-chart canvas", timeout=15_000)
        assert [e for e in errors if "Content Security Policy" in e or "pageerror" in e] == []
    finally:
        page.context.close()


def test_daily_pnl_shows_the_newest_sixty_session_days(page: Any) -> None:
    days = page.evaluate(
        """async () => {
          const { EquityData } = await import("/static/js/panels/equitydata.js");
          const d = new EquityData();
          d.load([], "America/New_York");
          // Noon in New York on 130 consecutive days, equity up $1 a day.
          for (let i = 0; i < 130; i++) d.add(Date.UTC(2026, 0, 1 + i, 17, 0), 100000 + i);
          return d.shownDays();
        }"""
    )
    assert len(days) == 60
    assert days[-1] == {"key": "2026-05-10", "pnl": 1}
    assert days[0]["key"] == "2026-03-12"
