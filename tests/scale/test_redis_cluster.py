"""One engine and two web processes over a real redis-server, as the Procfile runs them.

The module shares one cluster (Redis, engine, two web processes); each test leaves the kill
switch released and Redis running, as it found them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from dashboard.webhook import sign
from engine.safety.latch import KillSwitchLatch
from engine.store import Store
from tests.conftest import wait_until
from tests.dashboard.wsraw import closed, cookie_of, deflate_bomb, frame, send_quietly, upgrade
from tests.notifier.pushover_fake import TOKEN, USER, PushoverFake
from tests.scale.clients import PageClient
from tests.scale.processes import EngineProcess, RedisServer, snapshot_in_redis, stop_all
from tests.server_process import ROOT, ServerProcess

pytestmark = pytest.mark.slow

COMMAND_TIMEOUT_S = 3.0
PAGES = 20
WEBHOOK_SECRET = "scale-out-webhook-secret"


@dataclass
class Cluster:
    data_dir: Path
    redis: RedisServer
    pushover: PushoverFake
    engine: EngineProcess | None = None
    webs: list[ServerProcess] = field(default_factory=list)

    @property
    def engine_env(self) -> dict[str, str]:
        return {
            "VIGIL_REDIS_URL": self.redis.url,
            "VIGIL_STRATEGY": "none",
            "VIGIL_SIGNAL_MODE": "approve",  # a webhook signal waits: it opens nothing
            "VIGIL_PAPER_LATENCY_MS": "0",
            "PUSHOVER_USER_KEY": USER,
            "PUSHOVER_API_TOKEN": TOKEN,
            "VIGIL_PUSHOVER_API_URL": self.pushover.url,
            "VIGIL_ALERT_RULES": '{"trade_executed": {"enabled": false}}',
        }

    @property
    def web_env(self) -> dict[str, str]:
        return {
            "VIGIL_REDIS_URL": self.redis.url,
            "VIGIL_REDIS_COMMAND_TIMEOUT_S": str(COMMAND_TIMEOUT_S),
            "VIGIL_MAX_CONNECTIONS_PER_IP": "64",  # every test page comes from 127.0.0.1
            "VIGIL_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }

    def start_web(self) -> ServerProcess:
        # VIGIL_THREADS=8 as ServerProcess sets it: a gthread worker would cap pages at 5.
        web = ServerProcess(self.data_dir, **self.web_env).start()
        self.webs.append(web)
        return web

    def audit(self, action: str) -> list[dict[str, Any]]:
        store = Store(self.data_dir / "vigil.sqlite3")
        try:
            return [row for row in store.audit_log(limit=500) if row["action"] == action]
        finally:
            store.close()

    def latch_engaged(self) -> bool:
        return KillSwitchLatch(self.data_dir / "kill_switch.json").read().engaged


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("scale")
    with PushoverFake() as pushover:
        found = Cluster(root / "var", RedisServer(root / "redis").start(), pushover)
        try:
            found.engine = EngineProcess(found.data_dir, **found.engine_env).start()
            found.start_web()
            found.start_web()
            yield found
        finally:
            stop_all(found.webs, found.engine, found.redis)


def test_two_web_processes_then_a_kill_switch_on_one_reaches_both_and_halts_the_engine(
    cluster: Cluster,
) -> None:
    web1, web2 = cluster.webs[:2]
    page1, page2 = PageClient(web1).connect(), PageClient(web2).connect()
    try:
        for page in (page1, page2):
            snap = page.wait_for("initial_state")
            assert snap["user"]["username"] == "admin" and snap["safety"]["trading_state"]
            assert snap["market"]["symbols"]
            page.wait_for("quote_update")  # live events through the message queue
        answer = page1.call("kill_switch", {"level": "halt", "reason": "over redis"})
        assert answer["ok"] and answer["changed"], answer
        assert answer["trading_state"] == "HALTED"  # the engine's own answer
        for page in (page1, page2):
            activated = page.wait_for("kill_switch_activated")
            assert activated["reason"] == "over redis" and activated["actor"] == "admin"
        assert cluster.latch_engaged()
        halted = snapshot_in_redis(cluster.redis)
        assert halted is not None and halted["safety"]["trading_state"] == "HALTED"
        assert web2.health()["trading_state"] == "HALTED"
        state = web2.login().get(f"{web2.url}/api/state", timeout=10).json()
        assert state["safety"]["kill_switch"]["engaged"] is True
    finally:
        web2.reset_kill_switch()
        page1.close()
        page2.close()
    assert not cluster.latch_engaged()


def test_web_process_killed_and_restarted_then_new_page_resyncs(cluster: Cluster) -> None:
    web = cluster.webs[1]
    session = cluster.webs[0].login()
    answer = session.post(
        f"{cluster.webs[0].url}/api/kill-switch",
        json={"level": "pause", "reason": "before the crash"},
        headers={"Origin": cluster.webs[0].url},
        timeout=15,
    ).json()
    assert answer["ok"], answer
    try:
        web.kill()  # SIGKILL: no clean-up
        cluster.webs.remove(web)
        again = cluster.start_web()
        page = PageClient(again, session).connect()  # the same session: shared SQLite
        try:
            snap = page.wait_for("initial_state")
            kill = snap["safety"]["kill_switch"]
            assert kill["engaged"] and kill["level"] == "pause"
            assert kill["reason"] == "before the crash"
        finally:
            page.close()
    finally:
        cluster.webs[0].reset_kill_switch(session)


def test_expired_request_in_the_queue_then_the_engine_drops_it(cluster: Cluster) -> None:
    """A command whose caller gave up (ENGINE_UNAVAILABLE) must not run when it arrives."""
    symbol = snapshot_in_redis(cluster.redis)["market"]["symbols"][0]
    request = {
        "id": "late-1",
        "name": "place_order",
        "payload": {"symbol": symbol, "side": "buy", "qty": 1},
        "user": "admin",
        "deadline": time.time() - 1,
        "reply": "vigil:reply:late-1",
    }
    cluster.redis.client().lpush("vigil:commands", json.dumps(request))
    dropped = wait_until(lambda: cluster.audit("place_order_dropped"), 10, "the drop audited")
    assert dropped[0]["actor"] == "admin" and dropped[0]["outcome"] == "DROPPED"
    assert cluster.redis.client().get("vigil:reply:late-1") is None
    state = snapshot_in_redis(cluster.redis)
    assert not state["orders"] and not state["positions"]


def test_signed_signal_replayed_to_the_other_web_process_then_refused(cluster: Cluster) -> None:
    web1, web2 = cluster.webs[:2]
    symbol = snapshot_in_redis(cluster.redis)["market"]["symbols"][0]
    body = json.dumps({"symbol": symbol, "side": "buy", "qty": 0.1}).encode()  # no sender id
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Vigil-Timestamp": stamp,
        "X-Vigil-Signature": sign(WEBHOOK_SECRET, stamp, body),
    }
    first = requests.post(f"{web1.url}/api/signals", data=body, headers=headers, timeout=15)
    assert first.status_code == 202, first.text  # the engine's own answer, through Redis
    again = requests.post(f"{web2.url}/api/signals", data=body, headers=headers, timeout=15)
    assert again.status_code == 401 and again.json()["error"]["code"] == "REPLAY"
    pending = wait_until(
        lambda: snapshot_in_redis(cluster.redis)["signals"]["pending"], 10, "the signal"
    )
    assert [p["symbol"] for p in pending] == [symbol]
    session = web1.login()
    rejected = session.post(
        f"{web1.url}/api/control/reject_signal",
        json={"id": pending[0]["id"]},
        headers={"Origin": web1.url},
        timeout=15,
    )
    assert rejected.status_code == 200, rejected.text


def test_redis_stopped_and_started_then_engine_holds_entries_alerts_and_resumes(
    cluster: Cluster,
) -> None:
    web1, web2 = cluster.webs[:2]
    session = web1.login()
    page1, page2 = PageClient(web1, session).connect(), PageClient(web2).connect()
    try:
        snap = page1.wait_for("initial_state")
        symbol = snap["market"]["symbols"][0]
        mid = page1.wait_for("quote_update", lambda q: q["symbol"] == symbol)["mid"]
        stop = round(mid * 0.97, 2)
        opened = page1.call(
            "place_order", {"symbol": symbol, "side": "buy", "qty": 0.1, "stop_loss": stop}
        )
        assert opened["ok"], opened
        page1.wait_for(
            "positions_update",
            lambda p: any(x["symbol"] == symbol and x["stop_loss"] for x in p["positions"]),
        )
        alerts_before = len(cluster.pushover.delivered)
        snapshots = [page.count("initial_state") for page in (page1, page2)]

        cluster.redis.stop()
        started = time.monotonic()
        answer = page1.call("pause_entries", {}, timeout=COMMAND_TIMEOUT_S + 5)
        assert time.monotonic() - started < COMMAND_TIMEOUT_S + 2
        assert answer["ok"] is False
        assert answer["error"]["code"] in ("REDIS_UNAVAILABLE", "ENGINE_UNAVAILABLE")
        assert requests.get(f"{web1.url}/readyz", timeout=5).status_code == 503
        lost = wait_until(lambda: cluster.audit("link_lost"), 15, "the engine's link_lost row")
        assert lost[0]["outcome"] == "REDUCING"  # new entries denied, positions kept
        alert = wait_until(
            lambda: [a for a in cluster.pushover.delivered[alerts_before:] if "lost" in a["title"]],
            15,
            "the Redis-lost alert",
        )
        assert "denies new entries" in alert[0]["message"]

        cluster.redis.start()  # the same port
        wait_until(lambda: cluster.audit("link_restored"), 30, "the engine's link_restored row")
        wait_until(lambda: web1.ready().get("ready"), 15, "web /readyz again")
        for page, before in zip((page1, page2), snapshots, strict=True):
            seen = page.count("quote_update")
            page.wait_new("quote_update", seen, timeout=30)  # events flow again
            # The socket stayed open; the web process resent the snapshot once resubscribed.
            fresh = page.wait_new("initial_state", before, timeout=30)
            assert fresh["user"]["username"] == "admin" and fresh["positions"]
        after = wait_until(
            lambda: (
                (snap := snapshot_in_redis(cluster.redis))
                and snap["safety"]["trading_state"] == "ACTIVE"
                and snap
            ),
            10,
            "an ACTIVE snapshot",
        )
        kept = [p for p in after["positions"] if p["symbol"] == symbol]
        assert kept and kept[0]["stop_loss"] == pytest.approx(stop)  # protection kept
        entry = page1.call("place_order", {"symbol": symbol, "side": "buy", "qty": 0.1})
        assert entry["ok"], entry  # entries allowed again
        wait_until(
            lambda: [a for a in cluster.pushover.delivered if "restored" in a["title"]],
            15,
            "the Redis-restored alert",
        )
        closed = page1.call("close_position", {"symbol": symbol})
        assert closed["ok"], closed
    finally:
        page1.close()
        page2.close()


def test_web_process_over_redis_then_pages_do_not_hold_threads(cluster: Cluster) -> None:
    """gunicorn's gevent worker: with VIGIL_THREADS=8 a gthread worker would hold at most 5
    sockets (connection_guard keeps 3 threads free); here every page connects and is live."""
    web = cluster.webs[0]
    assert "Using worker: gevent" in web.output()
    session = web.login()
    pages = []
    try:
        for _ in range(PAGES):
            pages.append(PageClient(web, session).connect())
        for page in pages:
            page.wait_for("initial_state")
            page.wait_new("quote_update", page.count("quote_update"))
        started = time.monotonic()
        assert requests.get(f"{web.url}/healthz", timeout=5).status_code == 200
        assert time.monotonic() - started < 2.0
    finally:
        for page in pages:
            page.close()


def test_web_process_over_redis_then_oversized_or_compressed_messages_close_the_socket(
    cluster: Cluster,
) -> None:
    web = cluster.webs[0]
    cookie = cookie_of(web.login())
    sock, status, _ = upgrade(web.port, cookie=cookie, deflate=True)
    if status == 101:
        send_quietly(sock, frame(deflate_bomb(64), compressed=True))
    assert closed(sock), f"compressed frame left open (status {status})"
    sock.close()
    sock, status, _ = upgrade(web.port, cookie=cookie)
    assert status == 101
    send_quietly(sock, frame(b'42["request_state","' + b"x" * (2 << 20) + b'"]'))
    assert closed(sock), "an oversized message left the socket open"
    sock.close()
    assert web.ready()["ready"] is True


def test_engine_stopped_then_web_says_so_commands_fail_fast_and_a_new_engine_resyncs(
    cluster: Cluster,
) -> None:
    """It stops the shared engine (SIGTERM: a clean stop, exit 0) and starts a new one."""
    assert cluster.engine is not None
    web = cluster.webs[0]
    session = web.login()
    page = PageClient(web, session).connect()
    page.wait_for("initial_state")
    assert cluster.engine.stop() == 0
    assert not cluster.latch_engaged()  # a stop leaves the latch alone
    ready = requests.get(f"{web.url}/readyz", timeout=5)
    assert ready.status_code == 503 and ready.json()["reason"] == "engine not reachable"
    assert requests.get(f"{web.url}/healthz", timeout=5).status_code == 503
    started = time.monotonic()
    answer = session.post(
        f"{web.url}/api/kill-switch",
        json={"level": "halt", "reason": "nobody home"},
        headers={"Origin": web.url},
        timeout=COMMAND_TIMEOUT_S + 5,
    )
    assert time.monotonic() - started <= COMMAND_TIMEOUT_S + 1.5
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "ENGINE_UNAVAILABLE"
    assert "may not be running" in answer.json()["error"]["message"]

    # A new engine on the same data directory (the first let go of its lock): the open page
    # gets the snapshot again and the engine's events.
    try:
        before = page.count("initial_state")
        cluster.engine = EngineProcess(cluster.data_dir, **cluster.engine_env).start()
        try:
            page.wait_new("initial_state", before, timeout=20)
        except AssertionError as exc:
            connected = page.client.connected
            raise AssertionError(
                f"{exc}; page connected: {connected}\n{web.output()[-4000:]}"
            ) from None
        page.wait_new("quote_update", page.count("quote_update"), timeout=20)
        assert web.ready()["ready"] is True
    finally:
        page.close()


def test_engine_command_without_redis_url_then_refuses_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in EngineProcess(tmp_path / "var").env.items() if k != "VIGIL_REDIS_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "engine"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "VIGIL_REDIS_URL" in lines[0] and "make run" in lines[0]
    assert not (tmp_path / "var" / "kill_switch.json").exists()


def test_late_risk_reducing_request_then_it_still_runs_and_a_stale_one_is_dropped(
    cluster: Cluster,
) -> None:
    """As in one process: a pause whose caller gave up a moment ago still runs (and says so);
    one from minutes ago is dropped, audited, and changes nothing."""
    client = cluster.redis.client()

    def request(request_id: str, late_s: float) -> str:
        return json.dumps(
            {
                "id": request_id,
                "name": "pause_entries",
                "payload": {},
                "user": "admin",
                "deadline": time.time() - late_s,
                "reply": f"vigil:reply:{request_id}",
            }
        )

    client.lpush("vigil:commands", request("stale-pause", 600))
    dropped = wait_until(lambda: cluster.audit("pause_entries_dropped"), 10, "the drop audited")
    assert dropped[0]["outcome"] == "DROPPED"
    assert not snapshot_in_redis(cluster.redis)["safety"]["entries_paused"]
    client.lpush("vigil:commands", request("late-pause", 2))
    try:
        wait_until(
            lambda: snapshot_in_redis(cluster.redis)["safety"]["entries_paused"],
            10,
            "the late pause applied",
        )
        assert client.get("vigil:reply:late-pause") is None  # nobody waits for it
        activity = snapshot_in_redis(cluster.redis)["activity"]
        assert any("ran late" in (a.get("message") or "") for a in activity), activity[-5:]
    finally:
        session = cluster.webs[0].login()
        resumed = session.post(
            f"{cluster.webs[0].url}/api/control/resume_entries",
            json={},
            headers={"Origin": cluster.webs[0].url},
            timeout=15,
        ).json()
        assert resumed["ok"], resumed


def test_metrics_on_a_web_process_then_the_engine_process_numbers_are_there(
    cluster: Cluster,
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    web = cluster.webs[0]
    session = web.login()

    def families() -> dict[str, Any]:
        text = session.get(f"{web.url}/metrics", timeout=15).text
        return {f.name: f for f in text_string_to_metric_families(text)}

    found = wait_until(
        lambda: (f := families()) and f["vigil_relay_emits"].samples[0].value > 0 and f,
        15,
        "the engine process's sends counted",
    )
    assert found["vigil_trading_state"].samples[0].value in (0, 1, 2)
    assert found["vigil_engine_heartbeat_age_seconds"].samples[0].value < 30
    published = {s.labels["topic"]: s.value for s in found["vigil_events_published"].samples}
    assert published.get("safety_update", 0) >= 1
