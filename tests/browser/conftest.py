"""Browser fixtures: the real server (gunicorn) and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_PASSWORD
from tests.server_process import ServerProcess

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("VIGIL_CHROMIUM") or shutil.which("chromium") or ""
    if not path:
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run the browser tests, never skip them
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir: Path = tmp_path_factory.mktemp("browser") / "var"
    proc = ServerProcess(data_dir, VIGIL_SIM_HISTORY_S="7200").start()
    yield proc
    proc.stop()


class PageErrors(list[str]):
    pass


def open_logged_in(
    browser: Any,
    server: ServerProcess,
    *,
    username: str = "admin",
    password: str = ADMIN_PASSWORD,
    width: int = 1600,
    height: int = 1000,
    enforce_csp: bool = False,
    timezone_id: str | None = None,
) -> tuple[Any, PageErrors]:
    """A logged-in page. Playwright's wait_for_function evaluates strings, which the page's
    CSP forbids, so tests bypass the CSP unless they are about it (`enforce_csp=True`)."""
    context = browser.new_context(
        viewport={"width": width, "height": height},
        bypass_csp=not enforce_csp,
        timezone_id=timezone_id,
    )
    page = context.new_page()
    errors = PageErrors()
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    page.goto(f"{server.url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/")
    page.wait_for_selector("#conn-status[data-state=connected]", timeout=15_000)
    return page, errors
