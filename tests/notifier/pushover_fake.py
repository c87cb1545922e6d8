"""A loopback HTTP server that speaks Pushover's messages API, so tests never reach the internet.

It validates like Pushover (token, user, message and title limits, emergency retry/expire),
keeps a monthly quota that it reports in the X-Limit-App-* headers and answers 429 once it is
spent, and can be scripted to answer a given status or to hang without answering.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

TOKEN = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
USER = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
HANG = "hang"


@dataclass
class Reply:
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)


class PushoverFake:
    def __init__(
        self,
        *,
        token: str = TOKEN,
        user: str = USER,
        limit: int = 10_000,
        remaining: int = 9_000,
        reset: int = 1_769_904_000,
    ) -> None:
        self.token, self.user = token, user
        self.limit, self.remaining, self.reset = limit, remaining, reset
        self.requests: list[dict[str, str]] = []
        self.content_types: list[str] = []
        self.delivered: list[dict[str, str]] = []
        self._script: deque[Reply | str] = deque()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._counter = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/1/messages.json"

    def start(self) -> PushoverFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # let hanging handlers finish so their threads end
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> PushoverFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def push(self, *replies: Reply | str) -> None:
        """The next requests get these answers (or HANG), in order; then normal behaviour."""
        with self._lock:
            self._script.extend(replies)

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until `count` requests have arrived (answered or not)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._arrived.wait(left)
            return True

    def _answer(self, form: dict[str, str]) -> Reply | str:
        self._counter += 1
        request_id = f"req-{self._counter:04d}"
        if self._script:
            return self._script.popleft()
        errors = self._validate(form)
        if errors:
            return Reply(400, {"status": 0, "errors": errors, "request": request_id})
        if self.remaining <= 0:
            return Reply(
                429, {"status": 0, "errors": ["message limit reached"], "request": request_id}
            )
        self.remaining -= 1
        self.delivered.append(form)
        body: dict[str, Any] = {"status": 1, "request": request_id}
        if form.get("priority") == "2":
            body["receipt"] = f"rcpt-{self._counter:04d}"
        return Reply(200, body)

    def _validate(self, form: dict[str, str]) -> list[str]:
        errors = []
        if form.get("token") != self.token:
            errors.append("application token is invalid")
        if form.get("user") != self.user:
            errors.append("user identifier is not a valid user, group, or subscribed user key")
        message = form.get("message", "")
        if not message:
            errors.append("message cannot be blank")
        if len(message) > 1024:
            errors.append("message cannot be longer than 1024 characters")
        if len(form.get("title", "")) > 250:
            errors.append("title cannot be longer than 250 characters")
        priority = form.get("priority", "0")
        if priority not in {"-2", "-1", "0", "1", "2"}:
            errors.append("priority is invalid")
        if priority == "2":
            retry, expire = form.get("retry"), form.get("expire")
            if retry is None:
                errors.append("retry must be supplied with priority=2")
            elif int(retry) < 30:
                errors.append("retry is too small")
            if expire is None:
                errors.append("expire must be supplied with priority=2")
            elif int(expire) > 10_800:
                errors.append("expire is too large")
        return errors

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                with fake._arrived:
                    fake.requests.append(form)
                    fake.content_types.append(self.headers.get("Content-Type", ""))
                    fake._arrived.notify_all()
                    if self.path != "/1/messages.json":
                        reply: Reply | str = Reply(404, {"status": 0, "errors": ["not found"]})
                    else:
                        reply = fake._answer(form)
                    limits = {
                        "X-Limit-App-Limit": str(fake.limit),
                        "X-Limit-App-Remaining": str(max(fake.remaining, 0)),
                        "X-Limit-App-Reset": str(fake.reset),
                    }
                if reply == HANG:
                    fake._release.wait(30)
                    return
                assert isinstance(reply, Reply)
                payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                data = payload.encode()
                self.send_response(reply.status)
                kind = "text/html" if isinstance(reply.body, str) else "application/json"
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in {**limits, **reply.headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler


class HealthFake:
    """A loopback /healthz: answers `body` as JSON with `status_code`, or `broken` (a proxy's
    502 page, as when the app behind it died)."""

    def __init__(self, body: dict[str, Any] | None = None) -> None:
        self.body: dict[str, Any] = body or {"status": "OK", "heartbeat_ts": 0}
        self.status_code = 200
        self.broken = False
        self.hits = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.hits += 1
                if fake.broken or self.path != "/healthz":
                    data, code, kind = b"<html>502 Bad Gateway</html>", 502, "text/html"
                else:
                    data, code = json.dumps(fake.body).encode(), fake.status_code
                    kind = "application/json"
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/healthz"

    def __enter__(self) -> HealthFake:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
