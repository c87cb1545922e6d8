"""The page in a real browser against the scale-out layout: an engine process and a gevent web
process over a real redis-server (VIGIL_REDIS_URL): live panels, then the kill switch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import open_logged_in
from tests.browser.test_page import (
    test_kill_switch_from_the_page_then_halted_banner_and_reset_by_admin as kill_switch_drill,
)
from tests.browser.test_page import (
    test_login_then_header_and_panels_show_live_values as live_values,
)
from tests.scale.processes import EngineProcess, RedisServer
from tests.server_process import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("redis-page")
    redis_server = RedisServer(root / "redis").start()
    engine = EngineProcess(root / "var", VIGIL_REDIS_URL=redis_server.url)
    proc = ServerProcess(root / "var", VIGIL_REDIS_URL=redis_server.url)
    try:
        engine.start()
        proc.start()
        yield proc
    finally:
        proc.stop()
        engine.stop()
        redis_server.stop()


@pytest.fixture(scope="module")
def page(browser: Any, web: ServerProcess) -> Iterator[Any]:
    page, errors = open_logged_in(browser, web)
    page.errors = errors
    yield page
    page.context.close()


def test_page_over_redis_then_live_values(page: Any) -> None:
    live_values(page)


def test_page_over_redis_then_kill_switch_and_reset(page: Any) -> None:
    kill_switch_drill(page)
