"""The operator's controls in a real browser: buy, partial close, stops, close, exit reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import open_logged_in
from tests.server_process import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROW = "#positions-table tr[data-symbol='SPY']"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir: Path = tmp_path_factory.mktemp("controls") / "var"
    # No strategy: the only orders are the test's. Room for ten SPY shares.
    proc = ServerProcess(
        data_dir,
        VIGIL_SIM_HISTORY_S="120",
        VIGIL_STRATEGY="none",
        VIGIL_MAX_NOTIONAL="100000",
        VIGIL_DAILY_LOSS_LIMIT="100000",
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def page(browser: Any, server: ServerProcess) -> Any:
    page, errors = open_logged_in(browser, server)
    page.errors = errors
    yield page
    page.context.close()


def cell(page: Any, column: int) -> str:
    text: str = page.inner_text(f"{ROW} td:nth-child({column})")
    return text.strip().replace(",", "")


def wait_qty(page: Any, want: float) -> None:
    page.wait_for_function(
        '(want) => { const td = document.querySelector("' + ROW + ' td:nth-child(3)");'
        " return td && Number(td.textContent.replace(/,/g, '')) === want; }",
        arg=want,
        timeout=15_000,
    )


def test_buy_partial_close_stop_close_then_trade_with_exit_reason(page: Any) -> None:
    page.wait_for_selector("#venue-feed[data-state=connected]", timeout=60_000)
    page.wait_for_function("document.querySelector('#ot-quote').textContent.includes('Bid')")
    page.select_option("#ot-symbol", "SPY")
    page.fill("#ot-qty", "10")
    page.click("#ot-submit")
    page.wait_for_selector(ROW, timeout=15_000)
    wait_qty(page, 10)

    # Partial close 50 %: Cancel has the focus, so a stray Enter would not close anything.
    page.click("[data-testid='close-SPY']")
    page.wait_for_selector("#close-dialog[open]")
    assert page.evaluate("document.activeElement.id") == "close-cancel"
    page.check("#close-f50")
    page.click("#close-submit")
    wait_qty(page, 5)

    # A stop above the price of a long is refused and nothing changes; one below is saved.
    last = float(cell(page, 5))
    page.click("[data-testid='stops-SPY']")
    page.wait_for_selector("#stops-dialog[open]")
    assert page.evaluate("document.activeElement.id") == "stops-cancel"
    page.fill("#stops-sl", f"{last * 1.02:.2f}")
    page.click("#stops-submit")
    page.wait_for_selector("#stops-result:not([hidden])")
    assert "WRONG_SIDE" in page.inner_text("#stops-result")
    assert cell(page, 8) in {"—", "-", ""}
    stop = f"{last * 0.97:.2f}"
    page.fill("#stops-sl", stop)
    page.click("#stops-submit")
    page.wait_for_function(
        '(stop) => document.querySelector("' + ROW + ' td:nth-child(8)")'
        ".textContent.replace(/,/g, '') === stop",
        arg=stop,
        timeout=15_000,
    )
    page.wait_for_selector("#orders-table [data-testid^='cancel-P-']")

    # Close the rest: the row goes, the stop order with it, the trades carry their reason.
    page.click("[data-testid='close-SPY']")
    page.wait_for_selector("#close-dialog[open]")
    page.check("#close-f100")
    page.click("#close-submit")
    page.wait_for_selector(ROW, state="detached", timeout=15_000)
    page.wait_for_selector("#orders-table [data-testid^='cancel-P-']", state="detached")
    page.wait_for_function(
        "document.querySelectorAll('#trades-table tr[data-trade-id]').length >= 2",
        timeout=15_000,
    )
    reasons = page.locator("#trades-table tr[data-trade-id] td.exit-reason").all_inner_texts()
    assert reasons[:2] == ["manual", "manual"], reasons
    assert not [e for e in page.errors if "pageerror" in e], page.errors


def test_cancel_button_on_an_open_order_then_gone(page: Any) -> None:
    page.select_option("#ot-symbol", "SPY")
    page.select_option("#ot-type", "limit")
    page.fill("#ot-qty", "1")
    bid = float(page.inner_text("#ot-quote").split()[1].replace(",", ""))
    page.fill("#ot-limit", f"{bid * 0.99:.2f}")  # below the market, inside the collar: rests
    page.click("#ot-submit")
    page.wait_for_selector("#ot-result:not([hidden])")
    assert "Accepted" in page.inner_text("#ot-result"), page.inner_text("#ot-result")
    button = page.wait_for_selector("#orders-table [data-testid^='cancel-P-']", timeout=15_000)
    button.click()
    page.wait_for_selector("#confirm-dialog[open]")
    # Cancelling is destructive here: the safe button ("Keep order") has the focus.
    assert page.evaluate("document.activeElement.id") == "confirm-cancel"
    page.click("#confirm-ok")
    page.wait_for_selector("#orders-table [data-testid^='cancel-P-']", state="detached")


def test_order_over_the_notional_limit_then_the_denial_reason_is_shown(page: Any) -> None:
    page.wait_for_selector("#venue-feed[data-state=connected]", timeout=60_000)
    page.select_option("#ot-symbol", "SPY")
    page.fill("#ot-qty", "1000")  # about $500,000, over the $100,000 limit of this server
    page.click("#ot-submit")
    page.wait_for_function(
        "document.querySelector('#ot-result').textContent.includes('notional')", timeout=15_000
    )
    shown = page.inner_text("#ot-result")
    assert "MAX_NOTIONAL" in shown or "exceeds" in shown, shown


def test_override_with_expiry_then_banner_counts_down_then_reverts(page: Any) -> None:
    page.click("#override-btn")
    page.wait_for_selector("#override-dialog[open]")
    page.select_option("#override-name", "size_multiplier")
    page.fill("#override-value", "0.5")
    # 30 s: long enough for a loaded machine to show the banner before it expires.
    page.fill("#override-minutes", "0.5")
    page.fill("#override-reason", "browser test")
    page.click("#override-submit")

    page.wait_for_selector("#override-banner:not([hidden])", timeout=10_000)
    text = page.inner_text("#override-banner")
    assert "size \u00d70.50" in text and "left" in text and "browser test" in text, text
    first = page.inner_text("[data-testid='override-left-size_multiplier']")
    page.wait_for_function(
        "(first) => document.querySelector(\"[data-testid='override-left-size_multiplier']\")"
        ".textContent !== first",
        arg=first,
        timeout=15_000,
    )
    # Reverts by itself on the server's clock: the banner goes without a click.
    page.wait_for_selector("#override-banner", state="hidden", timeout=60_000)
    page.click("#audit-refresh")
    page.wait_for_function(
        "document.querySelector('#audit-table').textContent.includes('risk_override_expired')",
        timeout=10_000,
    )


def engage(page: Any, level: str, reason: str) -> str:
    page.click("#kill-switch-btn")
    page.wait_for_selector("#kill-dialog[open]")
    page.check(f"#kill-level-{level}")
    page.fill("#kill-reason", reason)
    page.click("#kill-next")
    page.click("#kill-confirm")
    page.wait_for_selector("#kill-result:not([hidden])")
    text: str = page.inner_text("#kill-result")
    page.keyboard.press("Escape")
    page.wait_for_selector("#kill-dialog:not([open])", state="attached")
    return text


def test_header_flags_and_kill_switch_messages_say_what_happened(page: Any) -> None:
    from tests.conftest import ADMIN_PASSWORD

    # No strategy runs on this server, and the header says so next to the state.
    page.wait_for_function(
        "document.querySelector('#trading-flags').textContent.includes('no bot')"
    )
    page.click("#pause-entries-btn")
    page.wait_for_function(
        "document.querySelector('#trading-flags').textContent.includes('entries paused')"
    )
    assert page.inner_text("#trading-state").strip() == "ACTIVE"
    page.click("#resume-entries-btn")
    page.wait_for_function(
        "!document.querySelector('#trading-flags').textContent.includes('entries paused')"
    )

    assert "Kill switch engaged (halt)" in engage(page, "halt", "browser halt")
    text = engage(page, "pause", "pause while halted")
    assert "Nothing changed" in text and "already at halt" in text, text

    page.click("#reset-btn")
    page.wait_for_selector("#reset-dialog[open]")
    page.fill("#reset-reason", "all clear")
    page.fill("#reset-confirm", "RESET")
    page.fill("#reset-password", ADMIN_PASSWORD)
    page.click("#reset-submit")
    page.wait_for_function("document.querySelector('#reset-result').textContent.length > 0")
    result = page.inner_text("#reset-result")
    assert "trading ACTIVE" in result and "No strategy is configured" in result, result
