"""The resync watch of a web process over Redis: when its pages are owed a snapshot, and that
a debt it failed to pay once is paid at the next check.

Stop 17's CI flake: an engine restarted in less than one check interval looked "up all
along", so the open pages kept the old engine's state; the engine run's instance now tells."""

from __future__ import annotations

import pytest

from dashboard.resync import ResyncWatch


class Engine:
    """A behaving stand-in for the engine as a web process sees it: which run answers (None
    while none does), and a snapshot read that can fail (None, as RedisEngine.snapshot
    returns on a Redis error)."""

    def __init__(self) -> None:
        self.instance: str | None = "run-1"
        self.reads_failing = 0
        self.health_raises = False
        self.sent = 0

    def engine_instance(self) -> str | None:
        if self.health_raises:
            raise KeyError("heartbeat_ts")
        return self.instance

    def send(self) -> int | None:
        if self.reads_failing:
            self.reads_failing -= 1
            return None
        self.sent += 1
        return 1


@pytest.fixture
def engine() -> Engine:
    return Engine()


@pytest.fixture
def watch(engine: Engine) -> ResyncWatch:
    return ResyncWatch(engine.engine_instance, engine.send)


def test_same_engine_up_all_along_then_nothing_is_sent(engine: Engine, watch: ResyncWatch) -> None:
    for _ in range(3):
        watch.check()
    assert engine.sent == 0 and watch.owed is None


def test_engine_down_then_up_then_pages_get_one_snapshot(
    engine: Engine, watch: ResyncWatch
) -> None:
    watch.check()
    engine.instance = None
    watch.check()
    assert engine.sent == 0
    engine.instance = "run-1"
    watch.check()
    watch.check()
    assert engine.sent == 1 and watch.owed is None


def test_engine_restarted_between_two_checks_then_pages_get_the_new_runs_snapshot(
    engine: Engine, watch: ResyncWatch
) -> None:
    watch.check()
    engine.instance = "run-2"  # stopped and started again while the watch slept
    watch.check()
    watch.check()
    assert engine.sent == 1 and watch.owed is None


def test_snapshot_read_fails_when_engine_returns_then_it_is_sent_at_the_next_check(
    engine: Engine, watch: ResyncWatch
) -> None:
    engine.instance = None
    watch.check()
    engine.instance, engine.reads_failing = "run-2", 2
    watch.check()
    assert engine.sent == 0 and watch.owed == "the engine is reachable again"
    watch.check()
    assert engine.sent == 0
    watch.check()
    assert engine.sent == 1 and watch.owed is None


def test_send_raises_then_the_debt_stays_and_is_paid_later(engine: Engine) -> None:
    calls = []

    def send() -> int | None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database is locked")
        return 1

    watch = ResyncWatch(engine.engine_instance, send)
    watch.owe("subscribed")
    watch.settle()
    assert watch.owed == "subscribed"
    watch.check()
    assert len(calls) == 2 and watch.owed is None


def test_health_check_raises_then_the_watch_lives_and_counts_it_as_down(
    engine: Engine, watch: ResyncWatch
) -> None:
    engine.health_raises = True
    watch.check()
    engine.health_raises = False
    watch.check()
    assert engine.sent == 1


def test_new_debt_made_while_a_send_runs_then_it_is_paid_too(engine: Engine) -> None:
    def send_while_subscribing() -> int | None:
        watch.owe("subscribed")  # the subscription came back while this send read the snapshot
        return 1

    watch = ResyncWatch(engine.engine_instance, send_while_subscribing)
    watch.owe("the engine is reachable again")
    watch.settle()
    assert watch.owed == "subscribed"
