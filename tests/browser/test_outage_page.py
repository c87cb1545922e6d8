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


# Every state the page shows, recorded in the page at each change of the DOM.
RECORD_SCREENS = """() => {
  window.__screens = [];
  const text = (sel) => (document.querySelector(sel) || {}).textContent || "";
  const record = () => {
    const note = document.querySelector("#stale-note");
    window.__screens.push({
      state: document.querySelector("#conn-status").dataset.state,
      label: text("#conn-status .conn-label"),
      note: note && !note.hidden ? note.textContent : "",
      health: text("#health .badge-text"),
    });
  };
  new MutationObserver(record).observe(document.body, {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
}"""


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
        page.evaluate(RECORD_SCREENS)
        os.killpg(server.proc.pid, signal.SIGTERM)
        # Told by the server while it drains, before the socket closes. The drain can be
        # shorter than a test's round trip to the browser, so the page records what it showed.
        page.wait_for_function(
            "window.__screens.some(s => s.state === 'stopping'"
            " && s.label === 'Server stopping' && s.note.includes('The server is stopping')"
            " && s.health === 'UNKNOWN')",
            timeout=5_000,
        )
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
