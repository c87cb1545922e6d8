"""A loopback fake of Polygon's REST aggregates (/v2/aggs/...), as massive's RESTClient calls it.

JSON answers shaped like Polygon's, with `next_url` pagination carrying a cursor (the client
follows it with the path and query only), Bearer-key auth, the indices plan (I:... refused with
NOT_AUTHORIZED when the plan lacks it), and faults the test injects: the next N answers with a
status (4xx, 5xx, 429), or hung (accepted, never answered until the fake stops).
"""

from __future__ import annotations

import base64
import json
import math
import random
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

API_KEY = "test-polygon-key"
NOT_ENTITLED = (
    "You are not entitled to this data. Please upgrade your plan at https://polygon.io/pricing"
)


@dataclass
class _Fault:
    status: int  # 0: hang
    body: dict[str, Any]
    retry_after: str | None = None


def minute_bars(
    end_ts: float, count: int, start: float = 100.0, seed: int = 7, step: float = 0.001
) -> list[dict[str, Any]]:
    """`count` Polygon-shaped 1-minute aggregates ending before `end_ts` (a random walk)."""
    rng = random.Random(seed)
    first = int(end_ts // 60) * 60 - 60 * count
    bars, price = [], start
    for i in range(count):
        o = price
        c = round(o * math.exp(rng.gauss(0, step)), 2)
        h, lo = round(max(o, c) * 1.0005, 2), round(min(o, c) * 0.9995, 2)
        v = float(rng.randint(1_000, 50_000))
        bars.append({"t": (first + 60 * i) * 1000, "o": o, "h": h, "l": lo, "c": c, "v": v})
        price = c
    return bars


class FakePolygonRest:
    """The fake server; `url` is what VIGIL_POLYGON_REST_URL / RESTClient(base=...) take."""

    def __init__(self, *, api_key: str = API_KEY, indices: bool = True, page_size: int = 5000):
        self.api_key = api_key
        self.indices = indices
        self.page_size = page_size
        self.bars: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[str] = []
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> FakePolygonRest:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    # ----- what the test controls -----
    def fail_next(self, count: int, status: int, *, retry_after: str | None = None) -> None:
        """The next `count` requests get `status` with Polygon's error body."""
        body = {"status": "ERROR", "request_id": "fake", "error": f"fake fault {status}"}
        if status == 429:
            body["error"] = "You've exceeded the maximum requests per minute"
        with self._lock:
            self._faults.extend(_Fault(status, body, retry_after) for _ in range(count))

    def hang_next(self, count: int) -> None:
        """The next `count` requests are accepted and never answered (until `stop`)."""
        with self._lock:
            self._faults.extend(_Fault(0, {}) for _ in range(count))

    # ----- the server -----
    def _take_fault(self) -> _Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _answer(self, path: str, query: dict[str, list[str]], auth: str) -> tuple[int, Any]:
        if auth != f"Bearer {self.api_key}":
            return 401, {"status": "ERROR", "request_id": "fake", "error": "Unknown API Key"}
        parts = path.strip("/").split("/")
        # v2 aggs ticker {T} range {mult} {timespan} {from} {to}
        if len(parts) != 9 or parts[:3] != ["v2", "aggs", "ticker"] or parts[4] != "range":
            return 404, {"status": "NOT_FOUND", "request_id": "fake", "message": "not found"}
        ticker, mult, timespan = parts[3], int(parts[5]), parts[6]
        if ticker.startswith("I:") and not self.indices:
            return 403, {"status": "NOT_AUTHORIZED", "request_id": "fake", "message": NOT_ENTITLED}
        if (mult, timespan) != (1, "minute"):
            return 400, {"status": "ERROR", "request_id": "fake", "error": "fake: 1/minute only"}
        cursor = query.get("cursor", [""])[0]
        if cursor:
            state = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        else:
            state = {
                "from": _ms(parts[7], end=False),
                "to": _ms(parts[8], end=True),
                "sort": query.get("sort", ["asc"])[0],
                "limit": int(query.get("limit", ["5000"])[0]),
                "offset": 0,
            }
        rows = [b for b in self.bars.get(ticker, []) if state["from"] <= b["t"] <= state["to"]]
        rows.sort(key=lambda b: b["t"], reverse=state["sort"] == "desc")
        rows = rows[: state["limit"]]
        start = state["offset"]
        page = rows[start : start + self.page_size]
        body: dict[str, Any] = {
            "ticker": ticker,
            "queryCount": len(rows),
            "resultsCount": len(page),
            "adjusted": True,
            "results": page,
            "status": "OK",
            "request_id": "fake",
            "count": len(page),
        }
        if start + self.page_size < len(rows):
            nxt = {**state, "offset": start + self.page_size}
            token = base64.urlsafe_b64encode(json.dumps(nxt).encode()).decode()
            body["next_url"] = f"https://api.polygon.io/{'/'.join(parts)}?cursor={token}"
        if not page:
            del body["results"]  # as Polygon: no "results" key when nothing matched
        return 200, body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.requests.append(self.path)
                fault = fake._take_fault()
                if fault is not None and fault.status == 0:
                    fake._release.wait()
                    return
                if fault is not None:
                    self._send(fault.status, fault.body, fault.retry_after)
                    return
                parsed = urlparse(self.path)
                status, body = fake._answer(
                    parsed.path, parse_qs(parsed.query), self.headers.get("Authorization", "")
                )
                self._send(status, body)

            def _send(self, status: int, body: Any, retry_after: str | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _ms(value: str, *, end: bool) -> int:
    """A from/to path part: epoch milliseconds or YYYY-MM-DD (the whole day)."""
    if value.isdigit():
        return int(value)
    day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    return int((day + (86_400 if end else 0)) * 1000) - (1 if end else 0)
