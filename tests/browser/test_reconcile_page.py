"""The Safety panel lists the reconciliation differences and an admin acknowledges them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import open_logged_in
from tests.server_process import ServerProcess
from tests.test_reconcile_process import ENV, diverge_venue_record

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_differences_listed_then_acknowledged_from_the_page(browser: Any, tmp_path: Path) -> None:
    server = ServerProcess(diverge_venue_record(tmp_path), **ENV).start()
    try:
        page, errors = open_logged_in(browser, server)
        page.wait_for_selector("#reconcile-issues:not([hidden])", timeout=10_000)
        assert page.inner_text("#safety-trading-state").strip() == "REDUCING"
        rows = page.locator("#reconcile-list li")
        assert rows.count() == 2
        text = page.inner_text("#reconcile-list")
        assert "order PV-900" in text and "venue: buy 1 QQQ limit @ 1" in text
        assert "store: 0.1 · venue: 0.6" in text
        assert "disagree (2)" in page.inner_text("#reconcile-head")
        page.click("#ack-reconcile-btn")
        page.wait_for_selector("#confirm-dialog[open]")
        page.click("#confirm-ok")
        page.wait_for_selector("#reconcile-issues", state="hidden", timeout=10_000)
        assert page.locator("#ack-reconcile-btn").is_hidden()
        page.wait_for_function(
            "document.querySelector('#safety-trading-state').textContent.trim() === 'ACTIVE'"
        )
        assert errors == []
        page.context.close()
    finally:
        server.stop()
