"""The page under latch faults: a halt that could not be saved says so; a deleted latch says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import open_logged_in
from tests.server_process import ServerProcess
from tests.storage_faults import frozen, require_freezable

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def own_server(data_dir: Path) -> Any:
    proc = ServerProcess(data_dir, VIGIL_SIM_HISTORY_S="0").start()
    yield proc
    proc.stop()


def engage_from_page(page: Any, reason: str) -> None:
    page.click("#kill-switch-btn")
    page.wait_for_selector("#kill-dialog[open]")
    page.check("#kill-level-halt")
    page.fill("#kill-reason", reason)
    page.click("#kill-next")
    page.click("#kill-confirm")


def test_engage_while_storage_unwritable_then_page_says_not_durable_until_saved(
    browser: Any, own_server: ServerProcess, data_dir: Path, tmp_path: Path
) -> None:
    require_freezable(tmp_path)
    page, errors = open_logged_in(browser, own_server)
    try:
        with frozen(data_dir):
            engage_from_page(page, "disk drill")
            page.wait_for_selector("#hb-durable:not([hidden])", timeout=10_000)
            assert "NOT DURABLE" in page.inner_text("#halted-banner")
            assert "NOT DURABLE" in page.inner_text("#kill-result")
            assert "NOT DURABLE" in page.inner_text("#state-reason")
            assert page.inner_text("#trading-state").strip() == "HALTED"
        page.wait_for_selector("#hb-durable", state="hidden", timeout=10_000)
        assert page.inner_text("#trading-state").strip() == "HALTED"
        assert not [e for e in errors if "pageerror" in e]
    finally:
        page.context.close()


def test_latch_deleted_then_page_shows_halted_with_the_reason(
    browser: Any, own_server: ServerProcess, data_dir: Path
) -> None:
    page, _ = open_logged_in(browser, own_server)
    try:
        engage_from_page(page, "night")
        page.wait_for_selector("#halted-banner:not([hidden])", timeout=10_000)
        (data_dir / "kill_switch.json").unlink()
        page.wait_for_function(
            "document.querySelector('#state-reason').textContent.includes('deleted')",
            timeout=10_000,
        )
        assert page.inner_text("#trading-state").strip() == "HALTED"
    finally:
        page.context.close()
