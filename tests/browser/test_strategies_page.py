"""The strategies panel in a real browser: every configured strategy is listed, turning one
off and setting its size go through `set_strategy` and come back from the server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import open_logged_in
from tests.server_process import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMES = "\u00d7"  # the multiplication sign the panel writes before a multiplier
NAMES = ["demo", "breakout", "trend", "mean_reversion", "selector"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("strategies") / "var"
    proc = ServerProcess(data_dir, VIGIL_STRATEGIES=",".join(NAMES)).start()
    yield proc
    proc.stop()


def row_text(page: Any, name: str) -> str:
    return page.inner_text(f"#strategies-table tr[data-strategy={name}]")


def test_strategies_panel_lists_toggles_and_sizes(browser: Any, server: ServerProcess) -> None:
    page, errors = open_logged_in(browser, server)
    try:
        page.wait_for_selector("#strategies-table tr[data-strategy=selector]", timeout=15_000)
        shown = page.eval_on_selector_all(
            "#strategies-table tbody tr[data-strategy]",
            "(rows) => rows.map((r) => r.dataset.strategy)",
        )
        assert shown == NAMES
        assert page.inner_text("#strategies-count") == "5"
        assert "ON" in row_text(page, "breakout")

        toggle = page.locator("[data-testid=strategy-toggle-breakout]")
        assert toggle.get_attribute("aria-label") == "Turn off breakout"
        toggle.click()
        page.wait_for_function(
            "() => document.querySelector('#strategies-table tr[data-strategy=breakout]')"
            ".innerText.includes('OFF')",
            timeout=10_000,
        )
        assert toggle.get_attribute("aria-pressed") == "false"
        assert "ON" in row_text(page, "trend")  # only the one turned off

        page.fill("[data-testid=strategy-size-trend]", "0.5")
        page.click("[data-testid=strategy-size-set-trend]")
        page.wait_for_function(
            "() => document.querySelector('#strategies-table tr[data-strategy=trend]')"
            f".innerText.includes('{TIMES}0.50')",
            timeout=10_000,
        )

        # A refused value never leaves the page: nothing changes, the operator is told.
        page.fill("[data-testid=strategy-size-trend]", "9")
        page.click("[data-testid=strategy-size-set-trend]")
        page.wait_for_selector("text=must be above 0 and at most 3", timeout=5_000)
        assert f"{TIMES}0.50" in row_text(page, "trend")

        # The server's own record agrees (the snapshot a reload would show).
        state = page.evaluate("fetch('/api/state').then((r) => r.json())")
        rows = {r["name"]: r for r in state["strategies"]["strategies"]}
        assert rows["breakout"]["enabled"] is False and rows["trend"]["size_multiplier"] == 0.5
        assert not [e for e in errors if "pageerror" in e], errors
    finally:
        page.context.close()
