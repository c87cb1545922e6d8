"""The floor's emitter over Redis: a bare write-only Flask-SocketIO emitter and a pacer.

    VIGIL_REDIS_URL=redis://... VIGIL_BENCH_DIR=D python -m bench.floor_emitter

The least any process can do to publish through Flask-SocketIO's Redis message queue: a
`SocketIO(message_queue=...)` with no app (python-socketio's RedisManager, write-only, one
PUBLISH per emit) in threading mode, and a bench/pacer.py `Pacer` whose thread calls
`socketio.emit("progress", payload)` at the rate the benchmark asks for, each payload stamped
just before the call as everywhere else. The floor's web processes (bench/floor_server.py with
the same VIGIL_REDIS_URL) relay the messages to their clients. No Vigil code runs here.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask_socketio import SocketIO  # noqa: E402

from bench.floor_server import FLOOR_CHANNEL  # noqa: E402
from bench.pacer import MAX_LIFETIME_S, TOPIC, Pacer  # noqa: E402


def main() -> None:
    url = os.environ.get("VIGIL_REDIS_URL", "")
    if not url:
        raise SystemExit("floor_emitter: VIGIL_REDIS_URL is not set")
    socketio = SocketIO(message_queue=url, channel=FLOOR_CHANNEL, async_mode="threading")

    def emit(payload: dict[str, object]) -> None:
        socketio.emit(TOPIC, payload)

    pacer = Pacer.from_env(emit)
    if pacer is None:
        raise SystemExit("floor_emitter: VIGIL_BENCH_DIR is not set")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    pacer.start("floor-emitter-pacer")
    stop.wait(MAX_LIFETIME_S)  # the pacer's own bound; SIGTERM ends it sooner


if __name__ == "__main__":
    main()
