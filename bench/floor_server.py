"""The floor: a bare Flask-SocketIO emitter, no Vigil code, served like Vigil.

    VIGIL_PORT=P VIGIL_BENCH_DIR=D gunicorn -c gunicorn.conf.py 'bench.floor_server:create_app()'

Served with Vigil's own gunicorn.conf.py, so it gets the same worker class, worker count, thread
count (VIGIL_THREADS) and bind as the server under test; the Socket.IO server has the same async
mode and options as dashboard/app.py (threading, or gevent under a gevent worker; websocket
transport only, ping every 10 s). A bench/pacer.py `Pacer` started in the worker emits
`progress` payloads `{"message", "pct", "run", "seq", "t"}` to every client at the rate the
benchmark asks for, straight from its thread: the least any server can do for the same message.
Any connection is accepted (no login, no cookie check); `/readyz` answers 200 once the app
exists.

The floor through Redis: with VIGIL_REDIS_URL set, gunicorn.conf.py serves it as it serves
Vigil's web processes (gevent worker, the standard library patched first), the Socket.IO server
listens on that Redis as its message queue (`message_queue=`, channel FLOOR_CHANNEL) and no
pacer runs here: bench/floor_emitter.py, a separate process, publishes the events."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from flask_socketio import SocketIO  # noqa: E402

from bench.pacer import TOPIC, Pacer  # noqa: E402

_started: list[Pacer] = []
FLOOR_CHANNEL = "bench-floor-socketio"  # not Vigil's: the two never hear each other


def async_mode() -> str:
    """Vigil's: threading under gunicorn's gthread worker; gevent when a gevent worker has
    patched the standard library (Flask-SocketIO's own guess would pick gevent whenever it is
    installed)."""
    try:
        from gevent import monkey
    except ImportError:
        return "threading"
    return "gevent" if monkey.is_module_patched("socket") else "threading"


def create_app() -> Flask:
    app = Flask(__name__)
    queue = os.environ.get("VIGIL_REDIS_URL", "")
    socketio = SocketIO(
        app,
        async_mode=async_mode(),
        ping_interval=10,
        ping_timeout=10,
        transports=["websocket"],
        cors_allowed_origins="*",
        **({"message_queue": queue, "channel": FLOOR_CHANNEL} if queue else {}),
    )

    @app.get("/readyz")
    def readyz() -> tuple[dict[str, str], int]:
        return {"status": "ready"}, 200

    @app.post("/api/login")
    def login() -> tuple[dict[str, bool], int]:  # the benchmarks log in to every server
        return {"ok": True}, 200

    def emit(payload: dict[str, object]) -> None:
        socketio.emit(TOPIC, payload)

    pacer = None if queue else Pacer.from_env(emit)
    if pacer is not None and not _started:
        _started.append(pacer)
        pacer.start()
    return app
