"""A loopback fake of Alpaca's trading API (REST JSON) and its trade_updates websocket.

alpaca-py's TradingClient(url_override=fake.url) and TradingStream(url_override=
fake.stream_url) talk to it unchanged. The test drives the market (`set_price`), the fills
(`partial_fills`, `fill`) and faults: the next answers 4xx/5xx/429 (`fail_next`), a hang
(`hang_next`: accepted, never answered), a dropped stream (`drop_stream`), an order the
venue will not cancel (`refuse_cancel`).
"""

from __future__ import annotations

import json
import threading
from contextlib import suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from tests.venues.fakes.alpaca_trading_book import AlpacaBook
from tests.venues.fakes.alpaca_trading_orders import ApiError, FakeOrder, FakePosition, now_iso
from tests.venues.fakes.alpaca_trading_routes import route

KEY, SECRET = "fake-key-id", "fake-secret-key"


@dataclass
class Fault:
    status: int  # 0: hang
    message: str
    method: str | None
    path: str | None


class FakeAlpacaTrading:
    """Start with `start()` (or as a context manager); `url`, `stream_url` point the SDK here."""

    def __init__(self, account_number: str = "PA3FAKE0001") -> None:
        self.lock = threading.RLock()
        self.book = AlpacaBook(self._publish, account_number)
        self.requests: list[tuple[str, str]] = []
        self._faults: list[Fault] = []
        self._release = threading.Event()  # ends every hang (on close)
        self._streams: list[ServerConnection] = []
        self._sent: dict[int, int] = {}  # messages sent, per connection
        self.stream_connects = 0
        self.stream_blocked = False  # new stream connections are closed at once
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._http.daemon_threads = True
        self._ws = serve(self._stream, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self.stream_url = f"ws://127.0.0.1:{self._ws.socket.getsockname()[1]}/stream"
        self._threads: list[threading.Thread] = []

    # ----- lifecycle -----
    def start(self) -> FakeAlpacaTrading:
        for target in (self._http.serve_forever, self._ws.serve_forever):
            thread = threading.Thread(target=target, name="fake-alpaca", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        self._release.set()
        self.drop_stream()
        self._http.shutdown()
        self._http.server_close()
        self._ws.shutdown()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> FakeAlpacaTrading:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- what a test does -----
    def set_price(self, symbol: str, bid: float, ask: float) -> None:
        with self.lock:
            self.book.set_price(symbol, bid, ask)

    def partial_fills(self, max_qty: float) -> None:
        """From now on one match fills at most `max_qty` (0: in full)."""
        with self.lock:
            self.book.max_fill_qty = max_qty

    def fill(self, client_order_id: str, qty: float, price: float) -> None:
        """Fill `qty` of an open order at `price` now, whatever the market."""
        with self.lock:
            order = self.book.find(client_order_id)
            assert order is not None and order.is_open, client_order_id
            self.book.fill(order, qty, price)

    def refuse_cancel(self, client_order_id: str) -> None:
        with self.lock:
            self.book.uncancelable.add(client_order_id)

    def reject_next(self, reason: str) -> None:
        with self.lock:
            self.book.reject_reason = reason

    def set_market_open(self, is_open: bool) -> None:
        with self.lock:
            self.book.market_open = is_open

    def fail_next(
        self,
        status: int,
        n: int = 1,
        *,
        message: str = "",
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next `n` requests (of `method` to paths starting with `path`) get `status`."""
        text = message or {429: "too many requests.", 500: "internal server error"}.get(
            status, f"error {status}"
        )
        with self.lock:
            self._faults.extend(Fault(status, text, method, path) for _ in range(n))

    def hang_next(self, n: int = 1, *, method: str | None = None, path: str | None = None) -> None:
        """The next `n` matching requests are read and never answered (until close)."""
        with self.lock:
            self._faults.extend(Fault(0, "", method, path) for _ in range(n))

    def block_stream(self, blocked: bool = True) -> None:
        """While blocked, the stream drops and refuses every connection (a network outage)."""
        self.stream_blocked = blocked
        if blocked:
            self.drop_stream()

    def drop_stream(self) -> None:
        """Close every trade_updates connection, as a network drop would."""
        with self.lock:
            streams, self._streams = self._streams, []
        for connection in streams:
            connection.close()

    def sent_to_clients(self) -> int:
        """trade_updates messages sent to the clients connected now."""
        with self.lock:
            return sum(self._sent.get(id(c), 0) for c in self._streams)

    def stream_clients(self) -> int:
        with self.lock:
            return len(self._streams)

    def add_position(self, symbol: str, qty: float, avg_price: float) -> None:
        """A position opened outside Vigil (another app, the broker's own page)."""
        with self.lock:
            self.book.positions[symbol] = FakePosition(symbol, qty, avg_price)

    def order(self, client_order_id: str) -> FakeOrder | None:
        with self.lock:
            return self.book.find(client_order_id)

    def open_orders(self) -> list[FakeOrder]:
        with self.lock:
            return [o for o in self.book.orders.values() if o.is_open]

    def position_qty(self, symbol: str) -> float:
        with self.lock:
            position = self.book.positions.get(symbol)
            return position.qty if position is not None else 0.0

    def count(self, method: str, path: str) -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and p.startswith(path))

    # ----- the trade_updates stream -----
    def _publish(self, event: str, order: FakeOrder, extra: dict[str, Any]) -> None:
        message = json.dumps(
            {
                "stream": "trade_updates",
                "data": {"event": event, "timestamp": now_iso(), "order": order.json(), **extra},
            }
        )
        for connection in list(self._streams):
            with suppress(ConnectionClosed):
                connection.send(message)
                self._sent[id(connection)] = self._sent.get(id(connection), 0) + 1

    def _stream(self, connection: ServerConnection) -> None:
        if self.stream_blocked:
            connection.close()
            return
        try:
            auth = json.loads(connection.recv(timeout=10))
            data = auth.get("data") or {}
            ok = (
                auth.get("action") in ("authenticate", "auth")
                and data.get("key_id") == KEY
                and data.get("secret_key") == SECRET
            )
            status = "authorized" if ok else "unauthorized"
            connection.send(
                json.dumps(
                    {
                        "stream": "authorization",
                        "data": {"action": "authenticate", "status": status},
                    }
                )
            )
            if not ok:
                return
            listen = json.loads(connection.recv(timeout=10))
            streams = (listen.get("data") or {}).get("streams") or []
            with self.lock:
                connection.send(json.dumps({"stream": "listening", "data": {"streams": streams}}))
                if "trade_updates" in streams:
                    self._streams.append(connection)
                    self.stream_connects += 1
            for _ in connection:  # the client says nothing more; wait for the close
                pass
        except (ConnectionClosed, TimeoutError, ValueError):
            pass
        finally:
            with self.lock:
                if connection in self._streams:
                    self._streams.remove(connection)
                self._sent.pop(id(connection), None)

    # ----- REST -----
    def _fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if (fault.method in (None, method)) and (
                    fault.path is None or path.startswith(fault.path)
                ):
                    self._faults.remove(fault)
                    return fault
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                method = self.command
                with fake.lock:
                    fake.requests.append((method, split.path))
                fault = fake._fault(method, split.path)
                if fault is not None and fault.status == 0:
                    fake._release.wait(60)
                    self.close_connection = True
                    return
                if fault is not None:
                    return self._answer(
                        fault.status, {"code": fault.status * 100000, "message": fault.message}
                    )
                if (
                    self.headers.get("APCA-API-KEY-ID") != KEY
                    or self.headers.get("APCA-API-SECRET-KEY") != SECRET
                ):
                    return self._answer(401, {"code": 40110000, "message": "unauthorized."})
                query = {k: v[-1] for k, v in parse_qs(split.query).items()}
                try:
                    body = json.loads(raw) if raw else None
                    with fake.lock:
                        status, answer = route(fake.book, method, split.path, query, body)
                except ApiError as exc:
                    status, answer = exc.status, {"code": exc.code, "message": exc.message}
                except ValueError:
                    status, answer = 400, {"code": 40010000, "message": "malformed request"}
                self._answer(status, answer)

            def _answer(self, status: int, body: Any) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PATCH = _serve

        return Handler
