"""PolygonFeed against the loopback Polygon fakes, through massive's real REST and websocket
clients: history (pages, faults, a hang), live data, reconnects, staleness, auth, the plan."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from engine.clock import SystemClock
from engine.market.vol_proxy import PROXY_SOURCE, VIX_SOURCE
from engine.models import BarEvent, Quote, Side, TradeTick, VixUpdate
from engine.settings_group import SettingsError, load_group
from engine.venues.base import ConnectionState, VenueError
from engine.venues.polygon.feed import PolygonFeed
from engine.venues.polygon.settings import PolygonSettings
from tests.conftest import wait_until
from tests.venues.fakes.polygon import NOW, Collector, polygon_env, rest_fixture, ws_fixture
from tests.venues.fakes.polygon_rest import API_KEY, FakePolygonRest
from tests.venues.fakes.polygon_ws import FakePolygonWs, agg, index_value, quote, trade

__all__ = ["rest_fixture", "ws_fixture"]  # the fakes, as fixtures `rest` and `ws`


@pytest.fixture
def make_feed(rest: FakePolygonRest, ws: FakePolygonWs) -> Iterator[Any]:
    feeds: list[PolygonFeed] = []

    def make(symbols: tuple[str, ...] = ("SPY", "QQQ"), **env: str) -> PolygonFeed:
        config = load_group(PolygonSettings, polygon_env(rest, ws, **env))
        feed = PolygonFeed(config, list(symbols), clock=SystemClock(), rng=random.Random(5))
        feeds.append(feed)
        return feed

    yield make
    for feed in feeds:
        feed.stop()


def started(feed: PolygonFeed, ws: FakePolygonWs) -> Collector:
    sink = Collector()
    feed.start(sink)
    sink.wait_state(ConnectionState.CONNECTED)
    wait_until(lambda: ws.live("stocks"), 5.0, "the fake sees the subscription")
    return sink


# ----- history -----
def test_history_when_paged_then_newest_minutes_oldest_first_per_symbol(
    make_feed: Any, rest: FakePolygonRest
) -> None:
    feed = make_feed()
    events = feed.history(NOW, 120 * 60)
    bars = [e for e in events if isinstance(e, BarEvent)]
    spy = [b for b in bars if b.symbol == "SPY"]
    assert len(spy) == 120 and len([b for b in bars if b.symbol == "QQQ"]) == 120
    assert [b.ts for b in spy] == sorted(b.ts for b in spy)
    expected = rest.bars["SPY"][-120:]
    assert [(b.ts * 1000, b.close) for b in spy] == [(r["t"], r["c"]) for r in expected]
    assert sum("cursor=" in p for p in rest.requests) >= 4  # 120 bars in pages of 50, twice
    assert feed.history_problems == []
    vix = [e for e in events if isinstance(e, VixUpdate)]
    assert vix == [VixUpdate(rest.bars["I:VIX"][-1]["c"], NOW, VIX_SOURCE)]


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_history_when_a_retryable_status_then_retried_and_loaded(
    make_feed: Any, rest: FakePolygonRest, status: int
) -> None:
    rest.fail_next(2, status, retry_after="3600")  # a long Retry-After is not obeyed
    feed = make_feed(("SPY",))
    started_at = time.monotonic()
    bars = [e for e in feed.history(NOW, 30 * 60) if isinstance(e, BarEvent)]
    assert len(bars) == 30 and feed.history_problems == []
    assert time.monotonic() - started_at < 3.0


@pytest.mark.parametrize("status", [400, 401, 404])
def test_history_when_a_client_error_then_named_not_retried_and_others_load(
    make_feed: Any, rest: FakePolygonRest, status: int
) -> None:
    rest.fail_next(1, status)  # QQQ is asked first (sorted)
    feed = make_feed()
    bars = [e for e in feed.history(NOW, 30 * 60) if isinstance(e, BarEvent)]
    assert {b.symbol for b in bars} == {"SPY"}
    assert len(feed.history_problems) == 1 and feed.history_problems[0].startswith("QQQ: ")
    assert f"fake fault {status}" in feed.history_problems[0]
    assert sum("/QQQ/" in p for p in rest.requests) == 1


def test_history_when_the_server_keeps_failing_then_the_deadline_ends_it(
    make_feed: Any, rest: FakePolygonRest
) -> None:
    rest.fail_next(1000, 503)
    feed = make_feed(VIGIL_POLYGON_HISTORY_TIMEOUT_S="1")
    started_at = time.monotonic()
    events = feed.history(NOW, 30 * 60)
    assert time.monotonic() - started_at < 2.5
    assert [e for e in events if isinstance(e, BarEvent)] == []
    assert any("too many 503" in p for p in feed.history_problems)


def test_history_when_a_request_hangs_then_timed_out_and_retried(
    make_feed: Any, rest: FakePolygonRest
) -> None:
    rest.hang_next(1)
    feed = make_feed(("SPY",))
    started_at = time.monotonic()
    bars = [e for e in feed.history(NOW, 30 * 60) if isinstance(e, BarEvent)]
    assert len(bars) == 30 and feed.history_problems == []
    assert 0.5 <= time.monotonic() - started_at < 3.0  # one read timeout (0.5 s), then loaded


def test_history_when_every_request_hangs_then_bounded_and_reported_at_start(
    make_feed: Any, rest: FakePolygonRest, ws: FakePolygonWs
) -> None:
    rest.hang_next(1000)
    feed = make_feed(("SPY",), VIGIL_POLYGON_HISTORY_TIMEOUT_S="1")
    started_at = time.monotonic()
    assert feed.history(NOW, 30 * 60) == []
    assert time.monotonic() - started_at < 2.5
    assert feed.history_problems and "timed out" in feed.history_problems[0]
    sink = Collector()
    feed.start(sink)  # the live feed starts all the same, and says what is missing
    first = sink.wait_state(ConnectionState.CONNECTING)
    assert first.message.startswith("chart history incomplete: SPY: timed out")
    sink.wait_state(ConnectionState.CONNECTED)


def test_history_slices_when_slow_then_each_slice_returns_quickly(
    make_feed: Any, rest: FakePolygonRest
) -> None:
    rest.hang_next(1)  # the first request waits out the 0.5 s read timeout
    feed = make_feed(("SPY",))
    slices = list(feed.history_slices(NOW, 30 * 60))
    events = [e for _, part in slices for e in part]
    assert len([e for e in events if isinstance(e, BarEvent)]) == 30
    # While the request hung, the engine got its thread back: empty slices came before the
    # bars (judged by what was yielded, not by the wall clock of a busy machine).
    waiting = [done for done, part in slices[:-1] if not part]
    assert waiting and all(done < 1 for done in waiting) and slices[-1][0] == 1.0


# ----- live -----
def test_live_when_stocks_events_then_quotes_trades_and_bars(
    make_feed: Any, ws: FakePolygonWs
) -> None:
    feed = make_feed()
    sink = started(feed, ws)
    minute = NOW // 60 * 60
    ws.send("stocks", [quote("SPY", 500.0, 500.1, ts=NOW), trade("SPY", 500.1, 10, ts=NOW)])
    ws.send("stocks", [trade("SPY", 500.0, 5, ts=NOW + 0.1)])
    ws.send("stocks", [agg("A", "SPY", minute + 1, 500, 500.3, 499.9, 500.2, 100)])
    ws.send("stocks", [agg("A", "SPY", minute + 2, 500.2, 500.5, 500.1, 500.4, 50)])
    ws.send("stocks", [agg("AM", "SPY", minute, 500, 500.6, 499.8, 500.5, 900)])
    ws.send("stocks", [agg("A", "SPY", minute + 3, 500.2, 500.5, 500.1, 500.4, 50)])  # late
    wait_until(lambda: len(sink.of(BarEvent)) >= 3, 5.0, "three bars")
    assert sink.of(Quote) == [Quote("SPY", 500.0, 500.1, 200.0, 200.0, int(NOW * 1000) / 1000)]
    ticks = sink.of(TradeTick)
    assert [(t.price, t.size, t.aggressor) for t in ticks] == [
        (500.1, 10.0, Side.BUY),  # above the mid
        (500.0, 5.0, Side.SELL),  # below it
    ]
    forming1, forming2, closed = sink.of(BarEvent)[:3]
    assert (forming1.ts, forming1.close, forming1.closed) == (minute, 500.2, False)
    assert (forming2.open, forming2.high, forming2.low, forming2.close, forming2.volume) == (
        500.0, 500.5, 499.9, 500.4, 150.0,
    )  # fmt: skip
    assert closed == BarEvent("SPY", minute, 500, 500.6, 499.8, 500.5, 900.0, closed=True)
    # A marker sent after the late second-aggregate: once it is here, that one was handled.
    ws.send("stocks", [trade("SPY", 499.0, ts=NOW + 1)])
    wait_until(lambda: len(sink.of(TradeTick)) == 3, 5.0, "the marker")
    assert len(sink.of(BarEvent)) == 3


def test_live_when_bad_or_unsubscribed_events_then_ignored(
    make_feed: Any, ws: FakePolygonWs
) -> None:
    feed = make_feed()
    feed.subscribe(["SPY"])
    sink = started(feed, ws)
    crossed = quote("SPY", 500.2, 500.0)
    bad = [crossed, {**trade("SPY", 1.0), "p": "x"}, {**trade("SPY", 1.0), "p": -1}]
    ws.send("stocks", [*bad, trade("QQQ", 400.0), trade("SPY", 500.0)])
    wait_until(lambda: sink.of(TradeTick), 5.0, "the good trade")
    assert [t.price for t in sink.of(TradeTick)] == [500.0] and sink.of(Quote) == []
    feed.subscribe(["SPY", "QQQ"])  # from now on QQQ too
    ws.send("stocks", [trade("QQQ", 401.0)])
    wait_until(lambda: len(sink.of(TradeTick)) == 2, 5.0, "the QQQ trade")
    assert sink.of(TradeTick)[-1].symbol == "QQQ"


def test_subscribe_when_unknown_symbol_then_venue_error_naming_it(make_feed: Any) -> None:
    with pytest.raises(VenueError, match="'TSLA'"):
        make_feed().subscribe(["SPY", "TSLA"])


def test_drop_then_reconnecting_with_backoff_then_connected_and_resubscribed(
    make_feed: Any, ws: FakePolygonWs
) -> None:
    feed = make_feed()
    sink = started(feed, ws)
    before = len(sink.states())
    ws.drop()
    lost = sink.wait_state(ConnectionState.RECONNECTING, before)
    assert lost.attempt == 1 and "connection to Polygon stocks lost" in lost.message
    back = sink.wait_state(ConnectionState.CONNECTED, before)
    assert back.ts >= lost.ts and feed.connection().state is ConnectionState.CONNECTED
    wait_until(lambda: ws.live("stocks"), 5.0, "resubscribed")
    ws.send("stocks", [trade("SPY", 501.0)])
    wait_until(lambda: any(t.price == 501.0 for t in sink.of(TradeTick)), 5.0, "data again")


def test_refused_connections_then_attempts_count_up_until_the_server_is_back(
    make_feed: Any, ws: FakePolygonWs
) -> None:
    feed = make_feed()
    sink = started(feed, ws)
    before = len(sink.states())
    ws.refusing = True
    ws.drop()
    wait_until(
        lambda: [e.attempt for e in sink.states()[before:]][:3] == [1, 2, 3], 5.0, "3 attempts"
    )
    second = sink.states()[before + 1]
    assert second.state is ConnectionState.RECONNECTING
    assert "cannot connect to Polygon stocks" in second.message and "503" in second.message
    ws.refusing = False
    sink.wait_state(ConnectionState.CONNECTED, before)


def test_a_server_that_never_greets_then_open_timeout_and_retry(
    make_feed: Any, ws: FakePolygonWs
) -> None:
    ws.hanging = True
    feed = make_feed()
    sink = Collector()
    feed.start(sink)
    stuck = sink.wait_state(ConnectionState.RECONNECTING)
    assert "no answer from Polygon stocks within 0.5 s" in stuck.message
    ws.hanging = False
    sink.wait_state(ConnectionState.CONNECTED)


def test_silence_then_stale_then_connected_when_data_resumes(
    make_feed: Any, ws: FakePolygonWs
) -> None:
    feed = make_feed(VIGIL_POLYGON_STALE_S="0.3")
    sink = started(feed, ws)
    before = len(sink.states())
    stale = sink.wait_state(ConnectionState.STALE, before)
    assert "no data from Polygon stocks" in stale.message
    assert feed.connection().state is ConnectionState.STALE
    ws.send("stocks", [trade("SPY", 500.0)])
    resumed = sink.wait_state(ConnectionState.CONNECTED, before)
    assert resumed.message == "Polygon stocks data resumed"


def test_auth_failure_then_disconnected_naming_the_key(make_feed: Any, ws: FakePolygonWs) -> None:
    ws.api_key = "another-key"
    feed = make_feed()
    sink = Collector()
    feed.start(sink)
    refused = sink.wait_state(ConnectionState.DISCONNECTED)
    assert refused.message.startswith("POLYGON_API_KEY was refused by Polygon stocks")
    assert "authentication failed" in refused.message
    assert API_KEY not in refused.message


def test_missing_key_then_one_line_naming_it(rest: FakePolygonRest, ws: FakePolygonWs) -> None:
    config = load_group(PolygonSettings, {**polygon_env(rest, ws), "POLYGON_API_KEY": ""})
    with pytest.raises(SettingsError, match=r"^POLYGON_API_KEY: required"):
        PolygonFeed(config, ["SPY"], clock=SystemClock())


# ----- the regime -----
def test_plan_with_indices_then_vix_values_from_the_indices_cluster(
    make_feed: Any, ws: FakePolygonWs
) -> None:
    feed = make_feed()
    sink = started(feed, ws)
    wait_until(lambda: ws.live("indices"), 5.0, "the indices subscription")
    assert ws.subscribed["indices"] == {"V.I:VIX"}
    ws.send("indices", [index_value(18.5, ts=NOW), index_value(99.0, "I:SPX")])
    vix = wait_until(lambda: sink.of(VixUpdate), 5.0, "a VIX value")
    assert vix == [VixUpdate(18.5, int(NOW * 1000) / 1000, VIX_SOURCE)]
    assert feed.regime_source == VIX_SOURCE


def test_plan_without_indices_on_the_socket_then_the_proxy_and_its_label(
    make_feed: Any, ws: FakePolygonWs
) -> None:
    ws.indices = False  # REST still answers I:VIX here: the socket's refusal decides
    feed = make_feed()
    feed.history(NOW, 120 * 60)  # the proxy warms up on the history's minute bars
    assert feed.regime_source == VIX_SOURCE
    sink = started(feed, ws)
    switched = wait_until(
        lambda: [e for e in sink.states() if "realized-volatility proxy" in e.message],
        5.0,
        "the switch to the proxy",
    )
    assert "the Polygon plan has no indices" in switched[0].message
    assert feed.regime_source == PROXY_SOURCE
    readings = wait_until(
        lambda: len(sink.of(VixUpdate)) >= 2 and sink.of(VixUpdate), 5.0, "a proxy reading"
    )
    # First the last VIX of the history (REST had it), then the proxy once the socket refused.
    assert [v.source for v in readings] == [VIX_SOURCE, PROXY_SOURCE]
    assert 1 < readings[1].value < 100
    minute = NOW // 60 * 60
    ws.send("stocks", [agg("AM", "SPY", minute, 500, 501, 499, 500.2, 900)])
    wait_until(lambda: len(sink.of(VixUpdate)) >= 3, 5.0, "a new reading per minute bar")
    assert [v.source for v in sink.of(VixUpdate)][1:] == [PROXY_SOURCE, PROXY_SOURCE]


def test_plan_without_indices_on_rest_then_no_indices_socket_at_all(
    make_feed: Any, rest: FakePolygonRest, ws: FakePolygonWs
) -> None:
    rest.indices = False
    feed = make_feed()
    events = feed.history(NOW, 120 * 60)
    assert feed.regime_source == PROXY_SOURCE and feed.history_problems == []
    assert [e.source for e in events if isinstance(e, VixUpdate)] == [PROXY_SOURCE]
    sink = started(feed, ws)
    assert sink.of(VixUpdate)[0].source == PROXY_SOURCE  # at once, from the history
    assert ws.connections_made == 1  # stocks only


def test_indices_off_then_the_proxy_without_asking(
    make_feed: Any, rest: FakePolygonRest, ws: FakePolygonWs
) -> None:
    feed = make_feed(VIGIL_POLYGON_INDICES="off")
    feed.history(NOW, 60 * 60)
    assert not any("I:VIX" in p for p in rest.requests)
    started(feed, ws)
    assert feed.regime_source == PROXY_SOURCE and ws.connections_made == 1
