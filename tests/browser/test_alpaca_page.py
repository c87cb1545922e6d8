"""The header always says PAPER or LIVE and the account traded (LIVE unmistakable), and that
the market is closed when Alpaca's clock says so: the real server on the Alpaca fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import open_logged_in
from tests.server_process import ServerProcess
from tests.test_alpaca_process import server_env
from tests.venues.fakes.alpaca_trading import FakeAlpacaTrading

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def mode_text(page: Any) -> str:
    return " ".join(page.inner_text("#trading-mode").split())


def background(page: Any, selector: str) -> str:
    return str(page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor"))


@pytest.fixture
def fake() -> Iterator[FakeAlpacaTrading]:
    with FakeAlpacaTrading() as server:
        yield server


def test_paper_default_then_header_says_paper_and_paper(
    browser: Any, server: ServerProcess
) -> None:
    page, errors = open_logged_in(browser, server)
    try:
        page.wait_for_selector("#trading-mode[data-mode=PAPER]", timeout=20_000)
        assert mode_text(page) == "PAPER paper"
        assert page.is_hidden("#market-hours")
        assert not [e for e in errors if "pageerror" in e], errors
    finally:
        page.close()


def test_alpaca_live_with_market_closed_then_live_account_and_closed_badge(
    browser: Any, fake: FakeAlpacaTrading, tmp_path: Path
) -> None:
    fake.set_market_open(False)
    env = server_env(fake, VIGIL_TRADING_MODE="live", VIGIL_LIVE_ACCOUNT="PA3FAKE0001")
    server = ServerProcess(tmp_path / "var", **env).start()
    try:
        page, errors = open_logged_in(browser, server)
        page.wait_for_selector("#trading-mode[data-mode=LIVE]", timeout=20_000)
        assert mode_text(page) == "LIVE PA3FAKE0001"
        page.wait_for_selector("#market-hours:not([hidden])", timeout=20_000)
        assert "closed" in page.inner_text("#market-hours").lower()
        # LIVE is filled in the danger colour; the trading-state badge is only tinted.
        assert background(page, "#trading-mode") != background(page, "#trading-state")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "alpaca-live-header.png"))
        assert not [e for e in errors if "pageerror" in e], errors
        page.close()
    finally:
        server.stop()
