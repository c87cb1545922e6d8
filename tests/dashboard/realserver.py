"""A test app behind Werkzeug's threaded server on a loopback port, spoken to over real websockets.

Flask-SocketIO's test client skips the Engine.IO handshake, so Origin checks and the inbound
size limit can only be seen through a real server and a real websocket client.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests
import websocket
from flask import Flask
from werkzeug.serving import make_server

from tests.dashboard.conftest import PASSWORDS


class RealServer:
    def __init__(self, app: Flask) -> None:
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/socket.io/?EIO=4&transport=websocket"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RealServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def login(self, user: str) -> str:
        """The Cookie header a browser would send after logging in as `user`."""
        session = requests.Session()
        answer = session.post(
            f"{self.url}/api/login",
            json={"username": user, "password": PASSWORDS[user]},
            headers={"Origin": self.url},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return "; ".join(f"{name}={value}" for name, value in session.cookies.items())

    def handshake(self, cookie: str | None, origin: str | None, **headers: str) -> Any:
        """An Engine.IO websocket (raises WebSocketBadStatusException when refused)."""
        ws = websocket.create_connection(
            self.ws_url,
            origin=origin,
            cookie=cookie,
            header=[f"{k.replace('_', '-')}: {v}" for k, v in headers.items()],
            timeout=5,
            suppress_origin=origin is None,
        )
        opening = ws.recv()
        assert opening.startswith("0{"), opening
        return ws

    def connect(self, cookie: str | None, origin: str | None) -> tuple[Any, list[str]]:
        """Handshake, then the Socket.IO connect; returns the socket and what came until the
        server accepted ("40…") or refused ("44…") it."""
        ws = self.handshake(cookie, origin)
        ws.send("40")
        seen: list[str] = []
        while not seen or not seen[-1].startswith(("40", "44")):
            seen.append(ws.recv())
        return ws, seen

    def healthy(self) -> bool:
        return requests.get(f"{self.url}/healthz", timeout=5).status_code == 200


def ack(ws: Any, ack_id: int, frame: str, timeout: float = 5.0) -> str:
    """Send a raw Socket.IO frame and return the acknowledgement for `ack_id`."""
    ws.send(frame)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = ws.recv()
        if message == "2":  # Engine.IO ping: answer it or the server hangs up
            ws.send("3")
        elif message.startswith(f"43{ack_id}["):
            return str(message)
    raise AssertionError(f"no acknowledgement {ack_id}")


def closed_by_server(ws: Any, timeout: float = 5.0) -> bool:
    """True once the server has closed the websocket (pings and events are skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message = ws.recv()
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return True
        except websocket.WebSocketTimeoutException:
            return False
        if message in ("", b""):
            return True
    return False
