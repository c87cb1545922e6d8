"""Takes docs/screenshot.png: the served demo once it trades, in Debian's Chromium.

Run by hand (`make screenshot`), not by the test suite: it writes into the repository.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, open_logged_in
from tests.server_process import ROOT, ServerProcess


def main(seconds: float = 180.0, out: Path = ROOT / "docs" / "screenshot.png") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(
            Path(tmp) / "var", VIGIL_SIM_SPEED="5", VIGIL_SIM_HISTORY_S="21600"
        ).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium_path(), args=CHROMIUM_ARGS
                )
                page, _ = open_logged_in(browser, server, width=1600, height=1000)
                # Once the demo strategy holds a position (and its exits rest as orders), the
                # page shows what a user sees at work; `seconds` is only the deadline.
                page.wait_for_function(
                    "document.querySelectorAll('#positions-table tr[data-symbol]').length > 0"
                    " && document.querySelector('#orders-table tbody button') !== null",
                    timeout=seconds * 1000,
                )
                page.screenshot(path=str(out), full_page=False)
                browser.close()
        finally:
            server.stop()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
