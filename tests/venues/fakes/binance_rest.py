"""A loopback fake of Binance's REST API (spot /api/v3 and USDT-M futures /fapi), real paths.

ccxt itself talks to it (VIGIL_CCXT_API_URL replaces the scheme and host of its URLs): every
private call must carry the API key header and a valid HMAC-SHA256 signature. A test injects
faults: the next N answers an HTTP error with Binance's code (418/429, 5xx -1001, 401 -2015),
a hang (accepted, never answered), an order refused, an order that cannot be cancelled.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.venues.fakes.binance_book import FakeExchange, Refusal
from tests.venues.fakes.binance_json import PRIVATE, ROUTES

API_KEY, SECRET = "test-key", "test-secret"
Answer = tuple[int, Any]


class Fault:
    def __init__(self, kind: str, path: str, status: int = 0, code: int = 0, msg: str = "") -> None:
        self.kind, self.path, self.status, self.code, self.msg = kind, path, status, code, msg


class FakeBinance:
    """The server: start() on an ephemeral port; `url` is what VIGIL_CCXT_API_URL takes."""

    def __init__(self, exchange: FakeExchange | None = None) -> None:
        self.ex = exchange or FakeExchange()
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self._release = threading.Event()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeBinance:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    # ----- faults -----
    def fail_next(self, n: int, status: int, code: int, msg: str, path: str = "") -> None:
        with self._lock:
            self.faults += [Fault("error", path, status, code, msg) for _ in range(n)]

    def hang_next(self, n: int = 1, path: str = "") -> None:
        with self._lock:
            self.faults += [Fault("hang", path) for _ in range(n)]

    def lose_next_answer(self, path: str) -> None:
        """Do the next request to `path`, then never answer it (the client times out)."""
        with self._lock:
            self.faults.append(Fault("lost", path))

    def calls(self, path: str) -> int:
        with self._lock:
            return sum(1 for _, p in self.requests if p == path)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self.faults):
                if not fault.path or fault.path == path:
                    return self.faults.pop(i)
        return None

    # ----- HTTP -----
    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(req.path)
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length).decode() if length else ""
        signed = parts.query if method != "POST" or not body else body
        params = dict(parse_qsl(parts.query)) | dict(parse_qsl(body))
        with self._lock:
            self.requests.append((method, parts.path))
        fault = self._take_fault(parts.path)
        if fault is not None and fault.kind == "hang":
            self._release.wait(30)
            return
        if fault is not None and fault.kind == "error":
            status, answer = fault.status, {"code": fault.code, "msg": fault.msg}
        else:
            status, answer = self._route(method, parts.path, params, signed, req)
        if fault is not None and fault.kind == "lost":  # done, but the answer never leaves
            self._release.wait(30)
            return
        data = json.dumps(answer).encode()
        try:
            req.send_response(status)
            req.send_header("Content-Type", "application/json")
            req.send_header("Content-Length", str(len(data)))
            req.end_headers()
            req.wfile.write(data)
        except OSError:
            pass  # the client gave up (its timeout); nothing to tell it

    def _route(
        self, method: str, path: str, p: dict[str, str], signed: str, req: BaseHTTPRequestHandler
    ) -> Answer:
        handler = ROUTES.get((method, path))
        if handler is None:
            return 404, {"code": -1, "msg": f"no route {method} {path}"}
        private = "signature" in p
        if private or handler.__name__ in PRIVATE:
            problem = _auth_problem(req.headers.get("X-MBX-APIKEY", ""), signed, p, self.ex)
            if problem is not None:
                return problem
        try:
            with self.ex.lock:
                return 200, handler(self.ex, p, path.startswith("/fapi"))
        except Refusal as refusal:
            return refusal.status, {"code": refusal.code, "msg": refusal.msg}


def _auth_problem(key: str, signed: str, p: dict[str, str], ex: FakeExchange) -> Answer | None:
    if key != API_KEY:
        return 401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
    query, _, signature = signed.rpartition("&signature=")
    expected = hmac.new(SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature, expected):
        return 400, {"code": -1022, "msg": "Signature for this request is not valid."}
    # Binance: a timestamp more than 1 s ahead of its clock, or older than recvWindow.
    lag = ex.now_ms() - int(p.get("timestamp") or 0)
    if lag < -1000 or lag > int(p.get("recvWindow") or 5000):
        return 400, {
            "code": -1021,
            "msg": "Timestamp for this request is outside of the recvWindow.",
        }
    return None
