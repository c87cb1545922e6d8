"""The page's view of the topics: the generated module, and the activity log's filter chips,
agree with engine/topics.py."""

from __future__ import annotations

import re
from pathlib import Path

from engine.topics import TOPICS

TEMPLATES = Path(__file__).resolve().parents[2] / "dashboard" / "templates"
CHIP = re.compile(r'<button[^>]*data-type="(\w+)"[^>]*>([^<]*)</button>')


def _chips() -> list[tuple[str, str]]:
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        if 'id="activity-filters"' in text:
            start = text.index('id="activity-filters"')
            block = text[start : text.index("</div>", start)]
            return CHIP.findall(block)
    raise AssertionError("no template holds the activity filters")


def test_activity_filter_chips_are_the_logged_topics_in_order() -> None:
    logged = [(t.name, t.log_tag.capitalize()) for t in TOPICS if t.log_tag]
    assert logged
    assert _chips() == logged
