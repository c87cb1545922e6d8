"""Numbers and times on the page: format.js's units in the browser, one labelled time zone (the
session's) whatever the browser's own, and the trades CSV on the same day."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.browser.conftest import open_logged_in
from tests.conftest import wait_until
from tests.server_process import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def page(browser: Any, server: ServerProcess) -> Any:
    # A Los Angeles browser; the server's session zone is the default, America/New_York.
    page, errors = open_logged_in(browser, server, timezone_id="America/Los_Angeles")
    page.errors = errors
    yield page
    page.context.close()


def units(page: Any, body: str) -> Any:
    return page.evaluate(
        f"""async () => {{
          const f = await import("/static/js/format.js");
          {body}
        }}"""
    )


def test_pct_then_a_non_zero_amount_never_reads_zero(page: Any) -> None:
    got = units(
        page,
        "return [f.pct(-3.34 / 100000), f.signedPct(3.34 / 100000), f.pct(0.0123),"
        " f.pct(0), f.signedPct(-0.5), f.pct(1e-12)];",
    )
    assert got == ["-0.003%", "+0.003%", "1.23%", "0.00%", "-50.00%", "0.00%"]


def test_pnl_class_then_what_shows_as_zero_is_flat(page: Any) -> None:
    got = units(
        page,
        "return [f.pnlClass(0), f.pnlClass(-0.001), f.pnlClass(-0.004999), f.pnlClass(-0.01),"
        " f.pnlClass(0.02), f.signedMoney(-0.001)];",
    )
    assert got == ["flat", "flat", "flat", "neg", "pos", "$0.00"]


def test_price_and_qty_then_instrument_precision(page: Any) -> None:
    got = units(
        page,
        """f.configure({ instruments: {
             "EUR/USD": { tick: 0.00001, lot: 1000 }, "X": { tick: 0.001, lot: 0.001 },
             "SPY": { tick: 0.01, lot: 1 } } });
           return [f.price(0.12200000000000001, "X"), f.qty(0.12200000000000001, "X"),
                   f.price(1.1, "EUR/USD"), f.price(501.2, "SPY"), f.qty(3, "SPY"),
                   f.qty(0.5, "SPY"), f.price(0.1234567, "X"), f.price(499.74997, "SPY")];""",
    )
    # A quantity off its lot (a real 0.5 share) is shown as it is; a price at its tick.
    assert got == ["0.122", "0.122", "1.10000", "501.20", "3", "0.5", "0.123", "499.75"]


def test_page_times_then_session_zone_labelled_not_the_browsers(page: Any) -> None:
    page.wait_for_function("document.querySelector('#tz-label').textContent.length > 0")
    assert page.inner_text("#tz-label") in {"Times in EST", "Times in EDT"}
    assert "America/New_York" in page.get_attribute("#tz-label", "title")
    got = units(
        page,
        # 2026-07-01 03:30 UTC is 23:30 on June 30 in New York, 20:30 in Los Angeles.
        """const ms = Date.UTC(2026, 6, 1, 3, 30, 0);
           return [f.dateTimeOf(ms), f.dayStartMs("2026-06-30") === Date.UTC(2026, 5, 30, 4),
                   f.dayStartMs("2026-03-08") === Date.UTC(2026, 2, 8, 5),
                   f.dayStartMs("2026-03-09") === Date.UTC(2026, 2, 9, 4)];""",
    )
    assert got == ["2026-06-30 23:30:00", True, True, True]


def test_trades_csv_then_times_in_the_session_zone(page: Any, server: ServerProcess) -> None:
    session = server.login()

    def placed() -> bool:
        # Refused (NO_QUOTE) until the feed's first live quotes: retried until then.
        answer = session.post(
            f"{server.url}/api/control/place_order",
            json={"symbol": "SPY", "side": "buy", "qty": 1},
            timeout=10,
        )
        return answer.status_code == 200

    wait_until(placed, 60, "an order on a live quote")

    def closed() -> bool:
        answer = session.post(
            f"{server.url}/api/control/close_position", json={"symbol": "SPY"}, timeout=10
        )
        return answer.status_code == 200

    wait_until(closed, 20, "the position to close")
    rows: list[dict[str, str]] = []

    def exported() -> bool:
        text = session.get(f"{server.url}/api/trades.csv", timeout=10).text
        rows[:] = list(csv.DictReader(io.StringIO(text)))
        return bool(rows)

    wait_until(exported, 20, "the trade in the CSV")
    exit_time = rows[0]["exit_time"]
    assert exit_time[-6:] in {"-05:00", "-04:00"}, exit_time
    day = exit_time[:10]
    same_day = session.get(f"{server.url}/api/trades.csv?from={day}&to={day}", timeout=10).text
    assert len(list(csv.DictReader(io.StringIO(same_day)))) == len(rows)
    assert "." not in rows[0]["entry_price"] or len(rows[0]["entry_price"].split(".")[1]) <= 2


def test_audit_details_then_no_float_noise(page: Any) -> None:
    got = page.evaluate(
        """async () => {
          const { detailsText } = await import("/static/js/panels/audit.js");
          return detailsText({ symbol: "SPY", qty: 0.12200000000000001, price: 499.74997,
                               notional: 60.970000000000006, order: { stop_loss: 1.1000000001 } });
        }"""
    )
    assert got == 'symbol=SPY qty=0.122 price=499.75 notional=60.97 order={"stop_loss":"1.10"}'


def test_chart_time_labels_then_in_the_session_zone(page: Any) -> None:
    got = page.evaluate(
        """async () => {
          const c = await import("/static/js/market/chartdata.js");
          const t = Date.UTC(2026, 6, 1, 3, 30, 0) / 1000;
          return [c.timeFormatter(t), c.tickMarkFormatter(t, 3), c.tickMarkFormatter(t, 2)];
        }"""
    )
    assert got == ["2026-06-30 23:30:00", "23:30", "30 Jun"]
