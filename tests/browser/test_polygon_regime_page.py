"""The regime badge in a real browser on VIGIL_FEED=polygon: it names its source, the VIX or the
realized-vol proxy when the Polygon plan has no indices."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import open_logged_in
from tests.server_process import ServerProcess
from tests.venues.fakes.polygon import Streamer, polygon_env, rest_fixture, ws_fixture
from tests.venues.fakes.polygon_rest import FakePolygonRest
from tests.venues.fakes.polygon_ws import FakePolygonWs

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["rest_fixture", "ws_fixture"]  # the fakes, as fixtures `rest` and `ws`


@pytest.fixture
def polygon_server(
    tmp_path: Path, rest: FakePolygonRest, ws: FakePolygonWs
) -> Iterator[ServerProcess]:
    rest.indices = ws.indices = False
    streamer = Streamer(ws).start()
    server = ServerProcess(
        tmp_path / "var",
        VIGIL_FEED="polygon",
        VIGIL_SYMBOLS="SPY,QQQ",
        VIGIL_SIM_HISTORY_S="3600",
        **polygon_env(rest, ws, VIGIL_POLYGON_HTTP_TIMEOUT_S="5"),
    ).start()
    yield server
    server.stop()
    streamer.stop()


def test_plan_without_indices_then_the_badge_says_realized_vol_proxy(
    browser: Any, polygon_server: ServerProcess
) -> None:
    page, errors = open_logged_in(browser, polygon_server)
    try:
        page.wait_for_selector("#regime[data-source='realized-vol proxy']", timeout=30_000)
        text = page.inner_text("#regime .badge-sub")
        assert text.startswith("realized-vol proxy ") and float(text.split()[-1]) > 0
        assert "realized-vol proxy" in (page.get_attribute("#regime", "title") or "")
        assert page.inner_text("#regime .badge-text").strip() in {
            "ULTRA LOW VOL",
            "NORMAL VOL",
            "HIGH VOL",
        }
        assert errors == []
    finally:
        page.context.close()
