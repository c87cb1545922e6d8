"""The page in a real browser takes its topics from the generated module: the activity log tags
its rows as declared in engine/topics.py, and no handler waits for an undeclared topic."""

from __future__ import annotations

from typing import Any

import pytest

from engine.topics import TOPICS
from tests.browser.conftest import open_logged_in
from tests.server_process import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_activity_rows_carry_the_declared_tags_and_every_handler_names_a_topic(
    browser: Any, server: ServerProcess
) -> None:
    page, errors = open_logged_in(browser, server)
    try:
        # The engine's start-up announcements are in the snapshot's activity history.
        page.wait_for_selector("#activity-log .act-row[data-type=system]", timeout=30_000)
        rows = page.eval_on_selector_all(
            "#activity-log .act-row",
            "rows => rows.map(r => [r.dataset.type, r.querySelector('.act-tag').textContent])",
        )
        declared = {t.name: t.log_tag for t in TOPICS if t.log_tag}
        assert rows and all(declared.get(kind) == tag for kind, tag in rows), rows
        assert not [e for e in errors if "no server topic" in e or "pageerror" in e], errors
    finally:
        page.context.close()


def test_a_filter_chip_hides_its_type_and_shows_it_again(
    browser: Any, server: ServerProcess
) -> None:
    page, errors = open_logged_in(browser, server)
    try:
        system = "#activity-log .act-row[data-type=system]"
        page.wait_for_selector(system, timeout=30_000)
        chip = page.locator("#activity-filters [data-type=system]")
        chip.click()
        assert chip.get_attribute("aria-pressed") == "false"
        page.wait_for_selector(system, state="hidden")
        assert page.locator(system).first.is_hidden()
        others = page.locator("#activity-log .act-row:not([data-type=system])")
        if others.count():
            assert others.first.is_visible()
        chip.click()
        assert chip.get_attribute("aria-pressed") == "true"
        page.wait_for_selector(system, state="visible")
        assert not [e for e in errors if "pageerror" in e], errors
    finally:
        page.context.close()
