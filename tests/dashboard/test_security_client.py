"""A hostile or broken client, in process: the event rate limit's rules, deeply nested payloads,
parallel password guessing, audited role refusals, what a share link may read, and the
scheme-aware Origin check (issue 9, section 5). The served-process side is in
test_security_limits.py.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import websocket

from dashboard import create_app
from dashboard.auth import MAX_FAILURES
from tests.conftest import ADMIN_PASSWORD, make_settings
from tests.dashboard.conftest import PASSWORDS, LiveApp
from tests.dashboard.realserver import RealServer, ack, closed_by_server

DEEP = "[" * 1000 + "]" * 1000  # 2 KB, past json's recursion limit
HALT = '["kill_switch",{"level":"pause","reason":"rate limit test"}]'


def answer_of(raw: str) -> dict[str, Any]:
    return json.loads(raw[raw.index("[") :])[0]


def audit_rows(live: LiveApp) -> list[dict[str, Any]]:
    return live.runtime.parts.store.audit_log(limit=1000)


# ----- per-connection event rate limit -----------------------------------------------------


def test_event_burst_then_rate_limited_trader_halt_passes_viewer_halt_does_not(
    live: LiveApp,
) -> None:
    from dashboard.event_guard import EVENT_BURST, PATIENCE

    guard = live.services.event_guard
    guard.clock = lambda: 1000.0  # frozen: no token comes back during the test
    with RealServer(live.app) as server:
        trader, _ = server.connect(server.login("tina"), server.url)
        viewer, _ = server.connect(server.login("vic"), server.url)
        for ws in (trader, viewer):
            # The Socket.IO connect took one token.
            answers = [answer_of(ack(ws, i, f'42{i}["request_state"]')) for i in range(1, 41)]
            assert [a["ok"] for a in answers[: int(EVENT_BURST) - 1]] == [True] * 39
            refused = answers[-1]
            assert refused["ok"] is False and refused["error"]["code"] == "RATE_LIMITED"
        halted = answer_of(ack(trader, 50, f"4250{HALT}"))
        assert halted["ok"] is True  # the halt is never rate-limited
        assert live.runtime.state.get("safety")["kill_switch"]["level"] == "pause"
        viewer_halt = answer_of(ack(viewer, 50, f"4250{HALT}"))
        assert viewer_halt["error"]["code"] == "RATE_LIMITED"  # a viewer's is no halt
        for i in range(int(PATIENCE) + 5):  # keeps flooding: dropped
            try:
                viewer.send(f'42{100 + i}["request_state"]')
            except (OSError, websocket.WebSocketException):
                break
        assert closed_by_server(viewer)
        assert guard.dropped == 1
        assert server.healthy()
        trader.close()


# ----- deeply nested payloads --------------------------------------------------------------


def test_deeply_nested_http_bodies_then_structured_error_no_traceback(
    live: LiveApp, caplog: pytest.LogCaptureFixture
) -> None:
    anonymous = live.app.test_client()
    caplog.set_level(logging.DEBUG)
    for body in (DEEP, '{"username": ' + DEEP + ', "password": "x"}'):
        answer = anonymous.post("/api/login", data=body, content_type="application/json")
        assert answer.status_code == 400
        assert answer.get_json()["error"]["code"] == "INVALID_PAYLOAD"
    admin = live.http("admin")
    for path in ("/api/kill-switch", "/api/control/place_order", "/api/share-links"):
        answer = admin.post(path, data=DEEP, content_type="application/json")
        assert answer.status_code == 400, (path, answer.get_json())
        assert answer.get_json()["error"]["code"] == "INVALID_PAYLOAD"
    assert "RecursionError" not in caplog.text and "Traceback" not in caplog.text
    assert live.runtime.state.get("safety")["trading_state"] == "ACTIVE"


def test_deeply_nested_socket_payloads_then_structured_error_no_traceback(
    live: LiveApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with RealServer(live.app) as server:
        ws, _ = server.connect(server.login("admin"), server.url)
        for i, frame in enumerate(
            (f'42{{i}}["kill_switch",{DEEP}]', f"42{{i}}{DEEP}", f'42{{i}}["request_state",{DEEP}]')
        ):
            answer = answer_of(ack(ws, i + 1, frame.replace("{i}", str(i + 1))))
            assert answer["error"]["code"] == "INVALID_PAYLOAD"
        assert answer_of(ack(ws, 9, '429["request_state"]'))["ok"] is True
        ws.close()
        # A connect packet carrying one gets a refusal, not a traceback.
        raw = server.handshake(server.login("admin"), server.url)
        raw.send(f"40{DEEP}")
        refusal = raw.recv()
        assert refusal.startswith("44") and "INVALID_PAYLOAD" in refusal
        raw.close()
    assert "RecursionError" not in caplog.text and "Traceback" not in caplog.text
    assert live.runtime.state.get("safety")["trading_state"] == "ACTIVE"


# ----- passwords: parallel guesses, the reset password, audited refusals ------------------


def test_parallel_wrong_passwords_then_at_most_the_limit_is_checked(live: LiveApp) -> None:
    answers: list[str] = []
    start = threading.Barrier(40)

    def guess(i: int) -> None:
        client = live.app.test_client()
        start.wait()
        reply = client.post("/api/login", json={"username": "admin", "password": f"guess-{i}"})
        answers.append(reply.get_json()["error"]["code"])

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 40
    assert answers.count("BAD_CREDENTIALS") <= MAX_FAILURES, answers
    assert set(answers) == {"BAD_CREDENTIALS", "LOCKED_OUT"}
    failed = [r for r in audit_rows(live) if r["action"] == "login_failed"]
    assert len(failed) <= MAX_FAILURES


def test_reset_password_guesses_then_locked_out_even_with_the_right_one(live: LiveApp) -> None:
    admin = live.http("admin")
    engaged = admin.post("/api/kill-switch", json={"level": "halt", "reason": "for the reset"})
    assert engaged.status_code == 200
    body = {"reason": "guessing", "confirm": "RESET"}
    codes = [
        admin.post("/api/kill-switch/reset", json={**body, "password": f"no-{i}"}).get_json()
        for i in range(MAX_FAILURES)
    ]
    assert [c["error"]["code"] for c in codes] == ["WRONG_PASSWORD"] * MAX_FAILURES
    locked = admin.post("/api/kill-switch/reset", json={**body, "password": ADMIN_PASSWORD})
    assert locked.status_code == 429 and locked.get_json()["error"]["code"] == "LOCKED_OUT"
    assert live.runtime.state.get("safety")["kill_switch"]["engaged"] is True
    denied = [r for r in audit_rows(live) if r["action"] == "reset_kill_switch_denied"]
    assert [r["outcome"] for r in denied].count("LOCKED_OUT") == 1
    live.http("admin")  # its own budget: logging in still works


def test_http_role_refusals_then_audited_like_socket_ones(live: LiveApp) -> None:
    viewer = live.http("vic")
    trader = live.http("tina")
    halt = {"level": "halt", "reason": "no"}
    assert viewer.post("/api/kill-switch", json=halt).status_code == 403
    assert viewer.post("/api/control/place_order", json={}).status_code == 403
    reset = {"reason": "no", "confirm": "RESET", "password": PASSWORDS["tina"]}
    assert trader.post("/api/kill-switch/reset", json=reset).status_code == 403
    assert trader.post("/api/share-links", json={"ttl_hours": 2}).status_code == 403
    rows = [
        (r["actor"], r["action"], r["outcome"])
        for r in audit_rows(live)
        if r["action"].endswith("_denied")
    ]
    assert ("vic", "kill_switch_denied", "FORBIDDEN") in rows
    assert ("vic", "place_order_denied", "FORBIDDEN") in rows
    assert ("tina", "reset_kill_switch_denied", "FORBIDDEN") in rows
    assert ("tina", "create_link_denied", "FORBIDDEN") in rows


# ----- share links ---------------------------------------------------------------------------


def test_share_link_then_dashboard_but_no_audit_log(live: LiveApp) -> None:
    live.app.test_client().post("/api/login", json={"username": "mallory", "password": "x"})
    made = live.http("admin").post("/api/share-links", json={"ttl_hours": 2}).get_json()
    viewer = live.app.test_client()
    assert viewer.get(urlsplit(made["url"]).path).status_code == 302
    state = viewer.get("/api/state")
    assert state.status_code == 200 and state.get_json()["account"]
    refused = viewer.get("/api/audit")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "FORBIDDEN"
    text = state.get_data(as_text=True)
    assert "mallory" not in text and "login_failed" not in text
    # A viewer with an account of its own still reads it.
    assert live.http("vic").get("/api/audit").status_code == 200


# ----- origins: scheme, host and port -------------------------------------------------------


def test_http_origin_with_other_scheme_or_port_then_refused(live: LiveApp) -> None:
    admin = live.http("admin")
    body = {"level": "pause", "reason": "origin test"}

    def status(origin: str) -> int:
        return admin.post("/api/kill-switch", json=body, headers={"Origin": origin}).status_code

    assert status("https://localhost") == 403
    assert status("http://localhost:8080") == 403
    assert status("http://localhost") == 200
    assert status("http://localhost:80") == 200


def test_secure_cookies_then_only_https_origin_is_the_pages(live: LiveApp, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var", VIGIL_SECURE_COOKIES="1")
    app = create_app(settings, live.runtime, users=live.users)
    client = app.test_client()
    # The Secure cookie is not sent over the test client's http, so refusals are all we see.
    for origin, code in (("http://localhost", 403), ("https://localhost", 401)):
        answer = client.post("/api/kill-switch", json={}, headers={"Origin": origin})
        assert answer.status_code == code, origin


def test_socket_handshake_with_other_scheme_then_refused(live: LiveApp, tmp_path: Path) -> None:
    with RealServer(live.app) as server:
        cookie = server.login("admin")
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            server.handshake(cookie, f"https://127.0.0.1:{server.port}")
        assert refused.value.status_code == 400
        server.handshake(cookie, server.url).close()
    settings = make_settings(tmp_path / "proxied", VIGIL_TRUST_PROXY="1")
    app = create_app(settings, live.runtime, users=live.users)
    with RealServer(app) as server:
        cookie = server.login("admin")
        https = {"X_Forwarded_Proto": "https"}
        server.handshake(cookie, f"https://127.0.0.1:{server.port}", **https).close()
        with pytest.raises(websocket.WebSocketBadStatusException):
            server.handshake(cookie, server.url, **https)
