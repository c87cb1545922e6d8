"""The dispatcher's delivery rules against a loopback Pushover: retries, quota, duplicates."""

from __future__ import annotations

from collections.abc import Callable

from engine.bus import EventBus
from engine.clock import FakeClock
from notifier.apprise_channel import AppriseChannel
from notifier.dispatcher import Dispatcher
from notifier.outbox import Outbox
from notifier.pushover import PushoverChannel
from tests.notifier.conftest import wait_until
from tests.notifier.pushover_fake import HANG, TOKEN, USER, PushoverFake, Reply

Make = Callable[..., Dispatcher]
TS = 1_767_225_600_000
KILL = {
    "level": "halt",
    "reason": "test",
    "actor": "admin",
    "since": TS,
    "trading_state": "HALTED",
    "cancelled": 0,
}


def _started(
    make: Make, channel: PushoverChannel, outbox: Outbox, **kw: object
) -> tuple[EventBus, Dispatcher]:
    bus = EventBus(kw.get("clock"))  # type: ignore[arg-type]
    dispatcher = make([channel], outbox, **kw)
    dispatcher.attach(bus)
    dispatcher.start()
    return bus, dispatcher


def _pushover_status(dispatcher: Dispatcher) -> dict:
    return next(s for s in dispatcher.status() if s["name"] == "pushover")


def test_kill_switch_when_pushover_answers_then_one_emergency_with_exact_fields(
    pushover: PushoverFake, channel: PushoverChannel, outbox: Outbox, make_dispatcher: Make
) -> None:
    bus, dispatcher = _started(make_dispatcher, channel, outbox, clock=FakeClock())

    bus.publish("kill_switch_activated", KILL)

    assert pushover.wait_for(1)
    assert wait_until(lambda: outbox.counts()["delivered"] == 1)
    assert pushover.requests == [
        {
            "token": TOKEN,
            "user": USER,
            "title": "KILL SWITCH ENGAGED (HALT)",
            "message": "Level halt by admin: test. Trading state HALTED; "
            "0 open order(s) cancelled.",
            "priority": "2",
            "sound": "siren",
            "retry": "60",
            "expire": "3600",
            "timestamp": "1767225600",
        }
    ]
    status = _pushover_status(dispatcher)
    assert status["state"] == "ok" and status["last_delivery_ts"] == TS
    assert (status["quota_remaining"], status["quota_limit"]) == (8_999, 10_000)
    assert bus.failures == 0


def test_invalid_token_then_no_retry_channel_failing_and_still_tries_next_alert(
    pushover: PushoverFake, outbox: Outbox, make_dispatcher: Make
) -> None:
    channel = PushoverChannel(USER, "not-the-token-not-the-token-xx", pushover.url)
    bus, dispatcher = _started(make_dispatcher, channel, outbox)

    bus.publish("error", {"message": "broker down", "where": "broker"})
    assert wait_until(lambda: outbox.counts()["failed"] == 1)
    bus.publish("error", {"message": "feed down", "where": "feed"})
    assert wait_until(lambda: outbox.counts()["failed"] == 2)

    assert not pushover.wait_for(3, timeout=0.3)  # 0.05 s retries would have come by now
    assert len(pushover.requests) == 2
    status = _pushover_status(dispatcher)
    assert status["state"] == "failing" and status["configured"] is True
    assert status["last_error"] == "HTTP 400: application token is invalid"


def test_quota_spent_then_429_not_retried_and_quota_shown(
    pushover: PushoverFake, channel: PushoverChannel, outbox: Outbox, make_dispatcher: Make
) -> None:
    pushover.remaining = 0
    bus, dispatcher = _started(make_dispatcher, channel, outbox)

    bus.publish("error", {"message": "x", "where": "engine"})

    assert wait_until(lambda: outbox.counts()["failed"] == 1)
    assert not pushover.wait_for(2, timeout=0.3)
    status = _pushover_status(dispatcher)
    assert status["state"] == "quota_exhausted"
    assert (status["quota_remaining"], status["quota_limit"]) == (0, 10_000)
    assert status["quota_reset_ts"] == 1_769_904_000_000


