"""The served page's skeleton: every section, element id and data-testid the scripts rely on."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from tests.dashboard.conftest import LiveApp

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"

# The page's sections in order ("name:", the children of <body> with <main>'s children in its
# place), each followed by the ids inside it in document order; then every data-testid. The
# scripts look these up, so an edit that drops, renames or moves one must change this on purpose.
SECTIONS = """
page-config:
topbar: skip-link balance equity daily-pnl daily-pnl-pct total-pnl total-pnl-pct trading-mode
    trading-account market-hours regime health trading-state trading-flags share-marker venues
    venue-broker venue-feed conn-status user-name user-role tz-label theme-toggle cb-toggle
    logout-btn
stale-note: stale-note-text
ticker-strip:
halted-banner: hb-title hb-level hb-reason hb-actor hb-since hb-durable hb-durable-text
    banner-reset-btn
override-banner: override-list
market-view:
safety-panel: safety-title safety-trading-state entries-paused kill-switch-btn state-reason
    reconcile-issues reconcile-head reconcile-list ack-reconcile-btn daily-loss-text
    daily-loss-pct daily-loss-gauge positions-text positions-pct positions-gauge
    pause-entries-btn resume-entries-btn strategy-state bot-start-btn bot-stop-btn reset-btn
    override-btn breakers
positions-panel: positions-title positions-count positions-upnl positions-table
orders-panel: orders-title orders-count orders-table
ticket-panel: ticket-title ot-quote order-ticket ot-side-buy ot-side-sell ot-symbol ot-type
    ot-qty ot-limit ot-stop ot-sl ot-tp ot-notional ot-submit ot-result
inbox-panel: inbox-title inbox-count signal-mode-auto signal-mode-approve inbox-mode-note
    inbox-table
strategies-panel: strategies-title strategies-count strategies-table
perf-panel: perf-title perf-trades perf-win-rate perf-profit-factor perf-avg-win perf-avg-loss
    perf-expectancy perf-sharpe perf-payoff perf-sortino perf-max-dd perf-cur-dd pnl-range
    pnl-from pnl-to pnl-range-all equity-chart
    daily-pnl-label daily-pnl-chart
activity-panel: activity-title activity-count activity-clear activity-filters activity-log
trades-panel: trades-title trades-summary trade-filters trade-filter-symbol trade-filter-side
    trade-filter-from trade-filter-to trade-filter-result trades-csv trades-table
alerts-panel: alerts-title alerts-table alert-test-message alert-test-btn alert-test-result
audit-panel: audit-title audit-status audit-refresh audit-table
share-panel: share-title share-count share-status share-refresh share-form share-hours
    share-note share-create share-result share-url share-copy share-dismiss share-copied
    share-table
session-ended: session-ended-title session-ended-text
kill-pin:
kill-dialog: kill-form kill-title kill-level-pause kill-level-halt kill-level-flatten
    kill-reason kill-next kill-summary kill-back kill-confirm kill-result
reset-dialog: reset-form reset-title reset-current reset-reason reset-confirm reset-password
    reset-submit reset-result
confirm-dialog: confirm-title confirm-message confirm-cancel confirm-ok
close-dialog: close-form close-title close-held close-f25 close-f50 close-f75 close-f100
    close-fqty close-qty close-summary close-cancel close-submit close-result
stops-dialog: stops-form stops-title stops-quote stops-sl stops-tp stops-cancel stops-submit
    stops-result
override-dialog: override-form override-title override-name override-value override-minutes
    override-reason override-cancel override-submit override-result
toasts:
"""

TESTIDS = """
header skip-link balance equity daily-pnl total-pnl trading-mode market-hours regime health
trading-state trading-flags share-marker venues
venue-broker venue-feed conn-status user-name user-role tz-label theme-toggle cb-toggle logout-btn
stale-note halted-banner hb-durable banner-reset-btn safety-panel safety-trading-state
entries-paused kill-switch-btn reconcile-issues reconcile-list ack-reconcile-btn daily-loss-gauge
positions-gauge trading-controls pause-entries-btn resume-entries-btn bot-start-btn bot-stop-btn
reset-btn breakers positions-table orders-table order-ticket ot-submit ot-result inbox-panel
inbox-count signal-mode signal-mode-auto signal-mode-approve inbox-mode-note inbox-table perf-panel
pnl-from pnl-to pnl-range-all equity-chart daily-pnl-chart activity-log trade-filters trades-csv
trades-table alerts-panel
alerts-table alert-test-btn alert-test-result audit-refresh audit-table share-panel share-form
share-create share-result share-url share-copy share-table session-ended kill-pin kill-dialog
kill-next
kill-confirm kill-result reset-dialog reset-submit reset-result confirm-dialog confirm-ok
strategies-panel strategies-table
close-dialog close-f50 close-qty close-summary close-submit close-result stops-dialog stops-sl
stops-tp stops-submit stops-result override-banner override-list override-btn override-dialog
override-name override-value override-minutes override-reason override-submit override-result
"""


def sections_of(text: str) -> list[tuple[str, list[str]]]:
    """The checked-in list as (section id, [ids inside it])."""
    out: list[tuple[str, list[str]]] = []
    for word in text.split():
        if word.endswith(":"):
            out.append((word[:-1], []))
        else:
            out[-1][1].append(word)
    return out


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class Skeleton(HTMLParser):
    """Sections (children of <body>, <main> replaced by its children), their ids, all testids."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.sections: list[tuple[str | None, list[str]]] = []
        self.testids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        inside = self.open[2:] if self.open[:2] == ["html", "body"] else None
        if inside is not None:
            if (not inside and tag != "main") or inside == ["main"]:
                self.sections.append((a.get("id"), []))
            elif inside and a.get("id"):
                self.sections[-1][1].append(a["id"] or "")
        if a.get("data-testid"):
            self.testids.append(a["data-testid"] or "")
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        while self.open and self.open.pop() != tag:
            pass


def skeleton(html: str) -> Skeleton:
    parser = Skeleton()
    parser.feed(html)
    parser.close()
    return parser


def test_page_when_logged_in_then_every_section_id_and_testid_in_place(live: LiveApp) -> None:
    answer = live.http("vic").get("/")
    assert answer.status_code == 200
    page = skeleton(answer.get_data(as_text=True))

    expected = sections_of(SECTIONS)
    assert [name for name, _ in page.sections] == [name for name, _ in expected]
    for (name, ids), (_, want) in zip(page.sections, expected, strict=True):
        assert ids == want, name
    every_id = [i for name, ids in expected for i in (name, *ids)]
    assert len(every_id) == len(set(every_id)), "an id is used twice"
    assert sorted(page.testids) == sorted(TESTIDS.split())


def test_panel_templates_then_each_named_after_the_script_that_drives_it() -> None:
    # templates/panels/<module>[-part].html holds the markup static/js/panels/<module>.js drives.
    templates = sorted((DASHBOARD / "templates" / "panels").glob("*.html"))
    assert templates, "no panel templates"
    for template in templates:
        module = template.stem.split("-")[0]
        assert (DASHBOARD / "static" / "js" / "panels" / f"{module}.js").is_file(), template.name
