"""The venue contract run against the paper venue (its own record file, answers via a sink)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.clock import FakeClock
from engine.models import Quote
from engine.venues.base import Broker, OrderEvent, VenueEvent
from engine.venues.paper.venue import PaperVenue
from engine.venues.sim.catalogue import DEFAULT_INSTRUMENTS
from tests.conftest import wait_until
from tests.venues.broker_contract import ASK, BID, SYMBOL, BrokerContract, make_order


class PaperHarness:
    def __init__(self, path: Path, latency_ms: int = 0) -> None:
        self.path = path
        self.clock = FakeClock(start=time.time())
        self.latency_ms = latency_ms
        self.events: list[VenueEvent] = []
        self.broker: PaperVenue = self._open()
        self.market(BID, ASK)

    def _open(self) -> PaperVenue:
        venue = PaperVenue(
            dict(DEFAULT_INSTRUMENTS),
            self.path,
            clock=self.clock,
            fee_bps=1.0,
            slippage_bps=1.0,
            latency_ms=self.latency_ms,
        )
        venue.start(self.events.append)
        return venue

    def market(self, bid: float, ask: float) -> None:
        self.clock.advance(0.1)
        self.broker.on_market(Quote(SYMBOL, bid, ask, 10.0, 10.0, self.clock.time()))

    def settle(self) -> None:
        """Latency 0 delivers on the caller's thread; otherwise wait for the outbox."""
        if self.latency_ms:
            wait_until(self.broker.idle, message="the venue's outbox to empty")

    def reject_next(self, reason: str) -> None:
        self.broker.reject_next(reason)

    def restart(self) -> Broker:
        self.broker.stop()
        self.broker = self._open()
        self.market(BID, ASK)
        return self.broker

    def close(self) -> None:
        self.broker.stop()


class TestPaperVenueContract(BrokerContract):
    @pytest.fixture
    def venue(self, tmp_path: Path) -> Iterator[PaperHarness]:
        harness = PaperHarness(tmp_path / "paper_venue.json")
        yield harness
        harness.close()


class TestPaperVenueContractWithLatency(BrokerContract):
    """The same contract when answers come from the venue's own thread, later."""

    @pytest.fixture
    def venue(self, tmp_path: Path) -> Iterator[PaperHarness]:
        harness = PaperHarness(tmp_path / "paper_venue.json", latency_ms=5)
        yield harness
        harness.close()


def test_latency_then_answers_arrive_later_from_another_thread(tmp_path: Path) -> None:
    harness = PaperHarness(tmp_path / "paper_venue.json", latency_ms=400)
    try:
        order = make_order()
        harness.broker.submit(order)
        # Nothing yet: the answer is on its way (400 ms is far above any scheduling hiccup).
        assert [e for e in harness.events if isinstance(e, OrderEvent)] == []
        wait_until(
            lambda: len([e for e in harness.events if isinstance(e, OrderEvent)]) == 2,
            message="accepted and filled",
        )
    finally:
        harness.close()


def test_large_order_then_partial_fills_one_step_at_a_time(tmp_path: Path) -> None:
    events: list[VenueEvent] = []
    clock = FakeClock(start=time.time())
    venue = PaperVenue(dict(DEFAULT_INSTRUMENTS), None, clock=clock, latency_ms=0, max_fill_qty=1)
    venue.start(events.append)
    venue.on_market(Quote(SYMBOL, BID, ASK, 10.0, 10.0, clock.time()))
    order = make_order(qty=2.5)
    venue.submit(order)
    for _ in range(3):
        clock.advance(0.2)
        venue.on_market(Quote(SYMBOL, BID, ASK, 10.0, 10.0, clock.time()))
    fills = [e for e in events if isinstance(e, OrderEvent) and e.fill is not None]
    assert [(e.kind.value, e.fill.qty) for e in fills if e.fill] == [
        ("partially_filled", 1.0),
        ("partially_filled", 1.0),
        ("filled", 0.5),
    ]
    assert venue.positions()[0].qty == 2.5


def test_record_file_is_the_venues_own_and_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "paper_venue.json"
    harness = PaperHarness(path)
    try:
        harness.broker.submit(make_order())
        assert path.exists() and not path.with_name(path.name + ".tmp").exists()
        assert '"positions"' in path.read_text()
    finally:
        harness.close()


def test_fail_next_then_submit_raises_venue_error(tmp_path: Path) -> None:
    from engine.venues.base import VenueError

    harness = PaperHarness(tmp_path / "paper_venue.json")
    harness.broker.fail_next()
    with pytest.raises(VenueError):
        harness.broker.submit(make_order())
    harness.broker.submit(make_order())  # only the next one fails
    assert harness.broker.positions()


def test_unreadable_record_then_refuses_to_start(tmp_path: Path) -> None:
    from engine.venues.base import VenueError

    path = tmp_path / "paper_venue.json"
    path.write_text("{not json")
    with pytest.raises(VenueError, match="unreadable"):
        PaperVenue(dict(DEFAULT_INSTRUMENTS), path, clock=FakeClock())