def test_server_error_then_retried_and_delivered_once(
    pushover: PushoverFake, channel: PushoverChannel, outbox: Outbox, make_dispatcher: Make
) -> None:
    pushover.push(Reply(500, {"status": 0, "errors": ["internal error"]}))
    bus, dispatcher = _started(make_dispatcher, channel, outbox)

    bus.publish("error", {"message": "x", "where": "engine"})

    assert wait_until(lambda: outbox.counts()["delivered"] == 1)
    assert len(pushover.requests) == 2 and len(pushover.delivered) == 1
    assert pushover.requests[0] == pushover.requests[1]
    assert outbox.deliveries(1) == {"pushover": ("delivered", 2, None)}
    assert _pushover_status(dispatcher)["state"] == "ok"


def test_server_keeps_failing_then_attempts_bounded_and_alert_kept_undelivered(
    pushover: PushoverFake, channel: PushoverChannel, outbox: Outbox, make_dispatcher: Make
) -> None:
    pushover.push(*[Reply(502, "bad gateway")] * 10)
    bus, dispatcher = _started(make_dispatcher, channel, outbox)

    bus.publish("error", {"message": "x", "where": "engine"})

    assert wait_until(lambda: outbox.counts()["failed"] == 1)
    assert not pushover.wait_for(4, timeout=0.3)
    assert len(pushover.requests) == 3  # 1 + len(retry_delays)
    assert [alert.key for _, alert, _ in outbox.undelivered()] == ["error:engine:x"]
    assert _pushover_status(dispatcher)["last_error"] == "HTTP 502: bad gateway"


def test_default_retry_delays_then_first_retry_at_least_five_seconds(outbox: Outbox) -> None:
    dispatcher = Dispatcher([], outbox)

    assert dispatcher.retry_delays[0] >= 5 and len(dispatcher.retry_delays) == 3


def test_same_key_within_window_then_suppressed_and_after_window_sent_again(
    pushover: PushoverFake, channel: PushoverChannel, outbox: Outbox, make_dispatcher: Make
) -> None:
    clock = FakeClock()
    bus, dispatcher = _started(make_dispatcher, channel, outbox, clock=clock, dedupe_window_s=300)
    error = {"message": "feed stale", "where": "feed"}

    bus.publish("error", error)
    bus.publish("error", error)
    assert wait_until(lambda: dispatcher.suppressed == 1 and outbox.counts()["delivered"] == 1)
    clock.advance(301)
    bus.publish("error", error)

    assert wait_until(lambda: outbox.counts()["delivered"] == 2)
    assert len(pushover.requests) == 2 and dispatcher.suppressed == 1


def test_emergency_with_same_key_then_never_suppressed(
    pushover: PushoverFake, channel: PushoverChannel, outbox: Outbox, make_dispatcher: Make
) -> None:
    bus, dispatcher = _started(make_dispatcher, channel, outbox, clock=FakeClock())

    for _ in range(3):
        bus.publish("kill_switch_activated", KILL)

    assert pushover.wait_for(3)
    assert wait_until(lambda: outbox.counts()["delivered"] == 3)
    assert dispatcher.suppressed == 0


def test_full_queue_then_lowest_priority_dropped_and_emergency_sent_first(
    pushover: PushoverFake, channel: PushoverChannel, outbox: Outbox, make_dispatcher: Make
) -> None:
    bus = EventBus()
    dispatcher = make_dispatcher([channel], outbox, queue_size=3)
    dispatcher.attach(bus)
    for n in range(3):
        bus.publish(
            "trade_executed",
            {"symbol": "SPY", "side": "buy", "qty": 1, "price": 500, "order_id": f"P-{n}"},
        )
    bus.publish("kill_switch_activated", KILL)
    bus.publish("daily_summary", {"session_start": 1, "pnl": -3.0, "trades": 2})

    assert dispatcher.stats()["dropped"] == 2 and dispatcher.stats()["queued"] == 3
    dispatcher.start()

    assert pushover.wait_for(3)
    assert [r["priority"] for r in pushover.requests] == ["2", "0", "0"]
    assert "P-0" in pushover.requests[1]["message"] and "P-1" in pushover.requests[2]["message"]


