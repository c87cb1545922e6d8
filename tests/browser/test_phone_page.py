"""The phone and the alert's link: no sideways scroll at 390 x 844, the kill switch on the first
screen, Alt+Shift+K opens its dialog, and /?kill=1 opens it after signing in."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import open_logged_in
from tests.conftest import ADMIN_PASSWORD, wait_until
from tests.server_process import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IN_VIEW = """(sel) => {
  const n = document.querySelector(sel);
  const r = n.getBoundingClientRect();
  const inside = r.width > 0 && r.top >= 0 && r.left >= 0 &&
    r.bottom <= window.innerHeight && r.right <= window.innerWidth;
  // Not covered by anything else: the centre point hits the element itself.
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return inside && !!hit && (hit === n || n.contains(hit));
}"""


def test_phone_then_no_sideways_scroll_and_kill_switch_on_first_screen(
    browser: Any, server: ServerProcess
) -> None:
    page, errors = open_logged_in(browser, server, width=390, height=844)
    try:
        page.wait_for_function("document.body.classList.contains('has-state')")
        page.wait_for_function("document.querySelector('#daily-pnl').textContent.includes('$')")
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth,"
            " window.innerWidth]"
        )
        assert widths[0] <= widths[1] <= 390, widths
        for selector in ("#kill-pin", "#trading-state", "#daily-pnl"):
            assert page.evaluate(IN_VIEW, selector), f"{selector} is not on the first screen"
        # Still there after scrolling to the bottom: pinned, not merely near the top.
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        assert page.evaluate(IN_VIEW, "#kill-pin")
        tall = page.evaluate("document.querySelector('#kill-pin').getBoundingClientRect().height")
        assert tall >= 40
        page.click("#kill-pin")
        page.wait_for_selector("#kill-dialog[open]")
        assert page.evaluate("document.activeElement.id") == "kill-reason"
        assert not [e for e in errors if "pageerror" in e], errors
    finally:
        page.context.close()


def test_desktop_then_positions_orders_and_kill_switch_above_the_fold(
    browser: Any, server: ServerProcess
) -> None:
    page, _ = open_logged_in(browser, server, width=1280, height=800)
    try:
        page.wait_for_function("document.body.classList.contains('has-state')")
        assert not page.is_visible("#kill-pin")
        for selector in ("#kill-switch-btn", "#positions-panel h2", "#orders-panel h2"):
            assert page.evaluate(IN_VIEW, selector), f"{selector} is below the fold"
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], widths
    finally:
        page.context.close()


def test_shortcut_then_kill_dialog_opens_from_anywhere_and_focus_returns(
    browser: Any, server: ServerProcess
) -> None:
    page, _ = open_logged_in(browser, server, width=1280, height=800)
    try:
        page.wait_for_function("document.body.classList.contains('has-state')")
        # From inside a text field of another panel, not only from the page's body.
        field = page.locator("#ot-qty")
        field.focus()
        page.keyboard.press("Alt+Shift+KeyK")
        page.wait_for_selector("#kill-dialog[open]")
        assert page.evaluate("document.activeElement.id") == "kill-reason"
        page.keyboard.press("Escape")
        page.wait_for_selector("#kill-dialog:not([open])", state="attached")
        assert page.evaluate("(n) => document.activeElement === n", field.element_handle())
        # A plain K typed into a field does nothing.
        page.keyboard.press("KeyK")
        assert not page.is_visible("#kill-dialog")
    finally:
        page.context.close()


def test_alert_link_then_login_then_kill_dialog_open(browser: Any, server: ServerProcess) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(f"{server.url}/?kill=1")
        page.wait_for_url(f"{server.url}/login?kill=1")
        page.fill("#username", "admin")
        page.fill("#password", ADMIN_PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_selector("#kill-dialog[open]", timeout=20_000)
        assert page.evaluate("document.activeElement.id") == "kill-reason"
        # The flag is gone from the address: a reload does not open the dialog again.
        assert page.evaluate("window.location.search") == ""
        page.keyboard.press("Escape")
        page.reload()
        page.wait_for_function("document.body.classList.contains('has-state')")
        assert not page.is_visible("#kill-dialog")
    finally:
        context.close()


def test_accessible_names_gauges_and_focus_after_confirm(
    browser: Any, server: ServerProcess
) -> None:
    page, _ = open_logged_in(browser, server, width=1280, height=800)
    try:
        page.wait_for_selector("#breakers .breaker")
        assert page.get_attribute("#theme-toggle", "aria-label")
        assert page.get_attribute("#cb-toggle", "aria-label")
        gauge = page.locator("#breakers .breaker .gauge").first
        assert gauge.get_attribute("aria-label").endswith(" used")
        assert "%" in gauge.get_attribute("aria-valuetext")
        assert "/" in page.get_attribute("#daily-loss-gauge", "aria-valuetext")
        session = server.login()

        def bought() -> bool:
            answer = session.post(
                f"{server.url}/api/control/place_order",
                json={"symbol": "QQQ", "side": "buy", "qty": 1},
                timeout=10,
            )
            return answer.status_code == 200

        wait_until(bought, 60, "an order on a live quote")
        page.wait_for_selector("#positions-table button[aria-label='Close QQQ']")
        # The skip link is the first Tab stop and lands on the kill switch.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "skip-link"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "kill-switch-btn"
        # Engage (pause), then focus is still in the dialog, on its Close button.
        page.keyboard.press("Enter")
        page.wait_for_selector("#kill-dialog[open]")
        page.check("#kill-level-pause")
        page.fill("#kill-reason", "focus test")
        page.click("#kill-next")
        page.click("#kill-confirm")
        page.wait_for_selector("#kill-result:not([hidden])")
        page.wait_for_function(
            "document.activeElement && document.activeElement.matches("
            "\"#kill-dialog [data-step='0'] [data-close]\")"
        )
        page.keyboard.press("Enter")
        page.wait_for_selector("#kill-dialog:not([open])", state="attached")
        assert page.evaluate("document.activeElement.id") == "kill-switch-btn"
    finally:
        page.context.close()
