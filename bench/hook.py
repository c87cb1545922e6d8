"""Runs a Vigil command (gunicorn or flask) with the benchmarks' probe inside its engine.

    python -m bench.hook gunicorn -c gunicorn.conf.py 'wsgi:serve()'   # one process
    python -m bench.hook flask --app wsgi engine                        # the Redis engine

Vigil has no command that publishes events at a chosen rate, so this launcher wraps
`EngineRuntime.start` (in this process only, before gunicorn forks or flask runs) to start a
bench/pacer.py `Pacer` once the engine runs. The pacer publishes `progress` events on the
engine's own bus, from its own thread, exactly as `wsgi._announce_stop` publishes `system`:
bus -> SocketBridge's immediate queue -> Socket.IO emit (or, over Redis, whatever the engine
process does with its bus) -> websocket -> client. It also counts the trade ticks the engine
thread handled (a wrapper around the router's `on_market`) and reports them with the
process's RSS in the control directory's status file. Without VIGIL_BENCH_DIR nothing is
patched. No product file is changed.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pacer import TOPIC, Pacer  # noqa: E402

ENV_TRACE = "VIGIL_BENCH_TRACE"  # set: trace_growth runs in the engine process


class TickCounter:
    def __init__(self) -> None:
        self.ticks = 0
        self.market_events = 0
        self._lock = threading.Lock()

    def wrap(self, on_market: Any, tick_type: type) -> Any:
        def counted(event: Any) -> Any:
            with self._lock:
                self.market_events += 1
                if isinstance(event, tick_type):
                    self.ticks += 1
            return on_market(event)

        return counted

    def read(self) -> dict[str, Any]:
        with self._lock:
            return {"ticks": self.ticks, "market_events": self.market_events}


def trace_growth(directory: Path, every_s: float = 10.0, rounds: int = 360) -> None:
    """tracemalloc: every `every_s`, the allocation sites that grew most since the first
    snapshot, written to trace-latest.txt (a diagnosis aid; it slows the process down)."""
    tracemalloc.start(10)
    first = tracemalloc.take_snapshot()
    for _ in range(rounds):
        time.sleep(every_s)
        snap = tracemalloc.take_snapshot()
        stats = snap.compare_to(first, "traceback")[:12]
        lines = []
        for stat in stats:
            lines.append(f"{stat.size_diff / 1024:+.0f} KiB, {stat.count_diff:+d} blocks")
            lines.extend(f"    {frame}" for frame in stat.traceback.format()[-6:])
        total = sum(s.size_diff for s in snap.compare_to(first, "filename"))
        text = f"traced growth since start: {total / 1024:+.0f} KiB\n" + "\n".join(lines)
        (directory / "trace-latest.txt").write_text(text)


def install() -> None:
    if Pacer.from_env(lambda payload: None) is None:
        return
    from engine.models import TradeTick
    from engine.runtime import EngineRuntime

    original = EngineRuntime.start

    def start(self: EngineRuntime, *args: Any, **kwargs: Any) -> None:
        counter = TickCounter()
        router = self.parts.router
        router.on_market = counter.wrap(router.on_market, TradeTick)  # type: ignore[method-assign]
        original(self, *args, **kwargs)

        def extra() -> dict[str, Any]:
            return {
                **counter.read(),
                "dropped_market_events": self.dropped_market_events,
                "queue_depth": self._queue.qsize(),
            }

        pacer = Pacer.from_env(lambda payload: self.bus.publish(TOPIC, payload), extra)
        assert pacer is not None
        pacer.start()
        if os.environ.get(ENV_TRACE):
            threading.Thread(
                target=trace_growth, args=(pacer.directory,), name="bench-trace", daemon=True
            ).start()

    EngineRuntime.start = start  # type: ignore[method-assign]


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("gunicorn", "flask"):
        raise SystemExit("usage: python -m bench.hook gunicorn|flask ARGS...")
    install()
    program, sys.argv = sys.argv[1], sys.argv[1:]
    if program == "gunicorn":
        from gunicorn.app.wsgiapp import run

        sys.exit(run())
    from flask.cli import main as flask_main

    flask_main()


if __name__ == "__main__":
    main()
