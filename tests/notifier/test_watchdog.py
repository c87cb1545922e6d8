"""The dead-man's switch against a loopback /healthz and a loopback Pushover."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

from engine.clock import FakeClock
from notifier.pushover import PushoverChannel
from notifier.watchdog import Watchdog, main, run_watchdog
from tests.notifier.pushover_fake import TOKEN, USER, HealthFake, PushoverFake, Reply


def _fresh(clock: FakeClock, age_s: float = 1.0, status: str = "OK") -> dict:
    return {"status": status, "heartbeat_ts": int((clock.time() - age_s) * 1000)}


def _watchdog(health: HealthFake, channel: PushoverChannel, clock: FakeClock) -> Watchdog:
    return Watchdog(health.url, [channel], stale_after_s=30, clock=clock, timeout=(0.5, 0.5))


def test_healthy_server_then_no_alert(pushover: PushoverFake, channel: PushoverChannel) -> None:
    clock = FakeClock()
    with HealthFake(_fresh(clock)) as health:
        reading = _watchdog(health, channel, clock).check()

    assert reading.healthy and pushover.requests == []


def test_stale_heartbeat_then_one_emergency_per_outage_and_a_recovery_notice(
    pushover: PushoverFake, channel: PushoverChannel
) -> None:
    clock = FakeClock()
    with HealthFake(_fresh(clock, age_s=31)) as health:
        watchdog = _watchdog(health, channel, clock)
        first = watchdog.check()
        clock.advance(5)
        watchdog.check()
        health.body = _fresh(clock)
        clock.advance(5)
        recovered = watchdog.check()

    assert first.problem == "stale" and recovered.healthy
    assert len(pushover.delivered) == 2
    outage, recovery = pushover.delivered
    assert outage["title"] == "VIGIL DOWN: engine heartbeat stopped"
    assert (outage["priority"], outage["sound"], outage["retry"], outage["expire"]) == (
        "2",
        "siren",
        "60",
        "3600",
    )
    assert "last heartbeat is 31 s old" in outage["message"]
    assert (recovery["title"], recovery["priority"]) == ("Vigil recovered", "0")
    assert "after about 10 s" in recovery["message"]


def test_degraded_then_emergency_at_once(pushover: PushoverFake, channel: PushoverChannel) -> None:
    clock = FakeClock()
    body = {**_fresh(clock, status="DEGRADED"), "last_error": "feed stale"}
    with HealthFake(body) as health:
        reading = _watchdog(health, channel, clock).check()

    assert reading.problem == "degraded"
    [sent] = pushover.delivered
    assert sent["title"] == "VIGIL DEGRADED" and "feed stale" in sent["message"]


def test_server_down_then_alert_only_after_stale_after_seconds(
    pushover: PushoverFake, channel: PushoverChannel
) -> None:
    clock = FakeClock()
    with HealthFake() as health:
        health.broken = True
        watchdog = _watchdog(health, channel, clock)
        watchdog.check()
        clock.advance(29)
        watchdog.check()
        assert pushover.requests == []
        clock.advance(2)
        reading = watchdog.check()

    assert reading.problem == "unreachable"
    [sent] = pushover.delivered
    assert sent["title"] == "VIGIL DOWN: server not answering" and "HTTP 502" in sent["message"]


def test_short_blip_then_no_alert_and_no_recovery(
    pushover: PushoverFake, channel: PushoverChannel
) -> None:
    clock = FakeClock()
    with HealthFake() as health:
        health.broken = True
        watchdog = _watchdog(health, channel, clock)
        watchdog.check()
        clock.advance(10)
        health.broken = False
        health.body = _fresh(clock)
        watchdog.check()
        health.broken = True
        clock.advance(25)
        watchdog.check()

    assert pushover.requests == []


def test_alert_send_fails_then_retried_on_a_later_poll_not_every_poll(
    pushover: PushoverFake, channel: PushoverChannel
) -> None:
    clock = FakeClock()
    pushover.push(Reply(500, "oops"))
    with HealthFake(_fresh(clock, status="DEGRADED")) as health:
        watchdog = _watchdog(health, channel, clock)
        watchdog.check()
        clock.advance(5)
        health.body = _fresh(clock, status="DEGRADED")
        watchdog.check()
        assert len(pushover.requests) == 1 and watchdog.alerted is None
        clock.advance(30)
        health.body = _fresh(clock, status="DEGRADED")
        watchdog.check()

    assert len(pushover.requests) == 2 and len(pushover.delivered) == 1
    assert watchdog.alerted == "degraded"


def test_once_when_nothing_listens_then_alerts_at_once_and_exits_1(
    pushover: PushoverFake, channel: PushoverChannel
) -> None:
    # Bound but not listening: refused, and no other test can take the port meanwhile.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        code = run_watchdog(f"http://127.0.0.1:{port}/healthz", [channel], once=True)

    assert code == 1
    [sent] = pushover.delivered
    assert sent["priority"] == "2" and "did not answer" in sent["message"]


def test_run_loop_then_polls_until_stopped_and_alerts_once(
    pushover: PushoverFake, channel: PushoverChannel
) -> None:
    clock = FakeClock()
    stop = threading.Event()
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        clock.advance(seconds)
        if len(polls) == 10:
            stop.set()

    with HealthFake() as health:
        health.broken = True
        code = run_watchdog(
            health.url,
            [channel],
            interval_s=5,
            stale_after_s=20,
            clock=clock,
            sleep=sleep,
            stop=stop,
        )

    assert code == 0 and polls == [5] * 10 and health.hits == 10
    assert len(pushover.delivered) == 1


def test_main_once_with_env_then_uses_env_channels_and_reports_degraded(
    pushover: PushoverFake,
) -> None:
    env = {
        "PUSHOVER_USER_KEY": USER,
        "PUSHOVER_API_TOKEN": TOKEN,
        "VIGIL_PUSHOVER_API_URL": pushover.url,
    }
    with HealthFake({"status": "DEGRADED", "heartbeat_ts": 10**13}) as health:
        code = main(["--url", health.url, "--once", "--stale-after", "30"], env=env)

    assert code == 1
    assert [r["title"] for r in pushover.delivered] == ["VIGIL DEGRADED"]


def test_module_entry_point_when_healthy_then_exit_0() -> None:
    root = Path(__file__).resolve().parents[2]
    with HealthFake({"status": "OK", "heartbeat_ts": 10**13}) as health:
        done = subprocess.run(
            [sys.executable, "-m", "notifier.watchdog", "--url", health.url, "--once"],
            capture_output=True,
            text=True,
            cwd=root,
            env={"PATH": "/usr/bin:/bin"},
            timeout=60,
        )

    assert done.returncode == 0, done.stderr
    assert "no notification channel configured" in done.stderr
