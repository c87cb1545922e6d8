"""The hostile-client limits shared by web processes over a real redis-server (one engine, two
web processes as the Procfile runs them): one per-address socket cap and one per-account event
budget across both, a killed process's holds expiring, and the per-process limits when Redis
is down.

Every client comes from 127.0.0.1, so it is one address; each test uses its own account.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket

from engine.users import UserStore
from tests.conftest import wait_until
from tests.dashboard.wsraw import cookie_of, upgrade
from tests.scale.processes import EngineProcess, RedisServer, stop_all
from tests.server_process import ServerProcess

pytestmark = pytest.mark.slow

PER_ADDRESS = 3
HOLD_TTL_S = 5.0  # VIGIL_REDIS_HEARTBEAT_TTL_S's default: a dead process's holds last this long
BURST, RATE = 40, 20.0  # dashboard/event_guard.py
USERS = {"tina": ("trader-pass-1", "trader"), "vic": ("viewer-pass-1", "viewer")}
USERS.update({"tom": ("trader-pass-2", "trader"), "val": ("viewer-pass-2", "viewer")})


@dataclass
class Cluster:
    data_dir: Path
    redis: RedisServer
    engine: EngineProcess | None = None
    webs: list[ServerProcess] = field(default_factory=list)

    def start_web(self) -> ServerProcess:
        web = ServerProcess(
            self.data_dir,
            VIGIL_REDIS_URL=self.redis.url,
            VIGIL_REDIS_COMMAND_TIMEOUT_S="3",
            VIGIL_MAX_CONNECTIONS_PER_IP=str(PER_ADDRESS),
            VIGIL_STRATEGY="none",
        ).start()
        self.webs.append(web)
        return web

    def held(self, address: str = "127.0.0.1") -> int:
        """Open sockets of `address` in the shared count (not yet expired by Redis's clock)."""
        client = self.redis.client()
        now_s, now_us = client.time()
        now_ms = now_s * 1000 + now_us // 1000
        return int(client.zcount(f"vigil:conns:{address}", now_ms, "+inf"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("limits")
    found = Cluster(root / "var", RedisServer(root / "redis").start())
    try:
        found.data_dir.mkdir()
        users = UserStore(found.data_dir / "vigil.sqlite3")
        for name, (password, role) in USERS.items():
            users.add(name, password, role)
        env = {"VIGIL_REDIS_URL": found.redis.url, "VIGIL_STRATEGY": "none"}
        found.engine = EngineProcess(found.data_dir, **env).start()
        found.start_web()
        found.start_web()
        yield found
    finally:
        stop_all(found.webs, found.engine, found.redis)


@pytest.fixture
def sockets() -> Iterator[list[Any]]:
    """Whatever a test opens is closed at its end."""
    opened: list[Any] = []
    try:
        yield opened
    finally:
        for sock in opened:
            sock.close()


def _cookie(web: ServerProcess, user: str) -> str:
    return cookie_of(web.login(user, USERS[user][0]))


def _upgrade(web: ServerProcess, cookie: str, opened: list[Any]) -> tuple[int, bytes]:
    """A websocket upgrade: the status and, when refused, the JSON body (the socket is then
    closed; an accepted one is kept open in `opened`)."""
    sock, status, rest = upgrade(web.port, cookie=cookie)
    if status == 101:
        opened.append(sock)
        return status, rest
    with sock:
        while b"}" not in rest:
            chunk = sock.recv(4096)
            if not chunk:
                break
            rest += chunk
    return status, rest


def _close_all(cluster: Cluster, opened: list[Any]) -> None:
    for sock in opened:
        sock.close()
    opened.clear()
    # The shared count drops after the local one: once it is 0 every process has let go.
    wait_until(lambda: cluster.held() == 0, 10, "every hold released")


def _connect(web: ServerProcess, cookie: str, opened: list[Any]) -> Any:
    """A Socket.IO connection (Engine.IO open, then the namespace connect)."""
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{web.port}/socket.io/?EIO=4&transport=websocket",
        cookie=cookie,
        suppress_origin=True,
        timeout=10,
    )
    opened.append(ws)
    assert ws.recv().startswith("0{")
    ws.send("40")
    while not ws.recv().startswith("40"):
        pass
    return ws


def _acks(ws: Any, ids: range) -> dict[int, dict[str, Any]]:
    """The acknowledgements of `ids`, answering pings meanwhile."""
    found: dict[int, dict[str, Any]] = {}
    while len(found) < len(ids):
        message = ws.recv()
        if message == "2":
            ws.send("3")
        elif message.startswith("43"):
            ack_id = int(message[2 : message.index("[")])
            found[ack_id] = json.loads(message[message.index("[") :])[0]
    return found


def _closed(ws: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    ws.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            if ws.recv() in ("", b""):
                return True
        except websocket.WebSocketTimeoutException:
            continue
        except (websocket.WebSocketException, OSError):
            return True
    return False


def test_one_address_on_both_web_processes_then_refused_at_the_shared_cap(
    cluster: Cluster, sockets: list[Any]
) -> None:
    web1, web2 = cluster.webs[:2]
    cookie = _cookie(web1, "tina")  # the session is good on both (shared data directory)
    statuses = [_upgrade(web, cookie, sockets)[0] for web in (web1, web1, web2)]
    assert statuses == [101] * PER_ADDRESS
    for web in (web2, web1):
        status, body = _upgrade(web, cookie, sockets)
        assert status == 429 and b"TOO_MANY_CONNECTIONS" in body, (status, body)
    assert cluster.held() == PER_ADDRESS
    sockets.pop(0).close()  # one of web1's closes: web2 may open one again
    wait_until(lambda: cluster.held() == PER_ADDRESS - 1, 10, "the closed socket released")
    assert _upgrade(web2, cookie, sockets)[0] == 101
    _close_all(cluster, sockets)


def test_web_process_killed_then_its_holds_freed_within_the_heartbeat_ttl(
    cluster: Cluster, sockets: list[Any]
) -> None:
    doomed = cluster.start_web()
    web1 = cluster.webs[0]
    cookie = _cookie(web1, "tom")
    assert [_upgrade(doomed, cookie, sockets)[0] for _ in range(PER_ADDRESS)] == [101] * 3
    assert _upgrade(web1, cookie, sockets)[0] == 429
    doomed.kill()  # SIGKILL: no release runs
    cluster.webs.remove(doomed)
    killed = time.monotonic()
    assert cluster.held() == PER_ADDRESS  # nothing released them
    wait_until(lambda: cluster.held() == 0, HOLD_TTL_S + 5, "the killed process's holds expired")
    assert time.monotonic() - killed <= HOLD_TTL_S + 1.0
    assert [_upgrade(web1, cookie, sockets)[0] for _ in range(PER_ADDRESS)] == [101] * 3
    _close_all(cluster, sockets)


def test_account_flooding_through_both_then_one_shared_budget_and_its_kill_switch_passes(
    cluster: Cluster, sockets: list[Any]
) -> None:
    web1, web2 = cluster.webs[:2]
    cookie = _cookie(web1, "tina")
    ws1, ws2 = _connect(web1, cookie, sockets), _connect(web2, cookie, sockets)
    each = 60  # within each process's own bucket (40) plus its patience (100): no drop
    started = time.monotonic()
    for ws in (ws1, ws2):
        for i in range(1, each + 1):
            ws.send(f'42{i}["request_state"]')
    answers = [_acks(ws, range(1, each + 1)) for ws in (ws1, ws2)]
    elapsed = time.monotonic() - started
    halted = _acks_of_halt(ws1)  # the account's budget is spent right now
    try:
        assert halted["ok"] is True, halted
        codes = [a.get("error", {}).get("code") for both in answers for a in both.values()]
        admitted = codes.count(None)
        assert set(codes) <= {None, "RATE_LIMITED"}
        # One budget for both processes: the burst (the two connects took a token each) and
        # what came back while the flood lasted; one per process would admit twice that.
        assert admitted <= BURST + RATE * elapsed + 2, (admitted, elapsed)
        assert admitted >= BURST - 10, (admitted, elapsed)
    finally:
        web2.reset_kill_switch()
    _close_all(cluster, sockets)


def _acks_of_halt(ws: Any) -> dict[str, Any]:
    ws.send('42900["kill_switch",{"level":"pause","reason":"during a flood"}]')
    return _acks(ws, range(900, 901))[900]


def test_account_dropped_for_flooding_on_one_then_the_other_refuses_its_new_socket(
    cluster: Cluster, sockets: list[Any]
) -> None:
    web1, web2 = cluster.webs[:2]
    cookie = _cookie(web1, "vic")
    ws = _connect(web1, cookie, sockets)
    for i in range(1, 400):  # past the burst and the patience: dropped
        try:
            ws.send(f'42{i}["request_state"]')
        except (websocket.WebSocketException, OSError):
            break
    assert _closed(ws), "the flooding socket was not dropped"
    status, body = _upgrade(web2, cookie, sockets)
    assert status == 429 and b"RATE_LIMITED" in body, (status, body)
    assert _upgrade(web2, _cookie(web2, "val"), sockets)[0] == 101  # others are not blocked
    _close_all(cluster, sockets)


def test_redis_down_then_each_web_process_applies_its_own_limits_and_counts_it(
    cluster: Cluster, sockets: list[Any]
) -> None:
    web1, web2 = cluster.webs[:2]
    cookie = _cookie(web1, "tom")
    admin = web1.login()
    wait_until(lambda: cluster.held() == 0, 10, "no socket of an earlier test still held")
    cluster.redis.stop()
    try:
        ws = _connect(web1, cookie, sockets)  # one of web1's three
        for i in range(1, BURST + 11):
            ws.send(f'42{i}["request_state"]')
        codes = [a.get("error", {}).get("code") for a in _acks(ws, range(1, BURST + 11)).values()]
        assert "RATE_LIMITED" in codes, codes  # this process's own budget
        halt = _acks_of_halt(ws)  # never rate-limited; Redis down: the engine cannot be asked
        assert halt["error"]["code"] in ("REDIS_UNAVAILABLE", "ENGINE_UNAVAILABLE"), halt
        # Each process its own cap: neither refuses everyone nor admits without limit.
        statuses = [_upgrade(web1, cookie, sockets)[0] for _ in range(PER_ADDRESS)]
        assert statuses == [101] * (PER_ADDRESS - 1) + [429], statuses
        statuses = [_upgrade(web2, cookie, sockets)[0] for _ in range(PER_ADDRESS + 1)]
        assert statuses == [101] * PER_ADDRESS + [429], statuses
        text = admin.get(f"{web1.url}/metrics", timeout=10).text
        fallbacks = {
            line.split('"')[1]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("vigil_shared_limit_fallbacks_total{")
        }
        assert fallbacks["connections"] >= PER_ADDRESS and fallbacks["events"] >= 1, fallbacks
    finally:
        for sock in sockets:
            sock.close()
        sockets.clear()
        cluster.redis.start()
        for web in (web1, web2):
            wait_until(lambda w=web: _ready(w), 60, "the web process ready again")


def _ready(web: ServerProcess) -> bool:
    try:
        return requests.get(f"{web.url}/readyz", timeout=5).status_code == 200
    except requests.RequestException:
        return False
