"""The page says which broker and feed are in use and their connection state, always visible:
in the header on a desktop, in a strip fixed at the bottom on a phone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import open_logged_in
from tests.server_process import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def venue_text(page: Any, source: str) -> str:
    return " ".join(page.inner_text(f"#venue-{source}").split())


def in_viewport(page: Any, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    view = page.viewport_size
    return (
        box is not None
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= view["width"]
        and box["y"] + box["height"] <= view["height"]
    )


def no_horizontal_overflow(page: Any) -> bool:
    root = "document.documentElement"
    return bool(page.evaluate(f"{root}.scrollWidth <= {root}.clientWidth"))


@pytest.fixture(scope="module")
def replay_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("replay-venues")
    csv = root / "bars.csv"
    csv.write_text(
        "timestamp,open,high,low,close,volume\n"
        + "".join(f"2020-04-01T08:{m:02d}:00Z,100,101,99,100.5,500\n" for m in range(3))
    )
    proc = ServerProcess(
        root / "var",
        VIGIL_FEED="replay",
        VIGIL_REPLAY_CSV=str(csv),
        VIGIL_REPLAY_SYMBOL="QQQ",
        VIGIL_REPLAY_SPEED="20",  # three minutes of data in nine seconds
    ).start()
    yield proc
    proc.stop()


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_sim_feed_then_broker_and_feed_connected_and_visible(
    browser: Any, server: ServerProcess, width: int, height: int
) -> None:
    page, errors = open_logged_in(browser, server, width=width, height=height)
    try:
        page.wait_for_selector("#venue-feed[data-state=connected]", timeout=20_000)
        assert venue_text(page, "feed") == "sim · connected"
        assert venue_text(page, "broker") == "paper · connected"
        # Always visible: also after scrolling to the bottom of a long page.
        page.mouse.wheel(0, 5000)
        page.wait_for_function("window.scrollY > 0")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"venues-{width}.png"))
        for source in ("broker", "feed"):
            assert in_viewport(page, f"#venue-{source}"), (source, width)
        assert no_horizontal_overflow(page)
        page.mouse.wheel(0, -10000)
        page.wait_for_function("window.scrollY === 0")
        page.screenshot(path=str(SHOTS / f"venues-{width}-top.png"))
        assert not [e for e in errors if "pageerror" in e], errors
    finally:
        page.context.close()


def test_replay_when_played_out_then_feed_shows_ended(
    browser: Any, replay_server: ServerProcess
) -> None:
    page, errors = open_logged_in(browser, replay_server, width=390, height=844)
    try:
        page.wait_for_selector("#venue-feed[data-state=ended]", timeout=30_000)
        assert venue_text(page, "feed") == "replay · ended"
        assert "played out" in (page.get_attribute("#venue-feed", "title") or "")
        assert in_viewport(page, "#venue-feed")
        assert no_horizontal_overflow(page)
        assert not [e for e in errors if "pageerror" in e], errors
    finally:
        page.context.close()
