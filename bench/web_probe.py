"""Runs a Vigil web process (gunicorn over Redis) with a memory probe inside its worker.

    VIGIL_BENCH_DIR=D python -m bench.web_probe gunicorn -c gunicorn.conf.py 'wsgi:serve()'

Like bench/hook.py for the engine, this launcher wraps `wsgi._serve_web` (in the master, before
gunicorn forks; the worker inherits the wrapped module) so that, once the app is built, a
background task of the app's own kind (a greenlet under the gevent worker) writes
`web-probe-<pid>.json` in D every VIGIL_BENCH_PROBE_S seconds (default 5): the RSS, glibc's
heap figures (mallinfo2: bytes in use vs held free), the interpreter's allocated block count,
the object counts by type that grew most since the first sample, the sizes of every per-socket
map of the web layer, and with VIGIL_BENCH_TRACE set the tracemalloc total and the allocation
sites that grew most since the first sample. Without VIGIL_BENCH_DIR nothing is patched. No
product file is changed.
"""

from __future__ import annotations

import os
import sys

# The web process's gunicorn.conf.py patches the standard library; do it before this module
# imports threading, as it would (a patch after that import warns and misbehaves).
if os.environ.get("VIGIL_REDIS_URL"):
    from gevent import monkey

    monkey.patch_all()

import ctypes
import gc
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pacer import ENV_DIR, rss_kib, write_json  # noqa: E402

ENV_TRACE = "VIGIL_BENCH_TRACE"
ENV_EVERY = "VIGIL_BENCH_PROBE_S"
TOP = 15


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def mallinfo() -> dict[str, int]:
    """glibc's heap: `arena` held from the OS (main + other arenas), `uordblks` in use,
    `fordblks` free but kept, `hblkhd` in mmapped blocks (KiB). {} where unavailable."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    return {k: getattr(info, k) // 1024 for k in ("arena", "uordblks", "fordblks", "hblkhd")}


def type_counts() -> Counter[str]:
    return Counter(type(o).__qualname__ for o in gc.get_objects())


def per_socket_maps(app: Any) -> dict[str, int]:
    """Every map of the web layer keyed by a connection, a client or an address."""
    from dashboard.metrics import AppMetrics
    from dashboard.services import Services

    found = Services.of(app)
    server = found.socketio.server
    manager = server.manager
    rooms = manager.rooms.get("/", {})
    guard = found.event_guard
    conn_guard = found.connection_guard
    return {
        "eio.sockets": len(server.eio.sockets),
        "sio.environ": len(server.environ),
        "manager.rooms['/']": len(rooms),
        "manager.rooms members": sum(len(m) for m in rooms.values()),
        "manager.eio_to_sid": len(getattr(manager, "eio_to_sid", {})),
        "manager.callbacks": len(getattr(manager, "callbacks", {})),
        "manager.pending_disconnect": sum(
            len(v) for v in getattr(manager, "pending_disconnect", {}).values()
        ),
        "event_guard._conns": len(guard._conns),
        "event_guard._clients": len(guard._clients),
        "connection_guard._held": len(conn_guard._held),
        "connection_guard total": conn_guard.held(),
        "metrics clients": len(AppMetrics.of(app).sources.clients._roles),
        "sqlite connections": sum(
            db.open_count()
            for db in (
                found.users._db,
                found.sessions._db,
                found.share_links._db,
                found.engine_store()._connections,
            )
        ),
        "open fds": len(os.listdir("/proc/self/fd")),
    }


def probe(app: Any, directory: Path, every_s: float, trace: bool, sleep: Any) -> None:
    if trace:
        tracemalloc.start(12)
    gc.collect()
    first_types = type_counts()
    first_snap = tracemalloc.take_snapshot() if trace else None
    started = time.monotonic()
    samples: list[dict[str, Any]] = []
    path = directory / f"web-probe-{os.getpid()}.json"
    while True:
        sleep(every_s)
        gc.collect()
        types = type_counts()
        grew = Counter({k: types[k] - first_types.get(k, 0) for k in types})
        sample: dict[str, Any] = {
            "t": round(time.monotonic() - started, 1),
            "rss_kib": rss_kib(os.getpid()),
            "malloc_kib": mallinfo(),
            "py_blocks": sys.getallocatedblocks(),
            "objects": sum(types.values()),
            "maps": per_socket_maps(app),
        }
        doc: dict[str, Any] = {"pid": os.getpid(), "types_grown": grew.most_common(TOP)}
        if first_snap is not None:
            current, peak = tracemalloc.get_traced_memory()
            sample["traced_kib"] = current // 1024
            sample["traced_peak_kib"] = peak // 1024
            snap = tracemalloc.take_snapshot()
            sites = []
            for stat in snap.compare_to(first_snap, "traceback")[:TOP]:
                frames = [str(f) for f in stat.traceback][-6:]
                sites.append([stat.size_diff // 1024, stat.count_diff, frames])
            doc["sites_grown"] = sites
            del snap
        samples.append(sample)
        doc["samples"] = samples
        write_json(path, doc)


def install() -> None:
    raw = os.environ.get(ENV_DIR)
    if not raw:
        return
    import wsgi

    original = wsgi._serve_web
    every = float(os.environ.get(ENV_EVERY, "5"))
    trace = bool(os.environ.get(ENV_TRACE))

    def serve_web(settings: Any) -> Any:
        app = original(settings)
        from dashboard.services import Services

        sio = Services.of(app).socketio
        sio.start_background_task(probe, app, Path(raw), every, trace, sio.sleep)
        return app

    wsgi._serve_web = serve_web  # type: ignore[assignment]


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] != "gunicorn":
        raise SystemExit("usage: python -m bench.web_probe gunicorn ARGS...")
    install()
    sys.argv = sys.argv[1:]
    from gunicorn.app.wsgiapp import run

    sys.exit(run())


if __name__ == "__main__":
    main()
