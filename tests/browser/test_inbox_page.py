"""The signal inbox in a real browser against the real server: a signed webhook signal appears,
approve places the order, reject places nothing; the mode switch goes to approve."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dashboard.webhook import sign
from tests.browser.conftest import open_logged_in
from tests.conftest import wait_until
from tests.server_process import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SECRET = "browser-webhook-secret-0123"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir: Path = tmp_path_factory.mktemp("inbox") / "var"
    proc = ServerProcess(
        data_dir,
        VIGIL_SIM_HISTORY_S="600",
        VIGIL_STRATEGY="none",  # only the test's signals reach the inbox
        VIGIL_WEBHOOK_SECRET=SECRET,
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def page(browser: Any, server: ServerProcess) -> Any:
    page, errors = open_logged_in(browser, server)
    page.errors = errors
    page.wait_for_selector("#venue-feed[data-state=connected]", timeout=60_000)
    yield page
    page.context.close()


def send_signal(server: ServerProcess, **fields: Any) -> str:
    body = json.dumps({"symbol": "QQQ", "side": "buy", "qty": 1, "confidence": 0.75, **fields})
    stamp = str(int(time.time()))
    answer = requests.post(
        f"{server.url}/api/signals",
        data=body.encode(),
        headers={
            "Content-Type": "application/json",
            "X-Vigil-Timestamp": stamp,
            "X-Vigil-Signature": sign(SECRET, stamp, body.encode()),
        },
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    signal_id: str = answer.json()["id"]
    return signal_id


def qqq_qty(server: ServerProcess) -> float:
    state = server.login().get(f"{server.url}/api/state", timeout=10).json()
    return sum(p["qty"] for p in state["positions"] if p["symbol"] == "QQQ")


def test_switch_to_approve_then_mode_shown_and_held_by_the_server(
    page: Any, server: ServerProcess
) -> None:
    page.click("label:has(#signal-mode-approve)")
    page.wait_for_selector("#inbox-panel[data-mode=approve]", timeout=10_000)
    state = server.login().get(f"{server.url}/api/state", timeout=10).json()
    assert state["signals"]["mode"] == "approve"
    assert "Approve mode" in page.inner_text("#inbox-mode-note")


def test_webhook_signal_then_in_inbox_then_approve_places_the_order(
    page: Any, server: ServerProcess
) -> None:
    before = qqq_qty(server)
    signal_id = send_signal(server, strategy="tv", reason="browser test")

    row = page.locator(f"#inbox-table tr[data-id='{signal_id}']")
    row.wait_for(timeout=10_000)
    text = row.inner_text()
    assert "QQQ" in text and "BUY" in text and "0.75" in text and "webhook" in text
    assert page.inner_text("#inbox-count").strip() == "1"
    assert qqq_qty(server) == before  # held: nothing sent yet

    page.click(f"[data-testid='approve-{signal_id}']")
    page.wait_for_selector("#confirm-dialog[open]")
    assert "QQQ" in page.inner_text("#confirm-message")
    page.click("#confirm-ok")

    row.wait_for(state="detached", timeout=10_000)
    page.wait_for_selector("#positions-table tr[data-symbol=QQQ]", timeout=15_000)
    assert wait_until(lambda: qqq_qty(server) == before + 1, 10, "the approved order to fill")


def test_webhook_signal_then_reject_places_nothing(page: Any, server: ServerProcess) -> None:
    before = qqq_qty(server)
    signal_id = send_signal(server, side="buy", qty=1)
    row = page.locator(f"#inbox-table tr[data-id='{signal_id}']")
    row.wait_for(timeout=10_000)

    page.click(f"[data-testid='reject-{signal_id}']")
    page.wait_for_selector("#confirm-dialog[open]")
    page.click("#confirm-ok")

    row.wait_for(state="detached", timeout=10_000)
    assert page.inner_text("#inbox-count").strip() == "0"
    session = server.login()
    audit = session.get(f"{server.url}/api/audit", timeout=10).json()["entries"]
    assert any(e["action"] == "reject_signal" for e in audit)
    assert qqq_qty(server) == before
    assert not [e for e in page.errors if "pageerror" in e], page.errors
