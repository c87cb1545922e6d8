"""Share links in a real browser: create, open read-only, revoke; sessions that end end the page."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import requests

from tests.browser.conftest import open_logged_in
from tests.server_process import ROOT, ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FLASK_CLI = [sys.executable, "-m", "flask", "--app", "wsgi"]

# Everything that acts on trading or safety; a shared viewer must be able to use none of it.
CONTROLS = (
    "#kill-switch-btn",
    "#reset-btn",
    "#banner-reset-btn",
    "#pause-entries-btn",
    "#resume-entries-btn",
    "#bot-start-btn",
    "#bot-stop-btn",
    "#ot-submit",
    "#ot-qty",
    "#alert-test-btn",
    "#share-create",
)


def create_link_in_page(page: Any, note: str) -> tuple[str, str]:
    """Create a link through the admin panel; returns (url, link id)."""
    page.wait_for_selector("#share-panel", state="visible")
    page.fill("#share-hours", "2")
    page.fill("#share-note", note)
    page.click("#share-create")
    page.wait_for_selector("#share-result:not([hidden])")
    url = page.input_value("#share-url")
    row = page.locator("#share-table tr[data-state=active]", has_text=note)
    row.wait_for(timeout=5_000)
    return url, row.get_attribute("data-id") or ""


def test_admin_shares_a_link_then_viewer_reads_only_and_revoke_ends_the_view(
    browser: Any, server: ServerProcess
) -> None:
    admin, admin_errors = open_logged_in(browser, server)
    viewer_context = browser.new_context(viewport={"width": 1600, "height": 1000}, bypass_csp=True)
    try:
        url, link_id = create_link_in_page(admin, "browser test")
        assert url.startswith(f"{server.url}/share/")
        assert link_id and link_id in admin.inner_text("#share-table")
        assert "Copy" in admin.inner_text("#share-result")

        viewer = viewer_context.new_page()
        viewer.goto(url)
        viewer.wait_for_url(f"{server.url}/")
        viewer.wait_for_selector("#conn-status[data-state=connected]", timeout=15_000)
        viewer.wait_for_function("document.querySelector('#balance').textContent.includes('$')")
        viewer.wait_for_selector("#share-marker", state="visible")
        assert "read-only shared view" in viewer.inner_text("#share-marker").lower()
        assert viewer.inner_text("#user-role").strip().lower() == "viewer"
        for selector in CONTROLS:
            control = viewer.locator(selector)
            assert not control.is_visible(), selector
            assert control.is_disabled(), selector
        assert not viewer.locator("#share-panel").is_visible()
        # The admin's own page never shows the marker.
        assert not admin.locator("#share-marker").is_visible()

        admin.click(f"#share-table tr[data-id='{link_id}'] [data-testid=share-revoke]")
        admin.click("#confirm-ok")
        admin.wait_for_selector(f"#share-table tr[data-id='{link_id}'][data-state=revoked]")
        viewer.wait_for_selector("#session-ended:not([hidden])", timeout=10_000)
        assert viewer.get_attribute("#conn-status", "data-state") == "ended"
        assert "revoked or has expired" in viewer.inner_text("#session-ended")
        # It stays ended: the page stopped reconnecting, and the link no longer opens.
        viewer.wait_for_timeout(2_500)
        assert viewer.get_attribute("#conn-status", "data-state") == "ended"
        assert requests.get(url, timeout=10, allow_redirects=False).status_code == 403
        assert not [e for e in admin_errors if "pageerror" in e], admin_errors
    finally:
        viewer_context.close()
        admin.context.close()


def test_logout_in_another_tab_then_this_page_goes_to_login(
    browser: Any, server: ServerProcess
) -> None:
    first, _ = open_logged_in(browser, server)
    try:
        second = first.context.new_page()
        second.goto(f"{server.url}/")
        second.wait_for_selector("#conn-status[data-state=connected]", timeout=15_000)
        leaving: list[str] = []
        second.on(
            "request",
            lambda r: r.is_navigation_request() and r.frame == second.main_frame
            and leaving.append(r.url),
        )  # fmt: skip
        second.click("#logout-btn")
        second.wait_for_url(f"{server.url}/login")
        # The button and the socket (closed by the logout) both want sign-in: one navigation,
        # not a second one aborting the first.
        assert leaving == [f"{server.url}/login"], leaving
        # The server closed the first tab's socket; the page checks and leaves for sign-in.
        first.wait_for_url(f"{server.url}/login", timeout=10_000)
    finally:
        first.context.close()


def test_trader_then_no_share_links_panel_and_no_marker(
    browser: Any, server: ServerProcess
) -> None:
    env = {**os.environ, "VIGIL_DATA_DIR": server.env["VIGIL_DATA_DIR"]}
    added = subprocess.run(
        [*FLASK_CLI, "users", "add", "tara", "--role", "trader", "--password-stdin"],
        cwd=ROOT,
        env=env,
        input="trader-password-1\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    page, errors = open_logged_in(browser, server, username="tara", password="trader-password-1")
    try:
        page.wait_for_function("document.querySelector('#balance').textContent.includes('$')")
        assert page.inner_text("#user-role").strip().lower() == "trader"
        assert not page.locator("#share-panel").is_visible()
        assert page.locator("#share-create").is_disabled()
        assert not page.locator("#share-marker").is_visible()
        assert page.locator("#kill-switch-btn").is_enabled()
        # The panel never asked: the list is admin-only and a trader's page does not try.
        assert not [e for e in errors if "403" in e or "pageerror" in e], errors
    finally:
        page.context.close()
