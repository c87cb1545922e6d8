"""Web processes over Redis with no engine, and the kill-switch CLI with Redis down."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import socketio

from engine.datadir_lock import DataDirLock
from engine.safety.latch import KillSwitchLatch
from tests.conftest import ADMIN_PASSWORD, wait_until
from tests.scale.processes import RedisServer
from tests.server_process import ROOT, ServerProcess

pytestmark = pytest.mark.slow

TIMEOUT_S = 2.0


def test_no_engine_ever_then_page_connects_not_ready_and_commands_unavailable(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    web = ServerProcess(
        tmp_path / "var",
        VIGIL_REDIS_URL=redis_server.url,
        VIGIL_REDIS_COMMAND_TIMEOUT_S=str(TIMEOUT_S),
    )
    web.spawn()
    try:
        wait_until(lambda: _answers(web.url), 30, "the web process answering")
        ready = requests.get(f"{web.url}/readyz", timeout=5)
        assert ready.status_code == 503 and ready.json()["reason"] == "engine not reachable"
        session = web.login()
        state = session.get(f"{web.url}/api/state", timeout=5)
        assert state.status_code == 503 and state.json()["error"]["code"] == "NOT_READY"

        client = socketio.Client(reconnection=False)
        told: list[dict[str, str]] = []
        client.on("system", told.append)
        cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
        client.connect(
            web.url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=10
        )
        try:
            wait_until(lambda: [m for m in told if m.get("kind") == "not_ready"], 10, "not_ready")
            asked = client.call("request_state", {}, timeout=10)
            assert asked["error"]["code"] == "NOT_READY"
            started = time.monotonic()
            answer = client.call("kill_switch", {"level": "halt", "reason": "anyone?"}, timeout=10)
            assert time.monotonic() - started <= TIMEOUT_S + 1.5
            assert answer["error"]["code"] == "ENGINE_UNAVAILABLE", answer
            assert f"within {TIMEOUT_S:g} s" in answer["error"]["message"]
        finally:
            client.disconnect()
        assert not (tmp_path / "var" / "kill_switch.json").exists()
        # The web process never took the data-directory lock: an engine could start here.
        lock = DataDirLock(tmp_path / "var")
        lock.acquire()
        lock.release()
    finally:
        web.stop()


def test_wrong_passwords_spread_over_two_web_processes_then_one_shared_lockout(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    webs = [ServerProcess(tmp_path / "var", VIGIL_REDIS_URL=redis_server.url) for _ in range(2)]
    for web in webs:
        web.spawn()
    try:
        for web in webs:
            wait_until(lambda web=web: _answers(web.url), 30, "the web process answering")
        codes = []
        for attempt in range(5):  # MAX_FAILURES, alternating between the two processes
            web = webs[attempt % 2]
            wrong = requests.post(
                f"{web.url}/api/login",
                json={"username": "admin", "password": f"guess-{attempt}"},
                timeout=10,
            )
            codes.append(wrong.status_code)
        assert codes == [401] * 5
        for web in webs:  # the right password is refused on both: one budget, not two
            right = requests.post(
                f"{web.url}/api/login",
                json={"username": "admin", "password": ADMIN_PASSWORD},
                timeout=10,
            )
            assert right.status_code == 429 and right.json()["error"]["code"] == "LOCKED_OUT"
    finally:
        for web in webs:
            web.stop()


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=1).status_code in (200, 503)
    except requests.RequestException:
        return False


def test_kill_switch_cli_with_redis_down_then_latch_written(tmp_path: Path) -> None:
    redis_server = RedisServer(tmp_path / "redis").start()
    url = redis_server.url
    redis_server.stop()  # nothing listens on its port any more
    env = {
        "PATH": "/usr/bin:/bin",
        "VIGIL_DATA_DIR": str(tmp_path / "var"),
        "VIGIL_REDIS_URL": url,
        "VIGIL_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    engaged = _flask(env, "kill-switch", "engage", "--level", "halt", "--reason", "redis down")
    assert engaged.returncode == 0, engaged.stderr
    assert KillSwitchLatch(tmp_path / "var" / "kill_switch.json").read().engaged
    status = _flask(env, "kill-switch", "status")
    assert status.returncode == 0 and '"engaged": true' in status.stdout


def _flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
