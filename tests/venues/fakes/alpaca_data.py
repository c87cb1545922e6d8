"""A loopback fake of Alpaca's market-data REST API: historical stock and crypto bars.

Speaks what alpaca-py's StockHistoricalDataClient and CryptoHistoricalDataClient send
(`url_override` pointed at `FakeAlpacaData.url`): GET /v2/stocks/bars and
/v1beta3/crypto/us/bars with `symbols`, `timeframe`, `start`, `end`, `limit`, `sort`,
`feed` and `page_token`, key headers checked, answers paged with `next_page_token`.
Faults for the next requests: an HTTP status (4xx, 5xx, 429) or a hang (the request is read
and never answered until the fake stops). The market-data websocket is in alpaca_data_stream.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

STOCK_BARS = "/v2/stocks/bars"
CRYPTO_BARS = "/v1beta3/crypto/us/bars"
API_KEY, SECRET_KEY = "fake-key-id", "fake-secret"


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class FakeBar:
    ts: float  # the minute's open, epoch seconds
    open: float
    high: float
    low: float
    close: float
    volume: float

    def wire(self) -> dict[str, Any]:
        return {
            "t": rfc3339(self.ts),
            "o": self.open,
            "h": self.high,
            "l": self.low,
            "c": self.close,
            "v": self.volume,
            "n": 10,
            "vw": round((self.high + self.low + self.close) / 3, 4),
        }


@dataclass
class Fault:
    status: int = 0  # 0: hang instead
    body: dict[str, Any] = field(default_factory=dict)


class FakeAlpacaData:
    """The REST half of Alpaca market data on 127.0.0.1, in a thread. Use as a context manager."""

    def __init__(self, api_key: str = API_KEY, secret_key: str = SECRET_KEY) -> None:
        self.api_key, self.secret_key = api_key, secret_key
        self.bars: dict[str, list[FakeBar]] = {}
        self.page_size = 10_000  # Alpaca's own maximum; a test lowers it to see paging
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeAlpacaData:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()  # frees hung requests
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeAlpacaData:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- what the test sets up -----
    def add_minutes(
        self, symbol: str, start: float, closes: list[float], volume: float = 100.0
    ) -> list[FakeBar]:
        """One-minute bars from `start` (a minute's open), one per close, oldest first."""
        made = []
        previous = closes[0]
        for i, close in enumerate(closes):
            high, low = max(previous, close) + 0.05, min(previous, close) - 0.05
            made.append(FakeBar(start + 60 * i, previous, high, low, close, volume))
            previous = close
        with self._lock:
            bars = self.bars.setdefault(symbol, [])
            bars.extend(made)
            bars.sort(key=lambda bar: bar.ts)
        return made

    def fail_next(self, count: int, status: int, message: str = "") -> None:
        """The next `count` bar requests answer `status` with Alpaca's error body."""
        body = {"code": status * 100_000, "message": message or f"fake error {status}"}
        with self._lock:
            self._faults.extend(Fault(status, body) for _ in range(count))

    def hang_next(self, count: int = 1) -> None:
        """The next `count` bar requests are read and never answered (until `stop`)."""
        with self._lock:
            self._faults.extend(Fault() for _ in range(count))

    # ----- the server -----
    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def answer(self, path: str, params: dict[str, str], headers: Any) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append((path, dict(params)))
        if path not in (STOCK_BARS, CRYPTO_BARS):
            return 404, {"message": "Not Found"}
        if (
            headers.get("APCA-API-KEY-ID") != self.api_key
            or headers.get("APCA-API-SECRET-KEY") != self.secret_key
        ):
            return 401, {"code": 40110000, "message": "request is not authorized"}
        fault = self._next_fault()
        if fault is not None:
            if not fault.status:
                self._released.wait()
                return 503, {"message": "the fake stopped"}
            return fault.status, fault.body
        if params.get("timeframe") != "1Min":
            return 422, {"code": 42210000, "message": "this fake serves 1Min bars only"}
        try:
            return 200, self._bars_page(params)
        except (KeyError, ValueError) as exc:
            return 400, {"code": 40010001, "message": f"invalid request: {exc}"}

    def _bars_page(self, params: dict[str, str]) -> dict[str, Any]:
        symbols = params["symbols"].split(",")
        start = parse_rfc3339(params["start"]) if "start" in params else 0.0
        end = parse_rfc3339(params["end"]) if "end" in params else float("inf")
        descending = params.get("sort", "asc") == "desc"
        limit = min(int(params.get("limit") or 1000), self.page_size)
        offset = int(params.get("page_token") or 0)
        rows: list[tuple[str, FakeBar]] = []
        with self._lock:
            for symbol in sorted(symbols):
                bars = [b for b in self.bars.get(symbol, []) if start <= b.ts <= end]
                if descending:
                    bars.reverse()
                rows.extend((symbol, bar) for bar in bars)
        page = rows[offset : offset + limit]
        grouped: dict[str, list[dict[str, Any]]] = {}
        for symbol, bar in page:
            grouped.setdefault(symbol, []).append(bar.wire())
        more = offset + limit < len(rows)
        return {"bars": grouped, "next_page_token": str(offset + limit) if more else None}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                status, body = fake.answer(url.path, params, self.headers)
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (a timeout) before the answer

            def log_message(self, *args: object) -> None:
                pass

        return Handler
