"""Nothing is lost and nothing waits: the outbox across restarts, and a hung service vs. a halt."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from engine.bus import EventBus
from engine.clock import FakeClock
from notifier.dispatcher import Dispatcher
from notifier.outbox import Outbox
from notifier.pushover import PushoverChannel
from tests.notifier.conftest import wait_until
from tests.notifier.pushover_fake import HANG, PushoverFake, Reply

Make = Callable[..., Dispatcher]
TS = 1_767_225_600_000
KILL = {
    "level": "flatten",
    "reason": "loss",
    "actor": "cli",
    "since": TS,
    "trading_state": "HALTED",
    "cancelled": 2,
}


def test_restart_with_alert_that_failed_then_delivered_after_restart_with_original_time(
    pushover: PushoverFake, channel: PushoverChannel, outbox_path: Path, make_dispatcher: Make
) -> None:
    pushover.push(Reply(500, "oops"), Reply(500, "oops"))
    first_box = Outbox(outbox_path)
    bus = EventBus(FakeClock())
    first = make_dispatcher([channel], first_box, retry_delays=(0.01,))
    first.attach(bus)
    first.start()
    bus.publish("kill_switch_activated", KILL)
    assert wait_until(lambda: first_box.counts()["failed"] == 1)
    assert first.stop(timeout=2)
    first_box.close()

    second_box = Outbox(outbox_path)
    second = make_dispatcher([channel], second_box)
    second.start()

    assert wait_until(lambda: second_box.counts() == {"pending": 0, "delivered": 1, "failed": 0})
    assert len(pushover.delivered) == 1 and len(pushover.requests) == 3
    resent = pushover.delivered[0]
    assert resent["timestamp"] == "1767225600" and resent["priority"] == "2"
    assert resent["message"].startswith("[delayed: raised 2026-01-01 00:00:00 UTC]\n")
    assert "Level flatten by cli: loss." in resent["message"]
    second_box.close()


def test_stop_with_alerts_still_queued_then_stored_and_sent_on_next_start(
    pushover: PushoverFake, channel: PushoverChannel, outbox_path: Path, make_dispatcher: Make
) -> None:
    first_box = Outbox(outbox_path)
    bus = EventBus(FakeClock())
    never_started = make_dispatcher([channel], first_box)
    never_started.attach(bus)
    bus.publish("error", {"message": "disk full", "where": "store"})
    bus.publish("kill_switch_activated", KILL)
    assert never_started.stop(timeout=1)
    bus.publish("error", {"message": "after stop", "where": "store"})
    assert never_started.stats()["queued"] == 0  # stop() also unsubscribed it
    assert first_box.counts()["pending"] == 2 and pushover.requests == []
    first_box.close()

    second_box = Outbox(outbox_path)
    make_dispatcher([channel], second_box).start()

    assert wait_until(lambda: second_box.counts()["delivered"] == 2)
    assert {r["title"] for r in pushover.delivered} == {
        "System error in store",
        "KILL SWITCH ENGAGED (FLATTEN)",
    }
    second_box.close()


def test_restart_then_duplicates_of_alerts_sent_before_restart_still_suppressed(
    pushover: PushoverFake, channel: PushoverChannel, outbox_path: Path, make_dispatcher: Make
) -> None:
    clock = FakeClock()
    first_box = Outbox(outbox_path, clock_ms=lambda: int(clock.time() * 1000))
    bus = EventBus(clock)
    first = make_dispatcher([channel], first_box, clock=clock)
    first.attach(bus)
    first.start()
    bus.publish("error", {"message": "feed stale", "where": "feed"})
    assert wait_until(lambda: first_box.counts()["delivered"] == 1)
    first.stop(timeout=2)
    first_box.close()

    second_box = Outbox(outbox_path)
    second = make_dispatcher([channel], second_box, clock=clock)
    bus2 = EventBus(clock)
    second.attach(bus2)
    second.start()
    clock.advance(60)
    bus2.publish("error", {"message": "feed stale", "where": "feed"})

    assert wait_until(lambda: second.suppressed == 1)
    assert len(pushover.requests) == 1
    second_box.close()


def _halt_seconds(bus: EventBus) -> float:
    """What the engine thread does on a kill switch: publish, then a little synchronous work."""
    start = time.perf_counter()
    bus.publish("kill_switch_activated", KILL)
    state = {
        "trading_state": "HALTED",
        "orders": [{"id": n, "status": "canceled"} for n in range(50)],
    }
    assert len(state["orders"]) == 50
    return time.perf_counter() - start


def _median_halt(bus: EventBus, runs: int = 15) -> float:
    return statistics.median(_halt_seconds(bus) for _ in range(runs))


def test_kill_switch_when_pushover_hangs_then_halt_as_fast_as_without_notifications(
    pushover: PushoverFake, channel: PushoverChannel, outbox: Outbox, make_dispatcher: Make
) -> None:
    pushover.push(*[HANG] * 100)
    without = _median_halt(EventBus())

    bus = EventBus()
    dispatcher = make_dispatcher([channel], outbox)
    dispatcher.attach(bus)
    dispatcher.start()
    first = _halt_seconds(bus)
    assert pushover.wait_for(1)  # the worker is now stuck on the hanging server
    with_notifier = _median_halt(bus)

    # Generous absolute bounds: the machine is shared and noisy; a blocked publish would take
    # at least the channel's timeout (0.4 s read), far above them.
    assert with_notifier - without < 0.05
    assert first < 0.2
    assert bus.failures == 0
    assert wait_until(lambda: "timed out" in str(dispatcher.status()[0]["last_error"]))
    assert dispatcher.status()[0]["state"] == "failing"


def test_stop_when_worker_stuck_on_hanging_server_then_returns_and_keeps_alerts(
    pushover: PushoverFake, channel: PushoverChannel, outbox: Outbox, make_dispatcher: Make
) -> None:
    pushover.push(*[HANG] * 20)
    bus = EventBus()
    dispatcher = make_dispatcher([channel], outbox)
    dispatcher.attach(bus)
    dispatcher.start()
    for _ in range(5):
        bus.publish("kill_switch_activated", KILL)
    assert pushover.wait_for(1)

    stopped = dispatcher.stop(timeout=0.1)

    assert stopped is False  # it gave up waiting for the worker instead of hanging with it
    counts = outbox.counts()
    assert counts["delivered"] == 0 and counts["pending"] + counts["failed"] == 5
