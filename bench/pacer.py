"""The benchmarks' event source: publishes a stamped event at a chosen rate, on request.

One `Pacer` thread lives inside the server under test (Vigil's engine process through
bench/hook.py, or the bare emitter bench/floor_server.py). It watches a control directory
(VIGIL_BENCH_DIR): the benchmark writes `go-<run>.json` = {"run", "rate", "seconds"}; the pacer
then calls `emit(payload)` `rate` times a second for `seconds`, each payload stamped just
before the call with `t` (epoch ms, float: finer than the bus's integer `ts`), `run` and
`seq`, and writes `done-<run>.json` = {"run", "published", "late_ms_max"} when it is over.
The schedule is absolute (event i at start + i/rate); an event more than 50 ms behind it is
counted as skipped instead of sent in a burst. Nothing here contacts the network.

The thread is a daemon, polls every 20 ms, and gives up after MAX_LIFETIME_S even if the
process lives on: every loop is bounded.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENV_DIR = "VIGIL_BENCH_DIR"
TOPIC = "progress"  # an immediate Vigil topic that nothing else publishes while benchmarking
MAX_LIFETIME_S = 4 * 3600.0
MAX_RATE = 20_000.0
MAX_RUN_S = 3600.0
SKIP_BEHIND_S = 0.05

Emit = Callable[[dict[str, Any]], None]


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically (rename): a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


class Pacer:
    def __init__(self, directory: Path, emit: Emit, extra: Callable[[], dict[str, Any]]) -> None:
        self.directory = directory
        self.emit = emit
        self.extra = extra  # merged into the status file: e.g. ticks the engine handled
        self.done: set[int] = set()

    @classmethod
    def from_env(
        cls, emit: Emit, extra: Callable[[], dict[str, Any]] | None = None
    ) -> Pacer | None:
        raw = os.environ.get(ENV_DIR)
        if not raw:
            return None
        return cls(Path(raw), emit, extra or dict)

    def start(self, name: str = "bench-pacer") -> None:
        threading.Thread(target=self._loop, name=name, daemon=True).start()

    def _loop(self) -> None:
        end = time.monotonic() + MAX_LIFETIME_S
        status_due = 0.0
        while time.monotonic() < end:
            for go in sorted(self.directory.glob("go-*.json")):
                try:
                    order = json.loads(go.read_text())
                    run = int(order["run"])
                except (OSError, ValueError, KeyError):
                    continue
                if run not in self.done:
                    self.done.add(run)
                    self._run(run, float(order["rate"]), float(order["seconds"]))
            if time.monotonic() >= status_due:
                status_due = time.monotonic() + 0.5
                write_json(self.directory / f"status-{os.getpid()}.json", self.status())
            time.sleep(0.02)

    def status(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "rss_kib": rss_kib(os.getpid()), **self.extra()}

    def _run(self, run: int, rate: float, seconds: float) -> None:
        rate = min(max(rate, 0.1), MAX_RATE)
        count = int(rate * min(max(seconds, 0.0), MAX_RUN_S))
        period = 1.0 / rate
        start = time.monotonic() + 0.05
        published = skipped = 0
        late_max = 0.0
        for seq in range(count):
            due = start + seq * period
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            behind = time.monotonic() - due
            if behind > SKIP_BEHIND_S:
                skipped += 1
                continue
            late_max = max(late_max, behind)
            payload = {"message": "bench", "pct": 0, "run": run, "seq": seq}
            payload["t"] = time.time() * 1000.0
            self.emit(payload)
            published += 1
        result = {
            "run": run,
            "published": published,
            "skipped": skipped,
            "late_ms_max": round(late_max * 1000, 3),
        }
        write_json(self.directory / f"done-{run}.json", result)


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
