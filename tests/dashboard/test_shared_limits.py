"""The limits web processes share through Redis (dashboard/shared_limits.py), against a real
redis-server: two SharedLimits stand for two web workers; a LiveApp behind a real server shows
the guards asking them (and the kill switch never doing so)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import websocket

from dashboard.event_guard import ADMIT, DROP, REFUSE
from dashboard.shared_limits import REDIS_TIMEOUT_S, SharedLimits, shared_limits
from tests.conftest import wait_until
from tests.dashboard.conftest import LiveApp
from tests.dashboard.realserver import RealServer, ack
from tests.dashboard.test_security_client import HALT, answer_of
from tests.scale.processes import RedisServer

pytestmark = pytest.mark.slow

PREFIX = "vt"
TTL_S = 1.0
# No token comes back during a test: every refill below is waited for explicitly.
SLOW = {"rate": 0.001, "patience_rate": 0.001}


@pytest.fixture
def workers(redis_server: RedisServer) -> Iterator[tuple[SharedLimits, SharedLimits]]:
    pair = (
        shared_limits(redis_server.url, PREFIX, TTL_S),
        shared_limits(redis_server.url, PREFIX, TTL_S),
    )
    try:
        yield pair
    finally:
        for limits in pair:
            limits.close()


def _count(server: RedisServer, address: str) -> int:
    """Holds not yet expired, by Redis's clock (what the next hold is judged against)."""
    client = server.client()
    now_s, now_us = client.time()
    return int(client.zcount(f"{PREFIX}:conns:{address}", now_s * 1000 + now_us // 1000, "+inf"))


def _evalsha_calls(server: RedisServer) -> int:
    return int(server.client().info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))


# ----- open websockets per address ---------------------------------------------------------


def test_one_address_on_two_workers_then_refused_at_the_shared_cap_and_a_release_frees_one(
    workers: tuple[SharedLimits, SharedLimits],
) -> None:
    a, b = workers
    first = [a.hold("10.0.0.1", 3), a.hold("10.0.0.1", 3), b.hold("10.0.0.1", 3)]
    assert all(first)
    assert b.hold("10.0.0.1", 3) is None and a.hold("10.0.0.1", 3) is None
    assert b.hold("10.0.0.2", 3) is not None  # another address has its own count
    a.release("10.0.0.1", first[0])
    again = b.hold("10.0.0.1", 3)
    assert again is not None
    assert a.hold("10.0.0.1", 3) is None
    assert a.held() == {"10.0.0.1": 1} and b.held() == {"10.0.0.1": 2, "10.0.0.2": 1}
    assert a.fallbacks == b.fallbacks == {"connections": 0, "events": 0}


def test_worker_dies_without_releasing_then_its_holds_expire_within_the_ttl_live_ones_stay(
    workers: tuple[SharedLimits, SharedLimits], redis_server: RedisServer
) -> None:
    live, dead = workers
    assert live.hold("10.0.0.1", 4) and live.hold("10.0.0.1", 4)
    assert dead.hold("10.0.0.1", 4) and dead.hold("10.0.0.1", 4)
    assert live.hold("10.0.0.1", 4) is None
    dead.close()  # its heartbeat stops, as when the process is killed
    died = time.monotonic()
    wait_until(lambda: _count(redis_server, "10.0.0.1") == 2, TTL_S + 2, "the dead holds gone")
    assert time.monotonic() - died <= TTL_S + 1.0
    # Past the TTL: the live worker's heartbeat kept its own two.
    assert live.hold("10.0.0.1", 4) is not None
    assert _count(redis_server, "10.0.0.1") == 3
    key = f"{PREFIX}:conns:10.0.0.1"
    assert 0 < redis_server.client().pttl(key) <= TTL_S * 1000  # the key itself expires too


def test_redis_restarted_then_the_heartbeat_puts_this_workers_holds_back(
    workers: tuple[SharedLimits, SharedLimits], redis_server: RedisServer
) -> None:
    a, b = workers
    assert a.hold("10.0.0.1", 2) and a.hold("10.0.0.1", 2)
    redis_server.stop()
    redis_server.start()  # empty: nothing is saved
    wait_until(lambda: _count(redis_server, "10.0.0.1") == 2, 10, "the holds back in Redis")
    wait_until(lambda: b.hold("10.0.0.1", 2) is None, 5, "the other worker refused at the cap")


def test_redis_down_then_each_answer_is_the_local_one_counted_and_redis_left_alone_a_while(
    workers: tuple[SharedLimits, SharedLimits], redis_server: RedisServer
) -> None:
    a, _ = workers
    redis_server.stop()
    started = time.monotonic()
    held = [a.hold("10.0.0.1", 1) for _ in range(3)]  # the caller's own cap decides
    assert all(held) and len(set(held)) == 3
    verdict = a.take_event("tina", burst=1, patience=1, cooldown_s=10, **SLOW)
    assert verdict is None
    assert a.blocked_for("tina") == 0.0
    a.release("10.0.0.1", held[0])
    assert time.monotonic() - started < 1.0
    assert a.fallbacks == {"connections": 3, "events": 2}


# ----- inbound events per account ----------------------------------------------------------


def test_one_account_on_two_workers_then_one_burst_refusals_then_a_drop_blocks_everywhere(
    workers: tuple[SharedLimits, SharedLimits], redis_server: RedisServer
) -> None:
    a, b = workers

    def take(limits: SharedLimits, account: str = "tina") -> int | None:
        return limits.take_event(account, burst=4, patience=3, cooldown_s=30, **SLOW)

    assert [take(a), take(b), take(a), take(b)] == [ADMIT] * 4
    assert [take(b), take(a), take(b)] == [REFUSE] * 3
    assert b.blocked_for("tina") == 0.0
    assert take(a) == DROP
    assert 25 < b.blocked_for("tina") <= 30 and 25 < a.blocked_for("tina") <= 30
    assert take(b, "vic") == ADMIT  # another account has its own budget
    client = redis_server.client()
    for key in client.keys("*"):
        assert key.decode().startswith(f"{PREFIX}:"), key
        assert client.pttl(key) > 0, f"{key!r} never expires"


def test_account_budget_empty_then_it_refills_at_the_rate(
    workers: tuple[SharedLimits, SharedLimits],
) -> None:
    a, b = workers
    fast = {"burst": 1, "patience": 100, "patience_rate": 100, "cooldown_s": 1}
    assert a.take_event("tina", rate=20, **fast) == ADMIT
    wait_until(lambda: b.take_event("tina", rate=20, **fast) == ADMIT, 2, "a token back")


def test_local_drop_then_the_block_is_shared(workers: tuple[SharedLimits, SharedLimits]) -> None:
    a, b = workers
    a.block("tina", 20)
    assert 15 < b.blocked_for("tina") <= 20
    assert b.blocked_for("vic") == 0.0


# ----- the guards of a real app asking them --------------------------------------------------


def test_budget_spent_on_another_worker_then_events_refused_here_and_the_halt_never_asks_redis(
    live: LiveApp, workers: tuple[SharedLimits, SharedLimits], redis_server: RedisServer
) -> None:
    here, elsewhere = workers
    guard = live.services.event_guard
    guard.clock = lambda: 1000.0  # this worker's own bucket stays full: only Redis refuses
    guard.shared = here
    with RealServer(live.app) as server:
        ws, _ = server.connect(server.login("tina"), server.url)
        assert answer_of(ack(ws, 1, '421["request_state"]'))["ok"] is True

        def spend_elsewhere() -> None:  # another web process spends tina's budget
            spent = dict(rate=20, burst=40, patience=1000, patience_rate=10, cooldown_s=10)
            while elsewhere.take_event("tina", **spent) == ADMIT:
                pass

        spend_elsewhere()
        before = _evalsha_calls(redis_server)
        halted = answer_of(ack(ws, 2, f"422{HALT}"))
        assert halted["ok"] is True
        assert _evalsha_calls(redis_server) == before  # the kill switch did not ask Redis

        def refused_here(ack_id: int) -> bool:
            spend_elsewhere()  # again: a token comes back every 50 ms
            before = _evalsha_calls(redis_server)
            answer = answer_of(ack(ws, ack_id, f'42{ack_id}["request_state"]'))
            assert _evalsha_calls(redis_server) == before + 1  # one round trip per event
            return answer["ok"] is False and answer["error"]["code"] == "RATE_LIMITED"

        assert any(refused_here(ack_id) for ack_id in range(3, 13))
        ws.close()
    assert live.runtime.state.get("safety")["kill_switch"]["level"] == "pause"


def test_dropped_on_another_worker_then_no_new_socket_here(
    live: LiveApp, workers: tuple[SharedLimits, SharedLimits]
) -> None:
    here, elsewhere = workers
    live.services.event_guard.shared = here
    live.services.connection_guard.shared = here
    with RealServer(live.app) as server:
        cookie = server.login("tina")
        ws, _ = server.connect(cookie, server.url)  # allowed before the drop
        ws.close()
        elsewhere.block("tina", 10)
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            server.handshake(cookie, server.url)
        assert refused.value.status_code == 429
        assert b"RATE_LIMITED" in (refused.value.resp_body or b"")


def test_address_at_the_shared_cap_elsewhere_then_refused_here_and_redis_down_the_local_cap(
    live: LiveApp, workers: tuple[SharedLimits, SharedLimits], redis_server: RedisServer
) -> None:
    here, elsewhere = workers
    guard = live.services.connection_guard
    guard.shared = here
    cap = guard.per_address
    with RealServer(live.app) as server:
        cookie = server.login("tina")
        mine = server.handshake(cookie, server.url)
        assert here.held() == {"127.0.0.1": 1}
        others = [elsewhere.hold("127.0.0.1", cap) for _ in range(cap - 1)]
        assert all(others)
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            server.handshake(cookie, server.url)
        assert refused.value.status_code == 429
        assert b"TOO_MANY_CONNECTIONS" in (refused.value.resp_body or b"")
        assert guard.held() == 1  # the refused one gave its local slot back
        mine.close()
        wait_until(lambda: not here.held(), 5, "the closed socket's hold released")
        assert _count(redis_server, "127.0.0.1") == cap - 1

        redis_server.stop()  # Redis gone: this worker's own cap, no more and no less
        opened = [server.handshake(cookie, server.url) for _ in range(cap)]
        with pytest.raises(websocket.WebSocketBadStatusException) as local:
            server.handshake(cookie, server.url)
        assert local.value.status_code == 429
        assert here.fallbacks["connections"] >= 1
        for ws in opened:
            ws.close()


def test_redis_down_then_the_local_event_limit_still_applies(
    live: LiveApp, workers: tuple[SharedLimits, SharedLimits], redis_server: RedisServer
) -> None:
    from dashboard.event_guard import EVENT_BURST

    here, _ = workers
    guard = live.services.event_guard
    guard.clock = lambda: 1000.0
    guard.shared = here
    redis_server.stop()
    with RealServer(live.app) as server:
        ws, _ = server.connect(server.login("vic"), server.url)
        answers = [answer_of(ack(ws, i, f'42{i}["request_state"]')) for i in range(1, 41)]
        assert [a["ok"] for a in answers[: int(EVENT_BURST) - 1]] == [True] * 39
        assert answers[-1]["error"]["code"] == "RATE_LIMITED"
        ws.close()
    assert here.fallbacks["events"] >= 1


class SilentServer:
    """Accepts connections and never answers: a Redis that hangs."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._sock.getsockname()[1]}/0"
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.accepted.append(self._sock.accept()[0])

    def close(self) -> None:
        self._sock.close()
        for conn in self.accepted:
            conn.close()


def test_redis_silent_then_one_short_timeout_and_then_left_alone_for_a_while() -> None:
    silent = SilentServer()
    limits = shared_limits(silent.url, PREFIX, TTL_S)
    try:
        started = time.monotonic()
        assert limits.hold("10.0.0.1", 1) is not None  # the caller's own cap decides
        first = time.monotonic() - started
        assert first < REDIS_TIMEOUT_S + 0.5
        assert len(silent.accepted) == 1
        started = time.monotonic()
        for _ in range(100):  # a flood meanwhile: no Redis call, no wait
            assert limits.take_event("vic", burst=1, patience=1, cooldown_s=1, **SLOW) is None
        assert time.monotonic() - started < 0.5
        assert len(silent.accepted) == 1
        assert limits.fallbacks == {"connections": 1, "events": 100}
    finally:
        limits.close()
        silent.close()
