"""Item 7's page pieces: the P&L history's date range, the chart's 1d timeframe, the activity
log's type filter."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import open_logged_in
from tests.server_process import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def page(browser: Any, server: ServerProcess) -> Any:
    page, errors = open_logged_in(browser, server, width=1280, height=800)
    page.errors = errors
    yield page
    page.context.close()


def test_date_range_then_only_those_session_days_and_points(page: Any) -> None:
    got = page.evaluate(
        """async () => {
          const { EquityData } = await import("/static/js/panels/equitydata.js");
          const d = new EquityData();
          const curve = [];
          for (let day = 1; day <= 5; day++) {
            curve.push({ t: Date.UTC(2026, 0, day, 15), equity: 100000 + day * 10 });
            curve.push({ t: Date.UTC(2026, 0, day, 18), equity: 100000 + day * 10 + 5 });
          }
          d.load(curve, "America/New_York");
          d.setRange("2026-01-02", "2026-01-03");
          const picked = [d.shownDays().map((x) => x.key), d.shownPoints().length];
          d.setRange("2026-01-04", "");
          const open = [d.shownDays().map((x) => x.key), d.shownPoints().length];
          d.setRange("", "");
          return [picked, open, d.shownDays().length, d.shownPoints().length];
        }"""
    )
    assert got == [
        [["2026-01-02", "2026-01-03"], 4],
        [["2026-01-04", "2026-01-05"], 4],
        5,
        10,
    ]


def test_date_picker_then_the_daily_chart_shows_the_range(page: Any) -> None:
    page.wait_for_function("window.__vigilEquity && window.__vigilEquity.days().length > 0")
    today = page.evaluate("window.__vigilEquity.days().at(-1).key")
    page.fill("#pnl-from", "2020-01-01")
    page.fill("#pnl-to", "2020-01-02")
    page.dispatch_event("#pnl-to", "change")
    page.wait_for_function("window.__vigilEquity.days().length === 0")
    page.click("#pnl-range-all")
    page.wait_for_function("(k) => window.__vigilEquity.days().some((d) => d.key === k)", arg=today)


def test_chart_then_a_1d_timeframe(page: Any) -> None:
    button = page.locator("#market-view button", has_text="1d")
    button.wait_for(timeout=20_000)
    button.click()
    page.wait_for_function(
        "[...document.querySelectorAll('#market-view button')]"
        ".some((b) => b.textContent.trim() === '1d' && (b.getAttribute('aria-pressed') === 'true'"
        " || b.classList.contains('active') || b.getAttribute('aria-selected') === 'true'))"
    )


def test_activity_then_filtered_by_type(page: Any) -> None:
    page.wait_for_selector("#activity-log .act-system, #activity-log [data-type=system]")
    chip = page.locator("#activity-filters [data-type=system]")
    chip.click()
    assert chip.get_attribute("aria-pressed") == "false"
    assert page.evaluate(
        "[...document.querySelectorAll('#activity-log [data-type=system], #activity-log"
        " .act-system')].every((n) => n.offsetParent === null)"
    )
    chip.click()
    assert chip.get_attribute("aria-pressed") == "true"


def test_chart_symbol_and_ticket_symbol_then_linked_both_ways(page: Any) -> None:
    page.wait_for_function("document.querySelectorAll('#ot-symbol option').length > 1")
    page.select_option("#symbol-select", "QQQ")
    page.wait_for_function("document.querySelector('#ot-symbol').value === 'QQQ'")
    assert page.inner_text("#ot-submit").endswith("QQQ")
    page.select_option("#ot-symbol", "SPY")
    page.wait_for_function("document.querySelector('#symbol-select').value === 'SPY'")
