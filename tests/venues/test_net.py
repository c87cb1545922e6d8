"""The network rules every remote venue shares: backoff, request budget, timeouts."""

from __future__ import annotations

import random
import socket
import threading
import time

import pytest
import requests

from engine.clock import FakeClock
from engine.venues.net import Backoff, RequestBudget, TimeoutSession


def test_backoff_grows_exponentially_with_jitter_and_caps() -> None:
    backoff = Backoff(base_s=1.0, cap_s=8.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays[3:]}) == 3  # jittered, not one fixed value


def test_backoff_reset_starts_again_from_base() -> None:
    backoff = Backoff(base_s=1.0, cap_s=60.0, rng=random.Random(1))
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_budget_keeps_reserve_for_urgent_calls_and_frees_after_window() -> None:
    clock = FakeClock()
    budget = RequestBudget(limit=5, window_s=60.0, reserve=2, clock=clock)
    assert [budget.try_take() for _ in range(4)] == [True, True, True, False]
    assert budget.try_take(urgent=True) is True
    assert budget.try_take(urgent=True) is True
    assert budget.try_take(urgent=True) is False
    assert budget.used() == 5
    clock.advance(60.0)
    assert budget.used() == 0
    assert budget.try_take() is True


@pytest.mark.parametrize("limit,reserve", [(0, 0), (5, 5), (5, -1)])
def test_budget_refuses_impossible_limits(limit: int, reserve: int) -> None:
    with pytest.raises(ValueError):
        RequestBudget(limit=limit, reserve=reserve)


def test_timeout_session_gives_up_on_a_server_that_never_answers() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v2/account"
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        TimeoutSession(0.3).get(url)
    assert time.monotonic() - started < 30  # bounded, not hung; the exact time is the OS's
    listener.close()
    for conn in accepted:
        conn.close()
