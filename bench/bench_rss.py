"""Benchmark (issue 15): the served process's memory, idle and over one million ticks.

Run from the repository root: ``python bench/bench_rss.py [--ticks 1000000]``.

Reads VmRSS from /proc/PID/status of the process that holds the engine (the gunicorn worker
the Procfile starts; the master is not counted, it holds no state) and of the floor's worker.

1. Idle: Vigil as `make run` would serve it (the simulated engine with its defaults: 6 h of
   history generated at start, the default strategy, the feed stepping every 200 ms), no
   client. RSS once /readyz answers, once the history is loaded, then after `--idle-seconds`
   more; then one client (a raw websocket, as bench/wsclients.py) connects and receives the
   snapshot and the live stream for 10 s, and the RSS is read again ("after a short probe").
   Beside it, the floor's worker (bench/floor_server.py) idle: the memory any Flask-SocketIO
   process under this gunicorn.conf.py has before Vigil does anything.
2. Growth: a second Vigil whose simulated feed is sped up (`VIGIL_SIM_SPEED=1000`,
   `VIGIL_SIM_TICK_MS=20`: each step covers 20 simulated seconds, up to 25 trades per symbol;
   no history, no strategy). The trade ticks the engine thread handled are counted by
   bench/hook.py (a wrapper around the router's `on_market`), not assumed. The simulated feed
   stamps its ticks with the wall clock (only the market's own time runs faster), so at
   ~4,000 ticks/s the engine's tick cache (the last 15 minutes of trades, capped at 200,000
   per symbol) fills up to its cap: 800,000 ticks for the four default symbols, ~95 MiB.
   That is bounded, and a real feed at that rate would do the same; the growth that would be
   a leak is what comes after. So the baseline is taken after `--warmup` ticks (default
   900,000: the cache is full), the end after `--ticks` more; growth = end - baseline; the
   filling is reported on its own line. Stops by itself after `--max-seconds` at the latest.

Targets: idle <= 120 MB (MiB here), growth <= 5 MB over one million ticks.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench import harness  # noqa: E402
from bench.fleet import Fleet  # noqa: E402
from bench.hook import ENV_TRACE  # noqa: E402
from bench.stats import load, machine  # noqa: E402

IDLE_TARGET_MIB = 120.0
GROWTH_TARGET_MIB = 5.0
# `make run`: the defaults, except what a benchmark must pin.
DEFAULTS = {"VIGIL_SIM_HISTORY_S": str(6 * 3600), "VIGIL_STRATEGY": "demo"}
FAST = {"VIGIL_SIM_SPEED": "1000", "VIGIL_SIM_TICK_MS": "20"}


def worker_mib(target: harness.Target) -> float:
    return target.web[0].rss_kib() / 1024


def idle(work: Path, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    floor = harness.floor(work / "floor")
    try:
        time.sleep(2)
        out["floor idle"] = worker_mib(floor)
    finally:
        floor.stop()
    target = harness.vigil_one(work / "idle", **DEFAULTS)
    try:
        out["ready"] = worker_mib(target)
        url = f"http://127.0.0.1:{target.ports[0]}/readyz"

        def loaded() -> bool:
            return bool(requests.get(url, timeout=5).json().get("history_loaded"))

        started = time.monotonic()
        harness.wait_for(loaded, 300, "the history to load", 0.5)
        out["history load s"] = time.monotonic() - started
        out["history loaded"] = worker_mib(target)
        time.sleep(seconds)
        out[f"idle {seconds:g} s later"] = worker_mib(target)
        fleet = Fleet(target, 1, 1, 60)
        try:
            fleet.wait_connected(30)
            time.sleep(10)
            out["one client, 10 s"] = worker_mib(target)
        finally:
            fleet.finish()
    finally:
        target.stop()
    return out


def engine_status(target: harness.Target) -> dict[str, Any]:
    status = target.status()
    return status[0] if status else {}


def growth(
    work: Path, warmup: int, ticks: int, max_seconds: float, trace: bool = False
) -> dict[str, Any]:
    env = {**FAST, **({ENV_TRACE: "1"} if trace else {})}
    # No strategy, no history (harness.VIGIL_ENV): the tick path alone.
    target = harness.vigil_one(work / "growth", **env)
    samples: list[tuple[float, int, float]] = []
    try:
        started = time.monotonic()
        deadline = started + max_seconds
        start_mib = worker_mib(target)
        base: tuple[float, int, float] | None = None
        while time.monotonic() < deadline:
            time.sleep(1.0)
            st = engine_status(target)
            n = int(st.get("ticks", 0))
            sample = (time.monotonic() - started, n, st.get("rss_kib", 0) / 1024)
            samples.append(sample)
            if base is None and n >= warmup:
                base = sample
            if base is not None and n >= base[1] + ticks:
                break
        final = engine_status(target)
        traced = target.control / "trace-latest.txt"
        trace_text = traced.read_text() if traced.exists() else ""
    finally:
        target.stop()
    if base is None:
        raise RuntimeError(f"the warm-up ({warmup} ticks) did not end in {max_seconds:g} s")
    end = samples[-1]
    return {
        "start_mib": start_mib,
        "base": base,
        "end": end,
        "samples": samples,
        "dropped": final.get("dropped_market_events", 0),
        "market_events": final.get("market_events", 0),
        "trace": trace_text,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--warmup", type=int, default=900_000, help="ticks before the baseline")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--trace", action="store_true", help="tracemalloc in the engine")
    args = parser.parse_args(argv)
    if not 10_000 <= args.ticks <= 10_000_000 or not 1 <= args.max_seconds <= 3600:
        parser.error("--ticks must be in 10,000..10,000,000 and --max-seconds in 1..3600")
    command = " ".join(["python bench/bench_rss.py", *(argv or sys.argv[1:])])
    print("### RSS of the served process (VmRSS of the gunicorn worker)\n")
    print(f"Command: `{command}`  ")
    print(f"Machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M %Z')}; {load()} at start\n")
    met = True
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_idle:
            res = idle(work, args.idle_seconds)
            print("| moment | RSS MiB |\n|---|---|")
            for key, value in res.items():
                if key != "history load s":
                    print(f"| {key} | {value:.1f} |")
            print(f"\n(history of 6 h generated in {res['history load s']:.0f} s)  ")
            worst = max(v for k, v in res.items() if k not in ("history load s", "floor idle"))
            ok = worst <= IDLE_TARGET_MIB
            met = met and ok
            print(
                f"Idle target <= {IDLE_TARGET_MIB:g} MiB: {'met' if ok else 'NOT met'} "
                f"(highest reading {worst:.1f} MiB; {worst / res['floor idle']:.2f}x the "
                f"floor's {res['floor idle']:.1f} MiB)\n"
            )
        g = growth(work, args.warmup, args.ticks, args.max_seconds, args.trace)
    (t0, n0, r0), (t1, n1, r1) = g["base"], g["end"]
    rate = (n1 - n0) / max(t1 - t0, 1e-9)
    print("| growth run | s | ticks handled | RSS MiB |\n|---|---|---|---|")
    print(f"| started (ready) | 0 | 0 | {g['start_mib']:.1f} |")
    print(
        f"| baseline (after the warm-up: the tick cache is full) | {t0:.0f} | {n0:,} | {r0:.1f} |"
    )
    print(f"| end | {t1:.0f} | {n1:,} | {r1:.1f} |")
    grew = r1 - r0
    ok = n1 - n0 >= args.ticks and grew <= GROWTH_TARGET_MIB
    met = met and ok
    print(
        f"\nGrowth over {n1 - n0:,} ticks ({rate:,.0f} ticks/s; {g['market_events']:,} market "
        f"events in all, {g['dropped']:,} dropped by the engine's backlog bound): "
        f"{grew:+.1f} MiB; target <= {GROWTH_TARGET_MIB:g} MiB: {'met' if ok else 'NOT met'}."
    )
    trail = g["samples"][:: max(1, len(g["samples"]) // 12)]
    print("\nRSS over the growth run (s, ticks, MiB): " + json.dumps([list(s) for s in trail]))
    if g["trace"]:
        print("\ntracemalloc, the sites that grew most (engine process):\n")
        print("```\n" + g["trace"] + "\n```")
    print(f"\n{load()} at the end.")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
