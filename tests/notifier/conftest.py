"""Fixtures for the notifier tests: a loopback Pushover, channels pointed at it, an outbox."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from notifier.alerts import Channel
from notifier.dispatcher import Dispatcher
from notifier.outbox import Outbox
from notifier.pushover import PushoverChannel
from tests.notifier.pushover_fake import TOKEN, USER, PushoverFake

# Short timeouts keep the hanging-server tests quick; production uses (3.05, 5).
FAST_TIMEOUT = (0.5, 0.4)


@pytest.fixture
def pushover() -> Iterator[PushoverFake]:
    with PushoverFake() as fake:
        yield fake


@pytest.fixture
def channel(pushover: PushoverFake) -> PushoverChannel:
    return PushoverChannel(USER, TOKEN, pushover.url, timeout=FAST_TIMEOUT)


@pytest.fixture
def outbox_path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite3"


@pytest.fixture
def outbox(outbox_path: Path) -> Iterator[Outbox]:
    box = Outbox(outbox_path)
    yield box
    box.close()


def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> bool:
    """Poll for an outcome produced by another thread; False if it never came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


@pytest.fixture
def make_dispatcher() -> Iterator[Callable[..., Dispatcher]]:
    """Builds dispatchers with quick retries and stops every one of them after the test."""
    made: list[Dispatcher] = []

    def make(channels: list[Channel], outbox: Outbox, **options: Any) -> Dispatcher:
        options.setdefault("retry_delays", (0.05, 0.05))
        options.setdefault("poll_s", 0.02)
        dispatcher = Dispatcher(channels, outbox, **options)
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        dispatcher.stop(timeout=2)
