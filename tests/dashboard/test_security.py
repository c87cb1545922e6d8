"""Access control and hardening: sessions, roles, lockout, origins, CSRF, sizes, headers, secrets.

Tests that need a real websocket never use Flask-SocketIO's test client on the same app: that
client replaces the server's packet sender for every connection, real ones included.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket
from flask.testing import FlaskClient

import wsgi
from dashboard import create_app
from dashboard.auth import MAX_FAILURES, LoginThrottle
from engine.clock import FakeClock
from engine.runtime import EngineRuntime
from engine.settings import Settings, load_settings
from engine.users import UserStore
from notifier.config import build_dispatcher
from tests.conftest import ADMIN_PASSWORD, make_settings
from tests.dashboard.conftest import PASSWORDS, LiveApp
from tests.dashboard.realserver import RealServer, ack, closed_by_server
from tests.notifier.pushover_fake import PushoverFake, Reply

EVIL = "http://evil.example"


def safety(live: LiveApp) -> dict[str, Any]:
    return live.runtime.state.get("safety")


def audit_actions(live: LiveApp) -> list[str]:
    return [entry["action"] for entry in live.runtime.c.store.audit_log(limit=1000)]


def login(client: FlaskClient, user: str, password: str, addr: str = "127.0.0.1") -> Any:
    return client.post(
        "/api/login",
        json={"username": user, "password": password},
        environ_base={"REMOTE_ADDR": addr},
    )


# ----- sessions and sockets -------------------------------------------------------------


def test_socket_without_session_or_with_forged_cookie_then_refused(live: LiveApp) -> None:
    assert not live.socket(None).is_connected()
    client = live.app.test_client()
    client.set_cookie("vigil_session", "eyJ1c2VyIjoiYWRtaW4ifQ.forged.signature")
    assert not live.socketio.test_client(live.app, flask_test_client=client).is_connected()


def test_real_socket_without_session_then_connect_refused(live: LiveApp) -> None:
    with RealServer(live.app) as server:
        ws, seen = server.connect(None, server.url)
        assert seen[-1].startswith("44")  # CONNECT_ERROR: refused
        assert not any("initial_state" in message for message in seen)
        ws.close()


def test_socket_handshake_from_foreign_origin_then_refused_same_origin_accepted(
    live: LiveApp,
) -> None:
    with RealServer(live.app) as server:
        cookie = server.login("admin")
        for origin, extra in [
            (EVIL, {}),
            ("null", {}),
            (f"http://127.0.0.1:{server.port + 1}", {}),
            # python-engineio's own default would believe these; Vigil does only behind a proxy
            (EVIL, {"X_Forwarded_Host": "evil.example", "X_Forwarded_Proto": "http"}),
        ]:
            with pytest.raises(websocket.WebSocketBadStatusException) as refused:
                server.handshake(cookie, origin, **extra)
            assert refused.value.status_code == 400
        ws, seen = server.connect(cookie, server.url)
        assert seen[-1].startswith("40") and any("initial_state" in m for m in seen)
        ws.close()


def test_wildcard_in_allowed_origins_then_ignored_and_listed_origin_accepted(
    live: LiveApp, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "var", VIGIL_ALLOWED_ORIGINS="*, https://ops.example.com/")
    other = create_app(settings, live.runtime, users=live.users)
    assert other.config["VIGIL_ORIGINS"] == ["https://ops.example.com"]
    try:
        with RealServer(other) as server:
            cookie = server.login("admin")
            with pytest.raises(websocket.WebSocketBadStatusException):
                server.handshake(cookie, EVIL)
            server.handshake(cookie, "https://ops.example.com").close()
            client = other.test_client()
            login(client, "admin", ADMIN_PASSWORD)
            body = {"level": "pause", "reason": "from the ops page"}
            assert (
                client.post("/api/kill-switch", json=body, headers={"Origin": EVIL}).status_code
                == 403
            )
    finally:
        other.extensions["vigil.bridge"].stop()


def test_logout_then_copied_cookie_refused_and_open_socket_closed(live: LiveApp) -> None:
    client = live.http("tina")
    copy = live.app.test_client()
    copy.set_cookie("vigil_session", client.get_cookie("vigil_session").value)
    socket = live.socketio.test_client(live.app, flask_test_client=copy)
    assert socket.is_connected() and copy.get("/api/state").status_code == 200
    assert client.post("/api/logout").get_json() == {"ok": True}
    assert client.get("/api/state").status_code == 401
    assert copy.get("/api/state").status_code == 401  # the stolen copy is dead too
    assert not socket.is_connected()
    assert "logout" in audit_actions(live)


def test_session_older_than_its_lifetime_then_refused(live: LiveApp) -> None:
    client = live.http("admin")
    lifetime = live.app.permanent_session_lifetime.total_seconds()
    with client.session_transaction() as session:
        session["iat"] = time.time() - lifetime - 1
    assert client.get("/api/state").status_code == 401


def test_demoted_or_removed_user_then_next_socket_command_refused(live: LiveApp) -> None:
    trader = live.socket("tina")
    live.users.set_role("tina", "viewer")
    engage = {"level": "halt", "reason": "after demotion"}
    assert trader.emit("kill_switch", engage, callback=True)["error"]["code"] == "FORBIDDEN"
    live.users.remove("tina")
    assert trader.emit("kill_switch", engage, callback=True)["error"]["code"] == "UNAUTHENTICATED"
    assert safety(live)["kill_switch"]["engaged"] is False


# ----- roles --------------------------------------------------------------------------------


def test_viewer_then_cannot_trade_engage_or_reset(live: LiveApp) -> None:
    viewer, http = live.socket("vic"), live.http("vic")
    reset = {"reason": "viewer try", "confirm": "RESET", "password": PASSWORDS["vic"]}
    for name, payload in [
        ("place_order", {"symbol": "SPY", "side": "buy", "qty": 1}),
        ("close_position", {"symbol": "SPY"}),
        ("pause_entries", {}),
        ("kill_switch", {"level": "pause", "reason": "viewer try"}),
        ("reset_kill_switch", reset),
        ("set_risk_override", {"name": "max_notional", "value": 1e6}),
    ]:
        assert viewer.emit(name, payload, callback=True)["error"]["code"] == "FORBIDDEN", name
    assert (
        http.post("/api/kill-switch", json={"level": "halt", "reason": "x y z"}).status_code == 403
    )
    assert http.post("/api/kill-switch/reset", json=reset).status_code == 403
    assert http.post("/api/control/place_order", json={}).status_code == 403
    assert safety(live)["trading_state"] == "ACTIVE" and not safety(live)["kill_switch"]["engaged"]
    assert live.runtime.c.broker.open_orders() == []
    assert "kill_switch_denied" in audit_actions(live)


def test_trader_then_can_engage_any_level_but_not_reset(live: LiveApp) -> None:
    trader, http = live.socket("tina"), live.http("tina")
    for level in ("pause", "halt"):
        answer = trader.emit("kill_switch", {"level": level, "reason": "drill"}, callback=True)
        assert answer["ok"], answer
    answer = http.post("/api/kill-switch", json={"level": "flatten", "reason": "drill"})
    assert answer.status_code == 200
    reset = {"reason": "trader try", "confirm": "RESET", "password": PASSWORDS["tina"]}
    assert trader.emit("reset_kill_switch", reset, callback=True)["error"]["code"] == "FORBIDDEN"
    assert http.post("/api/kill-switch/reset", json=reset).status_code == 403
    assert safety(live)["kill_switch"]["engaged"] is True
    assert safety(live)["kill_switch"]["level"] == "flatten"


# ----- login throttling ---------------------------------------------------------------------


def test_repeated_failures_then_user_locked_out_even_with_right_password(live: LiveApp) -> None:
    client = live.app.test_client()
    for i in range(MAX_FAILURES):
        assert login(client, "tina", "wrong", addr=f"10.0.0.{i}").status_code == 401
    locked = login(client, "tina", PASSWORDS["tina"], addr="10.0.1.1")
    assert locked.status_code == 429
    assert locked.get_json()["error"]["code"] == "LOCKED_OUT"
    assert login(client, "vic", PASSWORDS["vic"], addr="10.0.1.1").status_code == 200
    actions = audit_actions(live)
    assert actions.count("login_failed") == MAX_FAILURES and "login_locked" in actions


def test_repeated_failures_from_one_address_then_address_locked_for_everyone(
    live: LiveApp,
) -> None:
    client = live.app.test_client()
    for i in range(MAX_FAILURES):
        assert login(client, f"nobody{i}", "wrong", addr="10.0.0.66").status_code == 401
    assert login(client, "admin", ADMIN_PASSWORD, addr="10.0.0.66").status_code == 429
    assert login(client, "admin", ADMIN_PASSWORD, addr="10.0.0.67").status_code == 200


def test_lockout_then_lifted_after_the_lockout_period(live: LiveApp) -> None:
    clock = FakeClock(start=1000.0)
    live.app.extensions["vigil.throttle"] = LoginThrottle(clock=clock.monotonic)
    client = live.app.test_client()
    for _ in range(MAX_FAILURES):
        login(client, "vic", "wrong")
    assert login(client, "vic", PASSWORDS["vic"]).status_code == 429
    clock.advance(299)
    assert login(client, "vic", PASSWORDS["vic"]).status_code == 429
    clock.advance(2)
    assert login(client, "vic", PASSWORDS["vic"]).status_code == 200


def test_unknown_user_and_wrong_password_then_same_answer(live: LiveApp) -> None:
    client = live.app.test_client()
    unknown = login(client, "mallory", "whatever-1", addr="10.1.0.1")
    wrong = login(client, "admin", "whatever-1", addr="10.1.0.2")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json() == wrong.get_json()


def test_forwarded_for_without_trust_proxy_then_ignored(live: LiveApp) -> None:
    client = live.app.test_client()
    for i in range(MAX_FAILURES):
        client.post(
            "/api/login",
            json={"username": f"x{i}", "password": "wrong"},
            headers={"X-Forwarded-For": f"10.2.0.{i}"},
        )
    answer = client.post(
        "/api/login",
        json={"username": "admin", "password": ADMIN_PASSWORD},
        headers={"X-Forwarded-For": "10.2.0.99"},
    )
    assert answer.status_code == 429  # the real peer, 127.0.0.1, is what got locked


def test_trust_proxy_then_forwarded_for_and_host_believed(live: LiveApp, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var", VIGIL_TRUST_PROXY="1", VIGIL_SECURE_COOKIES="1")
    app = create_app(settings, live.runtime, users=live.users)
    try:
        client = app.test_client()
        for i in range(MAX_FAILURES):
            client.post(
                "/api/login",
                json={"username": f"y{i}", "password": "wrong"},
                headers={"X-Forwarded-For": "10.3.0.1"},
            )
        proxied = {"X-Forwarded-For": "10.3.0.2", "X-Forwarded-Proto": "https"}
        answer = client.post(
            "/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}, headers=proxied
        )
        assert answer.status_code == 200
        cookie = answer.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "max-age=" in app.test_client().get("/login").headers["Strict-Transport-Security"]
    finally:
        app.extensions["vigil.bridge"].stop()


# ----- cross-site requests ------------------------------------------------------------------


def test_cross_site_post_then_refused_and_nothing_changes(live: LiveApp) -> None:
    client = live.http("admin")
    engage = {"level": "halt", "reason": "csrf attempt"}
    for headers in [
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Origin": "http://localhost.evil.example"},
        {"Referer": f"{EVIL}/page.html"},
        {"Sec-Fetch-Site": "cross-site"},
    ]:
        for path, body in [
            ("/api/kill-switch", engage),
            ("/api/control/pause_entries", {}),
            ("/api/share-links", {"ttl_hours": 1}),
            ("/api/login", {"username": "admin", "password": ADMIN_PASSWORD}),
            ("/api/logout", None),
        ]:
            answer = client.post(path, json=body, headers=headers)
            assert answer.status_code == 403, (path, headers)
            assert answer.get_json()["error"]["code"] == "CROSS_SITE"
        assert client.delete("/api/share-links/abc", headers=headers).status_code == 403
    assert client.get("/api/state").status_code == 200  # the logout was refused too
    assert not safety(live)["kill_switch"]["engaged"] and not live.runtime.c.safety.manual_pause
    assert client.get("/api/share-links").get_json()["links"] == []


def test_form_or_text_body_then_refused_even_from_same_origin(live: LiveApp) -> None:
    client = live.http("admin")
    same = {"Origin": "http://localhost"}
    form = client.post("/api/kill-switch", data={"level": "halt", "reason": "form"}, headers=same)
    text = client.post(
        "/api/control/pause_entries", data="{}", content_type="text/plain", headers=same
    )
    assert form.status_code == text.status_code == 415
    assert not safety(live)["kill_switch"]["engaged"] and not live.runtime.c.safety.manual_pause


def test_script_without_origin_and_same_origin_page_then_allowed(live: LiveApp) -> None:
    client = live.http("admin")  # the test client sends neither Origin nor Referer
    assert client.post("/api/control/pause_entries", json={}).status_code == 200
    page = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/control/resume_entries", json={}, headers=page).status_code == 200
    assert client.post("/api/control/pause_entries").status_code == 200  # no body at all


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
    key_file = settings.data_dir / "secret_key"
    assert first.secret_key == second.secret_key == key_file.read_text().strip()
    assert len(str(first.secret_key)) >= 64 and (key_file.stat().st_mode & 0o777) == 0o600
    given = create_app(make_settings(tmp_path / "var", VIGIL_SECRET_KEY="from-env-abc"), None)
    assert given.secret_key == "from-env-abc"


def test_default_bind_is_loopback_and_public_bind_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert load_settings({"VIGIL_DATA_DIR": str(tmp_path / "var")}).host == "127.0.0.1"
    wsgi._banner(make_settings(tmp_path / "var"), None)
    assert "WARNING" not in capsys.readouterr().out
    wsgi._banner(make_settings(tmp_path / "var", VIGIL_HOST="0.0.0.0"), None)
    assert "WARNING" in capsys.readouterr().out
    wsgi._banner(
        make_settings(tmp_path / "var", VIGIL_HOST="0.0.0.0", VIGIL_SECURE_COOKIES="1"), None
    )
    assert "WARNING" not in capsys.readouterr().out


# ----- secrets ---------------------------------------------------------------------------------

SECRETS = {
    "VIGIL_ADMIN_PASSWORD": "Adm1n-Pa55-q8x7w6v5",
    "VIGIL_SECRET_KEY": "sk-4f0c2b9e7d1a6385c0ffee",
    "PUSHOVER_API_TOKEN": "aZtokenQ8e7r6t5y4u3i2o1p0lkj",
    "PUSHOVER_USER_KEY": "uUserKeyM9n8b7v6c5x4z3a2s1dq",
}


class NotifiedApp(LiveApp):
    """LiveApp plus the real notifier, pointed at a loopback Pushover."""

    def __init__(self, settings: Settings, pushover: PushoverFake) -> None:
        self.runtime = EngineRuntime(settings)
        self.runtime.boot()
        self.users = UserStore(settings.db_path)
        self.users.ensure_admin(settings.admin_password)
        self.users.add("vic", PASSWORDS["vic"], "viewer")
        env = {**SECRETS, "VIGIL_PUSHOVER_API_URL": pushover.url}
        self.notifier = build_dispatcher(env, settings.data_dir)
        self.notifier.attach(self.runtime.bus)
        self.notifier.start()
        self.app = create_app(settings, self.runtime, notifier=self.notifier, users=self.users)
        self.socketio = self.app.extensions["vigil.socketio"]
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
    time.sleep(0.3)  # let the bridge flush and the notifier log its failures
    seen += [json.dumps(m, default=str) for m in socket.get_received()]
    keep(admin.post("/api/logout"))
    assert not socket.is_connected()
    seen += [json.dumps(a, default=str) for a in answers]
    seen += [json.dumps(app.runtime.c.store.audit_log(limit=1000), default=str)]
    seen += [repr(app.runtime.settings), str(app.runtime.settings), repr(app.notifier.status())]
    out, err = capfd.readouterr()
    seen += [caplog.text, out, err]
    files = [p for p in app.runtime.settings.data_dir.iterdir() if p.name != "secret_key"]
    raw = b"".join(p.read_bytes() for p in files if p.is_file())
    actions = [entry["action"] for entry in app.runtime.c.store.audit_log(limit=1000)]
    assert {"login_failed", "login", "reset_kill_switch_denied", "logout"} <= set(actions)
    assert caplog.records  # the failing Pushover calls were logged
    for name, secret in SECRETS.items():
        for text in seen:
            assert secret not in text, f"{name} leaked into: {text[:300]}"
        assert secret.encode() not in raw, f"{name} stored in plain text in the data directory"