def test_send_test_then_per_channel_result_with_reason(
    pushover: PushoverFake, channel: PushoverChannel, outbox: Outbox, make_dispatcher: Make
) -> None:
    apprise = AppriseChannel(["tgram://123456:ABCdef/987"], loader=_not_installed)
    dispatcher = make_dispatcher([channel, apprise], outbox)

    results = dispatcher.send_test("hello from the page", timeout=3)

    assert results == {
        "pushover": {"delivered": True, "error": None},
        "apprise": {
            "delivered": False,
            "error": "VIGIL_APPRISE_URLS is set but apprise is not installed",
        },
    }
    assert pushover.requests[0]["message"] == "hello from the page"
    assert pushover.requests[0]["title"] == "Vigil test notification"
    assert outbox.counts() == {"pending": 0, "delivered": 0, "failed": 0}


def test_send_test_when_token_invalid_then_failed_with_server_reason(
    pushover: PushoverFake, outbox: Outbox, make_dispatcher: Make
) -> None:
    channel = PushoverChannel("bad-user-key-bad-user-key-bad", TOKEN, pushover.url)
    dispatcher = make_dispatcher([channel], outbox)

    results = dispatcher.send_test("", timeout=3)

    assert results["pushover"]["delivered"] is False
    assert "user identifier is not a valid user" in results["pushover"]["error"]
    assert _pushover_status(dispatcher)["state"] == "failing"


def test_send_test_when_server_hangs_then_answers_within_its_timeout(
    pushover: PushoverFake, channel: PushoverChannel, outbox: Outbox, make_dispatcher: Make
) -> None:
    pushover.push(HANG)
    dispatcher = make_dispatcher([channel], outbox)

    results = dispatcher.send_test("ping", timeout=0.1)

    assert results == {"pushover": {"delivered": False, "error": "no answer within 0.1 s"}}


def test_status_change_then_hook_called_with_all_channels(
    pushover: PushoverFake, channel: PushoverChannel, outbox: Outbox, make_dispatcher: Make
) -> None:
    seen: list[list[dict]] = []
    bus, dispatcher = _started(make_dispatcher, channel, outbox)
    dispatcher.on_status_change = seen.append
    pushover.remaining = 0

    bus.publish("error", {"message": "x", "where": "engine"})

    assert wait_until(lambda: seen)
    assert [s["state"] for s in seen[-1]] == ["quota_exhausted"]


def test_no_channel_configured_then_status_unconfigured_and_nothing_stored(
    outbox: Outbox, make_dispatcher: Make
) -> None:
    bus = EventBus()
    dispatcher = make_dispatcher([PushoverChannel(None, None), AppriseChannel([])], outbox)
    dispatcher.attach(bus)
    dispatcher.start()

    bus.publish("kill_switch_activated", KILL)

    assert wait_until(lambda: dispatcher.stats()["queued"] == 0)
    assert dispatcher.stop(timeout=2)
    assert [(s["name"], s["state"], s["configured"]) for s in dispatcher.status()] == [
        ("pushover", "unconfigured", False),
        ("apprise", "unconfigured", False),
    ]
    assert outbox.counts() == {"pending": 0, "delivered": 0, "failed": 0}


def _not_installed() -> object:
    raise ImportError("No module named 'apprise'")


def test_retried_then_delivered_and_a_duplicate_then_counted_by_channel_and_outcome(
    pushover: PushoverFake, channel: PushoverChannel, outbox: Outbox, make_dispatcher: Make
) -> None:
    pushover.push(Reply(500, {"status": 0, "errors": ["internal error"]}))
    bus, dispatcher = _started(make_dispatcher, channel, outbox)
    assert dispatcher.delivery_counts() == {
        "deliveries": {"pushover": {"sent": 0, "failed": 0}, "all": {}},
        "queue_depth": 0,
    }

    bus.publish("error", {"message": "x", "where": "engine"})
    assert wait_until(lambda: outbox.counts()["delivered"] == 1)
    bus.publish("error", {"message": "x", "where": "engine"})
    assert wait_until(lambda: dispatcher.suppressed == 1)

    counts = dispatcher.delivery_counts()
    assert counts["deliveries"] == {
        "pushover": {"retrying": 1, "sent": 1, "failed": 0},
        "all": {"suppressed": 1},
    }
    assert counts["queue_depth"] == 0
