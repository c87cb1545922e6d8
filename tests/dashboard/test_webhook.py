"""POST /api/signals over real HTTP: signature, timestamp, replay, malformed bodies, the switch,
the rate limit, the counts; and two operators approving one signal at once."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dashboard.webhook import sign
from tests.conftest import make_settings, wait_until
from tests.dashboard.conftest import PASSWORDS, LiveApp
from tests.dashboard.realserver import RealServer

SECRET = "webhook-secret-for-tests-0123"
BODY = {"symbol": "QQQ", "side": "buy", "qty": 1, "confidence": 0.9, "strategy": "tv"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[LiveApp, RealServer]]:
    settings = make_settings(
        tmp_path / "var",
        VIGIL_WEBHOOK_SECRET=SECRET,
        VIGIL_SIGNAL_MODE="approve",
        VIGIL_STRATEGY="none",
        VIGIL_WEBHOOK_RATE_PER_MIN="40",
    )
    live = LiveApp(settings)
    live.push_market(1.0)
    with RealServer(live.app) as real:
        yield live, real
    live.close()


def post(
    real: RealServer,
    body: bytes | dict[str, Any],
    *,
    ts: int | None = None,
    secret: str = SECRET,
    signature: str | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(int(time.time()) if ts is None else ts)
    sent = {
        "Content-Type": "application/json",
        "X-Vigil-Timestamp": stamp,
        "X-Vigil-Signature": signature or sign(secret, stamp, raw),
    }
    sent.update(headers or {})
    return requests.post(f"{real.url}/api/signals", data=raw, headers=sent, timeout=10)


def pending(live: LiveApp) -> list[dict[str, Any]]:
    live.wait_idle()
    rows: list[dict[str, Any]] = live.runtime.state.get("signals")["pending"]
    return rows


def refused(answer: requests.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["ok"] is False and body["error"]["code"] == code and body["error"]["message"]


def test_signed_signal_then_202_with_id_and_pending(server: tuple[LiveApp, RealServer]) -> None:
    live, real = server

    answer = post(real, BODY)

    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["ok"] is True and body["id"] and body["status"] == "pending"
    [row] = pending(live)
    assert row["id"] == body["id"] and row["source"] == "webhook" and row["confidence"] == 0.9


def test_wrong_secret_missing_or_malformed_signature_then_401_and_nothing_queued(
    server: tuple[LiveApp, RealServer],
) -> None:
    live, real = server
    stamp = str(int(time.time()))

    refused(post(real, BODY, secret="another-secret-entirely"), 401, "BAD_SIGNATURE")
    refused(post(real, BODY, signature="sha256=nothex"), 401, "BAD_SIGNATURE")
    refused(
        post(real, BODY, signature=sign(SECRET, stamp, b"{}")[len("sha256=") :]),
        401,
        "BAD_SIGNATURE",
    )
    raw = json.dumps(BODY).encode()
    bare = requests.post(
        f"{real.url}/api/signals",
        data=raw,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    refused(bare, 401, "BAD_SIGNATURE")
    # The body changed after signing: the signature no longer covers it.
    tampered = requests.post(
        f"{real.url}/api/signals",
        data=raw.replace(b'"qty": 1', b'"qty": 9'),
        headers={
            "Content-Type": "application/json",
            "X-Vigil-Timestamp": stamp,
            "X-Vigil-Signature": sign(SECRET, stamp, raw),
        },
        timeout=10,
    )
    refused(tampered, 401, "BAD_SIGNATURE")
    assert pending(live) == []


def test_timestamp_more_than_60s_off_then_401_either_way(
    server: tuple[LiveApp, RealServer],
) -> None:
    live, real = server
    now = int(time.time())

    refused(post(real, BODY, ts=now - 90), 401, "STALE_TIMESTAMP")
    refused(post(real, BODY, ts=now + 90), 401, "STALE_TIMESTAMP")
    assert pending(live) == []
    assert post(real, BODY, ts=now - 30).status_code == 202


def test_same_request_twice_then_second_is_replay_401(server: tuple[LiveApp, RealServer]) -> None:
    live, real = server
    stamp = int(time.time())

    first = post(real, BODY, ts=stamp)
    again = post(real, BODY, ts=stamp)

    assert first.status_code == 202
    refused(again, 401, "REPLAY")
    assert len(pending(live)) == 1


def test_same_sender_id_with_a_new_signature_then_401_duplicate(
    server: tuple[LiveApp, RealServer],
) -> None:
    live, real = server
    body = {**BODY, "id": "tv-alert-7"}

    first = post(real, body, ts=int(time.time()) - 1)
    again = post(real, body, ts=int(time.time()))

    assert first.status_code == 202
    refused(again, 401, "DUPLICATE_SIGNAL")
    assert len(pending(live)) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"symbol": "QQQ"}',
        json.dumps({**BODY, "side": "hold"}).encode(),
        json.dumps({**BODY, "qty": -1}).encode(),
        json.dumps({**BODY, "qty": "1"}).encode(),
        json.dumps({**BODY, "confidence": 1.5}).encode(),
        json.dumps({**BODY, "extra": True}).encode(),
        json.dumps({**BODY, "reason": "a\nb"}).encode(),
        b'{"symbol": "QQQ", "side": "buy", "qty": NaN}',
        json.dumps({**BODY, "symbol": "NOPE"}).encode(),
    ],
)
def test_malformed_body_then_400_and_nothing_queued(
    server: tuple[LiveApp, RealServer], body: bytes
) -> None:
    live, real = server

    answer = post(real, body)

    assert answer.status_code == 400, answer.text
    assert answer.json()["ok"] is False and answer.json()["error"]["code"] in (
        "INVALID_PAYLOAD",
        "UNKNOWN_SYMBOL",
    )
    assert pending(live) == []


def test_refusals_then_counted_in_metrics(server: tuple[LiveApp, RealServer]) -> None:
    _live, real = server
    post(real, BODY)
    post(real, BODY, secret="another-secret-entirely")
    post(real, b"not json")
    session = requests.Session()
    session.post(
        f"{real.url}/api/login",
        json={"username": "admin", "password": PASSWORDS["admin"]},
        timeout=10,
    )

    text = session.get(f"{real.url}/metrics", timeout=10).text

    assert 'vigil_webhook_requests_total{outcome="accepted"} 1' in text
    assert 'vigil_webhook_requests_total{outcome="bad_signature"} 1' in text
    assert 'vigil_webhook_requests_total{outcome="malformed"} 1' in text


def test_over_the_rate_then_429(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "var", VIGIL_WEBHOOK_SECRET=SECRET, VIGIL_WEBHOOK_RATE_PER_MIN="3"
    )
    live = LiveApp(settings)
    try:
        with RealServer(live.app) as real:
            codes = [post(real, b"not json %d" % n).status_code for n in range(4)]
        assert codes == [400, 400, 400, 429]
    finally:
        live.close()


def test_without_a_secret_then_webhook_off(tmp_path: Path) -> None:
    live = LiveApp(make_settings(tmp_path / "var"))
    try:
        with RealServer(live.app) as real:
            answer = post(real, BODY, secret="x" * 16)
        refused(answer, 404, "WEBHOOK_OFF")
        assert live.runtime.state.get("signals")["pending"] == []
    finally:
        live.close()


def test_two_operators_approve_at_once_then_one_order(server: tuple[LiveApp, RealServer]) -> None:
    live, real = server
    signal_id = post(real, BODY).json()["id"]
    clients = []
    for user in ("admin", "tina"):
        session = requests.Session()
        session.post(
            f"{real.url}/api/login",
            json={"username": user, "password": PASSWORDS[user]},
            timeout=10,
        )
        clients.append(session)
    answers: list[dict[str, Any]] = []
    go = threading.Barrier(2)

    def approve(session: requests.Session) -> None:
        go.wait()
        answer = session.post(
            f"{real.url}/api/control/approve_signal", json={"id": signal_id}, timeout=10
        )
        answers.append(answer.json())

    threads = [threading.Thread(target=approve, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert sorted(a["ok"] for a in answers) == [False, True], answers
    [denied] = [a for a in answers if not a["ok"]]
    assert denied["error"]["code"] == "SIGNAL_HANDLED"
    live.wait_idle()
    placed = [o for o in live.runtime.parts.store.load_orders() if not o.parent_id]
    assert len(placed) == 1 and placed[0].source == "webhook"


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("openssl")), reason="curl/openssl")
def test_readme_curl_example_then_accepted(server: tuple[LiveApp, RealServer]) -> None:
    """The shell example for the README: openssl computes the signature, curl sends it."""
    live, real = server
    script = r"""
BODY='{"symbol":"QQQ","side":"buy","qty":1,"confidence":0.8,"strategy":"tv","id":"readme-1"}'
TS=$(date +%s)
SIG=$(printf '%s.%s' "$TS" "$BODY" \
  | openssl dgst -sha256 -hmac "$VIGIL_WEBHOOK_SECRET" | sed 's/^.* //')
curl -sS -X POST "$VIGIL_URL/api/signals" \
  -H 'Content-Type: application/json' \
  -H "X-Vigil-Timestamp: $TS" \
  -H "X-Vigil-Signature: sha256=$SIG" \
  --data-raw "$BODY"
"""
    env = {"VIGIL_WEBHOOK_SECRET": SECRET, "VIGIL_URL": real.url, "PATH": "/usr/bin:/bin"}

    out = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30
    )

    body = json.loads(out.stdout)
    assert body["ok"] is True and body["status"] == "pending", out
    assert wait_until(lambda: [r["id"] for r in pending(live)] == [body["id"]])
