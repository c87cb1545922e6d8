"""The page in a real browser: live panels, chart, order book, theme, kill switch, reconnect."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import open_logged_in
from tests.server_process import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]
MONEY = re.compile(r"^-?\$[\d,]+\.\d{2}$")


@pytest.fixture(scope="module")
def page(browser: Any, server: ServerProcess) -> Any:
    page, errors = open_logged_in(browser, server)
    page.errors = errors
    yield page
    page.context.close()


def test_login_then_header_and_panels_show_live_values(page: Any) -> None:
    page.wait_for_function("document.querySelector('#balance').textContent.includes('$')")
    # Live data starts once the history is loaded: on a busy machine that takes a while.
    page.wait_for_selector("#venue-feed[data-state=connected]", timeout=60_000)
    page.wait_for_function(
        "/VIX\\s*\\d/.test(document.querySelector('#regime').textContent)", timeout=30_000
    )
    assert MONEY.match(page.inner_text("#balance").strip().replace("\u2212", "-"))
    assert re.search(r"VIX\s*\d", page.inner_text("#regime"))
    assert page.inner_text("#health").strip() in {"OK", "DEGRADED"}
    assert page.inner_text("#trading-state").strip() == "ACTIVE"
    # Quotes move: the quote widget's bid changes within a few seconds.
    bid = page.locator("#quote-widget [data-field=bid]")
    first = bid.inner_text()
    page.wait_for_function(
        "(first) => document.querySelector('#quote-widget [data-field=bid]').textContent !== first",
        arg=first,
        timeout=10_000,
    )
    assert page.locator("#breakers .breaker, #breakers [data-breaker]").count() == 7
    assert page.locator("#ticker-strip .tick").count() >= 4
    assert not [e for e in page.errors if "pageerror" in e], page.errors


def test_order_book_then_ten_levels_each_side_sorted(page: Any) -> None:
    page.wait_for_function(
        "[...document.querySelectorAll('#orderbook .bid-row [data-field=price]')]"
        ".filter((n) => n.textContent.trim()).length === 10",
        timeout=60_000,
    )

    def prices(selector: str) -> list[float]:
        texts = page.locator(f"#orderbook {selector} [data-field=price]").all_inner_texts()
        return [float(t.replace(",", "")) for t in texts if t.strip()]

    bids, asks = prices(".bid-row"), prices(".ask-row")
    assert len(bids) == 10 and len(asks) == 10
    assert bids == sorted(bids, reverse=True)
    assert min(asks) > max(bids)
    assert page.locator("#spread-row").is_visible()


def test_chart_then_candles_indicators_and_timeframe_switch(page: Any) -> None:
    page.wait_for_function(
        "window.__vigilChart && window.__vigilChart.candles() > 50", timeout=15_000
    )
    indicators = page.evaluate("window.__vigilChart.indicators()")
    assert indicators["ema20"] > 0 and indicators["ema50"] > 0
    assert indicators["rsi"] > 0 and indicators["macd"] > 0
    page.click(".tf-btn[data-tf='1s']")
    page.wait_for_function(
        "window.__vigilChart.timeframe() === '1s' && window.__vigilChart.candles() > 0",
        timeout=10_000,
    )
    loaded = page.evaluate("window.__vigilChart.candles()")
    # Live 1-second bars stream in over the socket (bar_update for the subscribed room).
    page.wait_for_function(
        "(n) => window.__vigilChart.candles() >= n + 3", arg=loaded, timeout=15_000
    )
    for timeframe in ("5m", "1h", "1m"):
        page.click(f".tf-btn[data-tf='{timeframe}']")
        page.wait_for_function("(tf) => window.__vigilChart.timeframe() === tf", arg=timeframe)
        page.wait_for_function("window.__vigilChart.candles() > 0", timeout=10_000)
        assert "active" in (page.get_attribute(f".tf-btn[data-tf='{timeframe}']", "class") or "")


def test_theme_toggle_then_light_and_remembered_after_reload(page: Any) -> None:
    before = page.evaluate("document.documentElement.dataset.theme || 'dark'")
    page.click("#theme-toggle")
    after = page.evaluate("document.documentElement.dataset.theme")
    assert after != before
    page.reload()
    page.wait_for_selector("#conn-status[data-state=connected]", timeout=15_000)
    assert page.evaluate("document.documentElement.dataset.theme") == after
    page.click("#theme-toggle")


def test_kill_switch_from_the_page_then_halted_banner_and_reset_by_admin(page: Any) -> None:
    page.click("#kill-switch-btn")
    page.wait_for_selector("#kill-dialog[open]")
    page.check("#kill-level-halt")
    page.fill("#kill-reason", "browser drill")
    page.click("#kill-next")
    page.click("#kill-confirm")
    page.wait_for_selector("#halted-banner:not([hidden])", timeout=10_000)
    assert page.inner_text("#trading-state").strip() == "HALTED"
    assert "browser drill" in page.inner_text("#halted-banner")
    if page.locator("#kill-dialog[open]").count():
        page.keyboard.press("Escape")
    page.wait_for_selector("#kill-dialog", state="hidden")

    page.click("#reset-btn")
    page.wait_for_selector("#reset-dialog[open]")
    page.fill("#reset-reason", "drill over")
    page.fill("#reset-confirm", "RESET")
    page.fill("#reset-password", "wrong-password")
    page.click("#reset-submit")
    page.wait_for_function("document.querySelector('#reset-result').textContent.length > 0")
    assert "password" in page.inner_text("#reset-result").lower()
    page.fill("#reset-password", "correct-horse-battery")
    page.click("#reset-submit")
    page.wait_for_selector("#halted-banner", state="hidden", timeout=10_000)
    assert page.inner_text("#trading-state").strip() == "ACTIVE"


def test_server_restart_then_page_reconnects_and_resyncs(browser: Any, tmp_path: Any) -> None:
    # The open page holds a websocket, so the stop drains for gunicorn's whole graceful
    # timeout (10 s); what it drains is tests/browser/test_outage_page.py's business.
    env = {"VIGIL_SIM_HISTORY_S": "600", "GUNICORN_CMD_ARGS": "--graceful-timeout 2"}
    server = ServerProcess(tmp_path / "var", **env).start()
    page, _ = open_logged_in(browser, server)
    try:
        server.stop()
        page.wait_for_selector("#conn-status:not([data-state=connected])", timeout=20_000)
        restarted = ServerProcess(tmp_path / "var", **env)
        restarted.port, restarted.url = server.port, server.url
        restarted.env["VIGIL_PORT"] = str(server.port)
        restarted.start()
        page.wait_for_selector("#conn-status[data-state=connected]", timeout=30_000)
        page.wait_for_function("document.querySelector('#balance').textContent.includes('$')")
        restarted.stop()
    finally:
        page.context.close()
        server.stop()


def test_page_under_its_real_csp_then_no_violations_and_no_script_errors(
    browser: Any, server: ServerProcess
) -> None:
    page, errors = open_logged_in(browser, server, enforce_csp=True)
    try:
        page.wait_for_selector("#orderbook .bid-row", timeout=15_000)
        page.wait_for_timeout(3000)
        assert [e for e in errors if "Content Security Policy" in e or "pageerror" in e] == []
    finally:
        page.context.close()
