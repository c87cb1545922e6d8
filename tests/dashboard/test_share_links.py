"""Read-only share links: created by admins, open a viewer session, expire, and revoke at once."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer

from dashboard.cli import register as register_cli
from dashboard.share_links import SALT, ShareLinks
from engine.clock import FakeClock
from tests.dashboard.conftest import LiveApp, received


def create_link(live: LiveApp, ttl_hours: float = 2, note: str = "for bob") -> dict[str, Any]:
    answer = live.http("admin").post(
        "/api/share-links", json={"ttl_hours": ttl_hours, "note": note}
    )
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def open_link(live: LiveApp, url: str, **headers: str) -> tuple[FlaskClient, Any]:
    client = live.app.test_client()
    answer = client.get(urlsplit(url).path, headers=headers)
    return client, answer


def share_socket(live: LiveApp, client: FlaskClient) -> Any:
    return live.socketio.test_client(live.app, flask_test_client=client)


def test_admin_creates_link_then_it_opens_a_viewer_session(live: LiveApp) -> None:
    before = time.time()
    created = create_link(live, ttl_hours=2)
    assert created["ok"] is True
    assert set(created) == {"ok", "id", "url", "expires_ts"}
    assert created["url"].startswith("http://localhost/share/")
    assert before + 7200 <= created["expires_ts"] / 1000 <= time.time() + 7200

    client, answer = open_link(live, created["url"])
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    state = client.get("/api/state")
    assert state.status_code == 200
    assert state.get_json()["user"] == {"username": f"share:{created['id']}", "role": "viewer"}
    assert client.get("/").status_code == 200  # the page itself, not the login redirect

    socket = share_socket(live, client)
    assert socket.is_connected()
    assert received(socket, "initial_state")[0]["user"]["role"] == "viewer"
    actions = [e["action"] for e in live.runtime.parts.store.audit_log()]
    assert "share_link_created" in actions and "share_link_opened" in actions


def test_share_viewer_then_cannot_trade_engage_or_make_links(live: LiveApp) -> None:
    client, _ = open_link(live, create_link(live)["url"])
    socket = share_socket(live, client)
    for name, payload in [
        ("kill_switch", {"level": "halt", "reason": "from a share link"}),
        ("place_order", {"symbol": "SPY", "side": "buy", "qty": 1}),
        ("pause_entries", {}),
    ]:
        assert socket.emit(name, payload, callback=True)["error"]["code"] == "FORBIDDEN"
    refused = client.post("/api/kill-switch", json={"level": "halt", "reason": "nope nope"})
    assert refused.status_code == 403
    assert client.post("/api/share-links", json={"ttl_hours": 1}).status_code == 403
    assert client.get("/api/share-links").status_code == 403
    assert live.runtime.state.get("safety")["kill_switch"]["engaged"] is False
    assert live.runtime.parts.broker.open_orders() == []


def test_non_admins_then_cannot_create_list_or_revoke(live: LiveApp) -> None:
    link_id = create_link(live)["id"]
    for user, status in (("tina", 403), ("vic", 403), (None, 401)):
        client = live.http(user)
        assert client.post("/api/share-links", json={"ttl_hours": 1}).status_code == status
        assert client.get("/api/share-links").status_code == status
        assert client.delete(f"/api/share-links/{link_id}").status_code == status
    links = live.http("admin").get("/api/share-links").get_json()["links"]
    assert [(link["id"], link["active"]) for link in links] == [(link_id, True)]


def test_revoke_then_next_request_refused_and_open_socket_closed(live: LiveApp) -> None:
    created = create_link(live)
    client, _ = open_link(live, created["url"])
    socket = share_socket(live, client)
    assert socket.is_connected()

    answer = live.http("admin").delete(f"/api/share-links/{created['id']}")
    assert answer.status_code == 200
    assert answer.get_json()["ok"] is True and answer.get_json()["id"] == created["id"]
    assert client.get("/api/state").status_code == 401
    assert client.get("/").status_code == 302  # back to the login page
    assert not socket.is_connected()
    _, again = open_link(live, created["url"])
    assert again.status_code == 403
    assert again.get_json()["error"]["code"] == "LINK_INVALID"
    _, page = open_link(live, created["url"], Accept="text/html,*/*")
    assert page.status_code == 403 and page.mimetype == "text/html"
    assert "<script" not in page.get_data(as_text=True)
    actions = [e["action"] for e in live.runtime.parts.store.audit_log()]
    assert "share_link_revoked" in actions and "share_link_refused" in actions


def test_revoked_elsewhere_then_next_socket_command_refused(live: LiveApp) -> None:
    """A revocation from the CLI (another process) reaches a socket that is still open."""
    created = create_link(live)
    client, _ = open_link(live, created["url"])
    socket = share_socket(live, client)
    assert socket.emit("request_state", {}, callback=True)["ok"] is True
    ShareLinks(live.runtime.settings.store.db_path, live.app.secret_key).revoke(
        created["id"], "cli"
    )
    answer = socket.emit("request_state", {}, callback=True)
    assert answer == {"ok": False, "error": {"code": "UNAUTHENTICATED", "message": "log in first"}}


def test_link_past_its_expiry_then_refused(live: LiveApp) -> None:
    clock = FakeClock(start=time.time())
    db, secret = live.runtime.settings.store.db_path, live.app.secret_key
    live.services.share_links = ShareLinks(db, secret, clock=clock)
    created = create_link(live, ttl_hours=1)
    client, answer = open_link(live, created["url"])
    assert answer.status_code == 302
    clock.advance(3599)
    assert client.get("/api/state").status_code == 200
    clock.advance(2)
    assert client.get("/api/state").status_code == 401
    assert open_link(live, created["url"])[1].status_code == 403
    links = live.http("admin").get("/api/share-links").get_json()["links"]
    assert links[0]["active"] is False and links[0]["revoked_ts"] is None


def test_forged_or_foreign_tokens_then_refused(live: LiveApp) -> None:
    created = create_link(live)
    token = urlsplit(created["url"]).path.rsplit("/", 1)[1]
    other_key = URLSafeSerializer("not-this-servers-key", salt=SALT).dumps({"id": created["id"]})
    for bad in (
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        other_key,
        "nonsense",
        "x" * 5000,
        URLSafeSerializer(live.app.secret_key, salt=SALT).dumps({"id": "no-such-link"}),
        URLSafeSerializer(live.app.secret_key, salt="another-purpose").dumps({"id": created["id"]}),
    ):
        client = live.app.test_client()
        assert client.get(f"/share/{bad}").status_code == 403, bad
        assert client.get("/api/state").status_code == 401


def test_invalid_create_payloads_then_structured_errors_and_no_link(live: LiveApp) -> None:
    admin = live.http("admin")
    bad: list[Any] = [
        {"ttl_hours": 0},
        {"ttl_hours": 169},
        {"ttl_hours": -5},
        {"ttl_hours": "24"},
        {"ttl_hours": True},
        {"ttl_hours": None},
        {},
        {"ttl_hours": 24, "role": "admin"},
        {"ttl_hours": 24, "note": "x" * 201},
        {"ttl_hours": 24, "note": "bell\x07"},
        ["ttl_hours", 24],
        "24",
    ]
    for body in bad:
        answer = admin.post("/api/share-links", json=body)
        assert answer.status_code == 400, body
        error = answer.get_json()
        assert error["ok"] is False and set(error["error"]) == {"code", "message"}
    nan = admin.post("/api/share-links", data='{"ttl_hours": NaN}', content_type="application/json")
    assert nan.status_code == 400
    assert admin.get("/api/share-links").get_json()["links"] == []


def test_list_then_no_tokens_and_revocation_recorded(live: LiveApp) -> None:
    first, second = create_link(live, note="first"), create_link(live, note="second")
    admin = live.http("admin")
    assert admin.delete(f"/api/share-links/{first['id']}").status_code == 200
    again = admin.delete(f"/api/share-links/{first['id']}")
    assert again.status_code == 200  # revoking twice is harmless
    links = {link["id"]: link for link in admin.get("/api/share-links").get_json()["links"]}
    assert links[first["id"]]["active"] is False and links[first["id"]]["revoked_by"] == "admin"
    assert links[second["id"]]["active"] is True and links[second["id"]]["note"] == "second"
    token = urlsplit(second["url"]).path.rsplit("/", 1)[1]
    assert token not in admin.get("/api/share-links").get_data(as_text=True)
    assert admin.delete("/api/share-links/no-such-link").status_code == 404
    assert admin.delete("/api/share-links/" + "x" * 100).status_code == 404


def test_logged_in_user_opens_link_then_keeps_own_session(live: LiveApp) -> None:
    created = create_link(live)
    trader = live.http("tina")
    answer = trader.get(urlsplit(created["url"]).path)
    assert answer.status_code == 302
    assert trader.get("/api/state").get_json()["user"] == {"username": "tina", "role": "trader"}


def test_cross_site_click_then_page_refreshes_itself_with_session_set(live: LiveApp) -> None:
    """After a cross-site navigation a SameSite=Strict cookie is not sent with a redirect."""
    created = create_link(live)
    client, answer = open_link(live, created["url"], **{"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    body = answer.get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="0;url=/">' in body and "<script" not in body
    assert client.get("/api/state").get_json()["user"]["role"] == "viewer"


def test_cli_creates_link_then_server_accepts_and_cli_revokes(live: LiveApp) -> None:
    register_cli(live.app)
    runner = live.app.test_cli_runner()
    made = runner.invoke(args=["share", "create", "--ttl-hours", "3", "--by", "ops", "--note", "x"])
    assert made.exit_code == 0, made.output
    url = made.stdout.strip().splitlines()[0]
    assert "/share/" in url
    client, answer = open_link(live, url)
    assert answer.status_code == 302 and client.get("/api/state").status_code == 200
    listed = runner.invoke(args=["share", "list"])
    link_id, state = listed.stdout.split("\t")[:2]
    assert state == "active"
    assert runner.invoke(args=["share", "revoke", link_id]).exit_code == 0
    assert client.get("/api/state").status_code == 401
    assert runner.invoke(args=["share", "revoke", "nope"]).exit_code == 1
    assert runner.invoke(args=["share", "create", "--ttl-hours", "500"]).exit_code == 2


@pytest.mark.parametrize("ttl", [0, 169, 0.5])
def test_store_refuses_ttl_out_of_range(tmp_path: Path, ttl: float) -> None:
    links = ShareLinks(tmp_path / "links.sqlite3", "key")
    with pytest.raises(ValueError):
        links.create("admin", ttl)
    assert links.list() == []


def test_token_then_valid_after_restart_and_invalid_after_key_rotation(tmp_path: Path) -> None:
    db = tmp_path / "links.sqlite3"
    links = ShareLinks(db, "the-secret-key")
    _link, token = links.create("admin", 1)
    assert ShareLinks(db, "the-secret-key").verify(token) is not None
    assert ShareLinks(db, "a-rotated-secret-key").verify(token) is None
    assert links.verify(None) is None and links.verify(12) is None


@pytest.mark.browser
def test_link_clicked_on_another_site_then_chromium_lands_on_the_page(live: LiveApp) -> None:
    """The SameSite=Strict cookie reaches `/` after a cross-site click (see `_go_home`)."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS, chromium_path
    from tests.dashboard.realserver import RealServer

    path = chromium_path()
    token_path = urlsplit(create_link(live)["url"]).path
    with (
        RealServer(live.app) as server,
        _LinkPage(f"{server.url}{token_path}") as elsewhere,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            # bypass_csp only so the test may evaluate `location.href` in the page
            page = browser.new_context(bypass_csp=True).new_page()
            page.goto(elsewhere.url)  # localhost: another site than 127.0.0.1
            page.click("#go")
            page.wait_for_function("location.pathname === '/'", timeout=10_000)
            page.wait_for_load_state()
            assert page.evaluate("location.href") == f"{server.url}/"  # not /login
        finally:
            browser.close()


class _LinkPage:
    """A page on another site (http://localhost:<port>) holding a link to the share URL."""

    def __init__(self, target: str) -> None:
        body = f'<!doctype html><a id="go" href="{target}">open</a>'.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://localhost:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> _LinkPage:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
