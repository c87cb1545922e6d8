"""Access control: sessions, sockets and origins, roles, login lockout, cross-site requests.

Tests that need a real websocket never use Flask-SocketIO's test client on the same app: that
client replaces the server's packet sender for every connection, real ones included. Sizes,
headers, keys and secrets are in test_security_hardening.py; fuzzing in test_security_fuzz.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import websocket
from flask.testing import FlaskClient

from dashboard import create_app
from dashboard.auth import FAILURE_WINDOW_S, MAX_FAILURES, THROTTLE_PRUNE_AT, LoginThrottle
from engine.clock import FakeClock
from tests.conftest import ADMIN_PASSWORD, make_settings
from tests.dashboard.conftest import PASSWORDS, LiveApp
from tests.dashboard.realserver import RealServer

EVIL = "http://evil.example"


def safety(live: LiveApp) -> dict[str, Any]:
    return live.runtime.state.get("safety")


def audit_actions(live: LiveApp) -> list[str]:
    return [entry["action"] for entry in live.runtime.parts.store.audit_log(limit=1000)]


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


def test_real_socket_without_session_then_upgrade_refused(live: LiveApp) -> None:
    with RealServer(live.app) as server:
        # Refused at the websocket upgrade (issue 9): an anonymous socket never holds a thread.
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            server.connect(None, server.url)
        assert refused.value.status_code == 401
        assert b"UNAUTHENTICATED" in (refused.value.resp_body or b"")


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
    with RealServer(other) as server:
        cookie = server.login("admin")
        with pytest.raises(websocket.WebSocketBadStatusException):
            server.handshake(cookie, EVIL)
        server.handshake(cookie, "https://ops.example.com").close()
        client = other.test_client()
        login(client, "admin", ADMIN_PASSWORD)
        body = {"level": "pause", "reason": "from the ops page"}
        assert (
            client.post("/api/kill-switch", json=body, headers={"Origin": EVIL}).status_code == 403
        )


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
    assert live.runtime.parts.broker.open_orders() == []
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


def test_unknown_symbol_then_refused_before_the_engine(live: LiveApp) -> None:
    trader = live.socket("tina")
    trader.get_received()
    audit_before = audit_actions(live)
    for name, payload in [
        ("place_order", {"symbol": "NOPE", "side": "buy", "qty": 1}),
        ("close_position", {"symbol": "spy"}),
        ("modify_stops", {"symbol": "SPY ", "stop_loss": 1.0}),
    ]:
        answer = trader.emit(name, payload, callback=True)
        assert answer["error"]["code"] == (
            "UNKNOWN_SYMBOL" if name != "modify_stops" else "NO_POSITION"
        )
    # Everything the engine and the bridge would have sent by now, then nothing more.
    names = {message["name"] for message in live.settle(trader)}
    assert "order_placing" not in names and "risk_limit" not in names
    # Operator controls put their refusals on the record (issue #14); an order does not.
    after = audit_actions(live)
    assert after[len(after) - len(audit_before) :] == audit_before
    assert sorted(after[: len(after) - len(audit_before)]) == [
        "close_position_invalid",
        "modify_stops_refused",
    ]


def test_boolean_or_string_quantity_then_refused(live: LiveApp) -> None:
    trader = live.socket("tina")
    for qty in (True, "1"):
        answer = trader.emit(
            "place_order", {"symbol": "SPY", "side": "buy", "qty": qty}, callback=True
        )
        assert answer["ok"] is False and answer["error"]["code"] == "INVALID_PAYLOAD", answer


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
    live.services.throttle = LoginThrottle(clock=clock.monotonic)
    client = live.app.test_client()
    for _ in range(MAX_FAILURES):
        login(client, "vic", "wrong")
    assert login(client, "vic", PASSWORDS["vic"]).status_code == 429
    clock.advance(299)
    assert login(client, "vic", PASSWORDS["vic"]).status_code == 429
    clock.advance(2)
    assert login(client, "vic", PASSWORDS["vic"]).status_code == 200


def test_many_made_up_names_then_throttle_memory_stays_bounded() -> None:
    clock = FakeClock(start=0.0)
    throttle = LoginThrottle(clock=clock.monotonic)
    for i in range(THROTTLE_PRUNE_AT + 1):
        throttle.failure(f"user:made-up-{i}")
    clock.advance(FAILURE_WINDOW_S + 1)
    throttle.failure("user:one-more", "addr:10.0.0.1")
    assert throttle.tracked() == 2


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
    assert not safety(live)["kill_switch"]["engaged"] and not live.runtime.parts.safety.manual_pause
    assert client.get("/api/share-links").get_json()["links"] == []


def test_form_or_text_body_then_refused_even_from_same_origin(live: LiveApp) -> None:
    client = live.http("admin")
    same = {"Origin": "http://localhost"}
    form = client.post("/api/kill-switch", data={"level": "halt", "reason": "form"}, headers=same)
    text = client.post(
        "/api/control/pause_entries", data="{}", content_type="text/plain", headers=same
    )
    assert form.status_code == text.status_code == 415
    assert not safety(live)["kill_switch"]["engaged"] and not live.runtime.parts.safety.manual_pause


def test_script_without_origin_and_same_origin_page_then_allowed(live: LiveApp) -> None:
    client = live.http("admin")  # the test client sends neither Origin nor Referer
    assert client.post("/api/control/pause_entries", json={}).status_code == 200
    page = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/control/resume_entries", json={}, headers=page).status_code == 200
    assert client.post("/api/control/pause_entries").status_code == 200  # no body at all
