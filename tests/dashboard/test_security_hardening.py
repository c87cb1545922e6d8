"""Hardening: inbound size limits, malformed frames, headers, cookies, keys, binding, secrets.

Tests that need a real websocket never use Flask-SocketIO's test client on the same app: that
client replaces the server's packet sender for every connection, real ones included.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

import wsgi
from dashboard import create_app
from dashboard.services import Services
from dashboard.settings import VigilSettings, load_settings
from engine.runtime import EngineRuntime
from engine.users import UserStore
from notifier.config import build_dispatcher
from tests.conftest import ADMIN_PASSWORD, CHEAP_HASHER, make_settings, wait_until
from tests.dashboard.conftest import PASSWORDS, LiveApp
from tests.dashboard.realserver import RealServer, ack, closed_by_server
from tests.notifier.pushover_fake import PushoverFake, Reply


def safety(live: LiveApp) -> dict[str, Any]:
    return live.runtime.state.get("safety")


def login(client: FlaskClient, user: str, password: str) -> Any:
    return client.post("/api/login", json={"username": user, "password": password})


# ----- sizes ------------------------------------------------------------------------------


def test_oversized_socket_message_then_connection_closed_server_survives(live: LiveApp) -> None:
    before = safety(live)
    with RealServer(live.app) as server:
        cookie = server.login("admin")
        ws, _ = server.connect(cookie, server.url)
        near = '{"level":"halt","reason":"' + "x" * 60_000 + '"}'
        answer = json.loads(ack(ws, 1, f'421["kill_switch",{near}]')[3:])[0]
        assert answer["ok"] is False and answer["error"]["code"] == "INVALID_PAYLOAD"
        huge = '{"level":"halt","reason":"' + "x" * 70_000 + '"}'
        ws.send(f'422["kill_switch",{huge}]')
        assert closed_by_server(ws)
        assert server.healthy()
        again, seen = server.connect(cookie, server.url)
        assert seen[-1].startswith("40")
        assert json.loads(ack(again, 3, '423["request_state",{}]')[3:])[0]["ok"] is True
        again.close()
    assert safety(live) == before


def test_malformed_socket_frames_then_server_keeps_serving(live: LiveApp) -> None:
    before = safety(live)
    with RealServer(live.app) as server:
        cookie = server.login("admin")
        frames = [
            '421["kill_switch",' + "[" * 20_000 + "]" * 20_000 + "]",
            "42garbage",
            "4",
            "9",
            '421["kill_switch",{"level":"halt"},{"x":1}]',
            "421[]",
            "421[1,2]",
            '421{"a":1}',
            '451-["kill_switch",{"_placeholder":true,"num":0}]',
            '421["kill_switch",NaN]',
        ]
        for frame in frames:
            ws, _ = server.connect(cookie, server.url)
            ws.send(frame)
            ws.close()
        assert server.healthy()
        ws, _ = server.connect(cookie, server.url)
        answer = json.loads(ack(ws, 7, '427["kill_switch",{"level":"halt"},{"x":1}]')[3:])[0]
        assert answer["error"]["code"] == "INVALID_PAYLOAD"
        ws.close()
    assert safety(live) == before


def test_oversized_http_body_then_413_structured(live: LiveApp) -> None:
    client = live.http("admin")
    body = {"level": "halt", "reason": "x" * 70_000}
    answer = client.post("/api/kill-switch", json=body)
    assert answer.status_code == 413
    assert answer.get_json()["ok"] is False and "code" in answer.get_json()["error"]
    assert not safety(live)["kill_switch"]["engaged"]


# ----- headers, cookies, keys, binding ----------------------------------------------------------


def test_responses_then_carry_security_headers(live: LiveApp) -> None:
    client = live.http("admin")
    for path in ("/", "/login", "/api/state", "/healthz", "/no-such-page"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin")
        assert headers["X-Frame-Options"] == "DENY"
    assert client.get("/api/state").headers["Cache-Control"] == "no-store"


def test_login_cookie_then_httponly_samesite_strict_not_secure_by_default(live: LiveApp) -> None:
    answer = login(live.app.test_client(), "admin", ADMIN_PASSWORD)
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie


def test_secret_key_then_generated_once_into_data_dir(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var", VIGIL_SECRET_KEY="")
    first, second = create_app(settings, None), create_app(settings, None)
    key_file = settings.engine.store.data_dir / "secret_key"
    assert first.secret_key == second.secret_key == key_file.read_text().strip()
    assert len(str(first.secret_key)) >= 64 and (key_file.stat().st_mode & 0o777) == 0o600
    given = create_app(make_settings(tmp_path / "var", VIGIL_SECRET_KEY="from-env-abc"), None)
    assert given.secret_key == "from-env-abc"


def test_default_bind_is_loopback_and_public_bind_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert load_settings({"VIGIL_DATA_DIR": str(tmp_path / "var")}).web.host == "127.0.0.1"
    wsgi._banner(make_settings(tmp_path / "var"), None)
    assert "WARNING" not in capsys.readouterr().err
    wsgi._banner(make_settings(tmp_path / "var", VIGIL_HOST="0.0.0.0"), None)
    assert "SECURITY WARNING" in capsys.readouterr().err
    wsgi._banner(
        make_settings(tmp_path / "var", VIGIL_HOST="0.0.0.0", VIGIL_SECURE_COOKIES="1"), None
    )
    assert "WARNING" not in capsys.readouterr().err


# ----- secrets ---------------------------------------------------------------------------------

SECRETS = {
    "VIGIL_ADMIN_PASSWORD": "Adm1n-Pa55-q8x7w6v5",
    "VIGIL_SECRET_KEY": "sk-4f0c2b9e7d1a6385c0ffee",
    "PUSHOVER_API_TOKEN": "aZtokenQ8e7r6t5y4u3i2o1p0lkj",
    "PUSHOVER_USER_KEY": "uUserKeyM9n8b7v6c5x4z3a2s1dq",
}


class NotifiedApp(LiveApp):
    """LiveApp plus the real notifier, pointed at a loopback Pushover."""

    def __init__(self, settings: VigilSettings, pushover: PushoverFake) -> None:
        self.runtime = EngineRuntime(settings.engine)
        self.runtime.boot()
        self.users = UserStore(settings.engine.store.db_path, hasher=CHEAP_HASHER)
        self.users.ensure_admin(settings.web.admin_password)
        self.users.add("vic", PASSWORDS["vic"], "viewer")
        alerts = settings.alerts.model_copy(update={"pushover_api_url": pushover.url})
        self.notifier = build_dispatcher(alerts, settings.engine.store.data_dir)
        self.notifier.attach(self.runtime.bus)
        self.notifier.start()
        self.app = create_app(settings, self.runtime, notifier=self.notifier, users=self.users)
        self.services = Services.of(self.app)
        self.socketio = self.services.socketio
        self.services.start_bridge()
        self.runtime.start(feed=False)

    def close(self) -> None:
        self.notifier.stop(2.0)
        super().close()


@pytest.fixture
def notified(tmp_path: Path) -> Iterator[tuple[NotifiedApp, PushoverFake]]:
    with PushoverFake(token="the-real-token-is-elsewhere") as pushover:
        app = NotifiedApp(make_settings(tmp_path / "var", **SECRETS), pushover)
        app.push_market(1.0)
        yield app, pushover
        app.close()


def test_secrets_then_absent_from_logs_payloads_errors_and_files(
    notified: tuple[NotifiedApp, PushoverFake],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    app, pushover = notified
    caplog.set_level(logging.DEBUG)
    admin_pw = SECRETS["VIGIL_ADMIN_PASSWORD"]
    seen: list[str] = []

    def keep(answer: Any) -> Any:
        seen.append(answer.get_data(as_text=True))
        seen.append(str(answer.headers))
        return answer

    anon = app.app.test_client()
    keep(login(anon, "admin", "not-the-password"))
    keep(login(anon, "nobody", admin_pw))
    keep(anon.post("/api/login", json={"username": "admin", "password": admin_pw, "x": 1}))
    admin = app.app.test_client()
    assert keep(login(admin, "admin", admin_pw)).status_code == 200
    socket = app.socketio.test_client(app.app, flask_test_client=admin)
    pushover.push(
        Reply(400, {"status": 0, "errors": [f"bad token {SECRETS['PUSHOVER_API_TOKEN']}"]})
    )
    answers = [
        socket.emit("kill_switch", {"level": "halt", "reason": "secrets drill"}, callback=True),
        socket.emit("test_notification", {"message": "hello"}, callback=True),
        socket.emit(
            "reset_kill_switch",
            {"reason": "not yet", "confirm": "RESET", "password": "bad"},
            callback=True,
        ),
        socket.emit(
            "reset_kill_switch",
            {"reason": "not yet", "confirm": "reset", "password": admin_pw},
            callback=True,
        ),
        socket.emit(
            "reset_kill_switch",
            {"reason": "not yet", "confirm": "RESET", "password": admin_pw, "extra": admin_pw},
            callback=True,
        ),
        socket.emit("request_state", {}, callback=True),
        socket.emit("place_order", {"symbol": admin_pw, "side": "buy", "qty": 1}, callback=True),
    ]
    assert answers[0]["ok"] and not answers[1]["results"]["pushover"]["delivered"]
    assert pushover.wait_for(2, timeout=10)  # the kill-switch alert went out (and failed) too
    for path in ("/api/state", "/metrics", "/api/audit", "/healthz", "/api/share-links", "/nope"):
        keep(admin.get(path))
    keep(
        admin.post(
            "/api/kill-switch/reset", json={"reason": "x", "confirm": "RESET", "password": "no"}
        )
    )
    # Everything the bridge sends up to now, and the notifier's log of the failed alert.
    seen += [json.dumps(m, default=str) for m in app.settle(socket)]
    wait_until(
        lambda: any("failed (attempt" in r.getMessage() for r in caplog.records),
        10,
        "the notifier to log the failed alert",
    )
    keep(admin.post("/api/logout"))
    assert not socket.is_connected()
    seen += [json.dumps(a, default=str) for a in answers]
    seen += [json.dumps(app.runtime.parts.store.audit_log(limit=1000), default=str)]
    seen += [repr(app.runtime.settings), str(app.runtime.settings), repr(app.notifier.status())]
    out, err = capfd.readouterr()
    seen += [caplog.text, out, err]
    files = [p for p in app.runtime.settings.store.data_dir.iterdir() if p.name != "secret_key"]
    raw = b"".join(p.read_bytes() for p in files if p.is_file())
    actions = [entry["action"] for entry in app.runtime.parts.store.audit_log(limit=1000)]
    assert {"login_failed", "login", "reset_kill_switch_denied", "logout"} <= set(actions)
    assert caplog.records  # the failing Pushover calls were logged
    for name, secret in SECRETS.items():
        for text in seen:
            assert secret not in text, f"{name} leaked into: {text[:300]}"
        assert secret.encode() not in raw, f"{name} stored in plain text in the data directory"
