"""An outage is not understated: a stopping server leaves "Live" at once; once it is down, the
figures are greyed with their age and health reads UNKNOWN; back live, all of it clears."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import open_logged_in
from tests.server_process import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_server_stops_then_not_live_greyed_with_age_and_health_unknown(
    browser: Any, tmp_path: Path
) -> None:
    server = ServerProcess(tmp_path / "var").start()
    page, _ = open_logged_in(browser, server, width=1280, height=800)
    try:
        page.wait_for_function(
            "document.querySelector('#health .badge-text').textContent === 'OK'"
            " || document.querySelector('#health .badge-text').textContent"
            " === 'DEGRADED'",
            timeout=30_000,
        )
        assert not page.is_visible("#stale-note")
        assert page.get_attribute("#conn-status", "data-state") == "connected"
        assert server.proc is not None
        os.killpg(server.proc.pid, signal.SIGTERM)
        # Told by the server while it drains: well before the socket closes.
        page.wait_for_selector("#conn-status[data-state=stopping]", timeout=5_000)
        assert page.inner_text("#conn-status .conn-label") == "Server stopping"
        page.wait_for_selector("#stale-note", state="visible", timeout=5_000)
        assert "The server is stopping" in page.inner_text("#stale-note")
        assert page.inner_text("#health .badge-text") == "UNKNOWN"
        server.stop()
        page.wait_for_function(
            "['reconnecting', 'offline'].includes("
            "document.querySelector('#conn-status').dataset.state)",
            timeout=20_000,
        )
        # The age grows with time: "(3s old)" becomes "(4s old)"...
        page.wait_for_function(
            "/\\((?:[2-9]|\\d\\d+)s old\\)/"
            ".test(document.querySelector('#stale-note').textContent)",
            timeout=10_000,
        )
        note = page.inner_text("#stale-note")
        assert "lost" in note and "Health UNKNOWN" in note, note
        assert page.inner_text("#health .badge-text") == "UNKNOWN"
        greyed = page.evaluate("getComputedStyle(document.querySelector('#balance')).opacity")
        assert float(greyed) < 1
        # Back: a new server on the same port and directory; the page returns to live.
        server.start()
        page.wait_for_selector("#conn-status[data-state=connected]", timeout=30_000)
        page.wait_for_selector("#stale-note", state="hidden", timeout=5_000)
        page.wait_for_function(
            "document.querySelector('#health .badge-text').textContent !== 'UNKNOWN'",
            timeout=20_000,
        )
        assert (
            float(page.evaluate("getComputedStyle(document.querySelector('#balance')).opacity"))
            == 1
        )
    finally:
        page.context.close()
        server.stop()
