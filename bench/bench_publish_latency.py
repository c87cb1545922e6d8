"""Benchmark (issue 15): publish -> client latency of an immediate topic, against the floor.

Run from the repository root: ``python bench/bench_publish_latency.py [--seconds 10]``.

Servers run side by side on 127.0.0.1, each with one client process (bench/wsclients.py,
a raw websocket speaking Engine.IO/Socket.IO, the same code for all):

- the floor, bench/floor_server.py: a bare Flask-SocketIO app under Vigil's gunicorn.conf.py
  (same worker class and threads), whose pacer thread calls `socketio.emit` directly (with
  `--mode redis` under the web processes' worker class, gevent: `floor-gevent`);
- with `--mode redis` also the floor through Redis (`floor-redisN`, bench/harness.floor_redis):
  its own redis-server, `--webs` bare web processes listening on it as their message queue and
  a separate write-only emitter process (bench/floor_emitter.py) with the pacer; the client on
  the first web process. Vigil's targets are judged against this floor in that mode;
- Vigil as the Procfile runs it (`--mode one`: one gunicorn gthread process) or, with
  `--mode redis`, one engine (`flask --app wsgi engine`) and `--webs` web processes over
  Redis, the client on the first web process. The pacer (bench/hook.py) publishes `progress`,
  an immediate topic, on the engine's bus: bus -> bridge -> Socket.IO -> websocket -> client.
  The simulated feed runs at its default pace (`--tick-ms`), so the client also receives
  Vigil's own market traffic (quotes, books, P&L, conflated at 10 Hz per key), as a page does.

Each payload carries `t`, the wall clock (float ms) taken just before the publish/emit call;
the age is the client's wall clock on arrival minus `t`. Runs alternate floor / Vigil at each
rate (`--rates`, default 100 and 1,000 events/s), `--repeat` times, after a 1 s warm-up.
Targets: Vigil's p50 within 1.5x the floor's (over Redis: the floor through Redis), and p99
<= 5 ms; ratios to every floor measured are printed. Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.fleet import Fleet  # noqa: E402
from bench.stats import floors_base_first, load, machine, percentile  # noqa: E402

P50_RATIO_TARGET = 1.5
P99_TARGET_MS = 5.0


def measure(target: harness.Target, fleet: Fleet, rate: float, seconds: float) -> dict[str, Any]:
    done = target.pace(rate, seconds)
    return {"target": target.name, "rate": rate, **done}


def run(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        work = Path(tmp)
        targets: list[harness.Target] = []
        fleets: list[Fleet] = []
        try:
            # The floor runs the web processes' worker class: gthread alone, gevent over Redis.
            targets.append(harness.floor(work, worker="" if args.mode == "one" else "gevent"))
            vigil_env = {"VIGIL_SIM_TICK_MS": str(args.tick_ms)}
            if args.mode == "one":
                targets.append(harness.vigil_one(work, **vigil_env))
            else:
                targets.append(harness.floor_redis(work, args.webs))
                targets.append(harness.vigil_redis(work, args.webs, **vigil_env))
            budget = 120 + args.repeat * len(args.rates) * len(targets) * (args.seconds + 2)
            for target in targets:
                fleet = Fleet(target, 1, 1, budget)
                fleets.append(fleet)
                connected = fleet.wait_connected(60)
                if connected["connected"] != 1:
                    raise RuntimeError(f"{target.name}: client not connected: {connected}")
            runs: list[dict[str, Any]] = []
            for target, fleet in zip(targets, fleets, strict=True):
                measure(target, fleet, 100, 1)  # warm-up, not counted
            for _ in range(args.repeat):
                for rate in args.rates:
                    for target, fleet in zip(targets, fleets, strict=True):
                        runs.append(measure(target, fleet, rate, args.seconds))
            time.sleep(2)  # what is still in flight after the last run
            results = [fleet.finish() for fleet in fleets]
            rss = {k: v for t in targets for k, v in t.rss_mib().items()}
        finally:
            for fleet in fleets:
                for proc in fleet.procs:
                    proc.stop()
            for target in targets:
                target.stop()
    by_name = {t.name: r for t, r in zip(targets, results, strict=True)}
    for one in runs:
        got = by_name[one["target"]]["runs"].get(str(one["run"]), {"ages": []})
        one["ages"] = got["ages"]
    return runs, {"rss": rss, "events": {k: v["events"] for k, v in by_name.items()}}


def report(runs: list[dict[str, Any]], rates: list[float]) -> tuple[str, bool]:
    lines = [
        "| rate /s | server | published | received | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    verdicts: list[str] = []
    met = True
    for rate in rates:
        ages: dict[str, list[float]] = {}
        sent: dict[str, int] = {}
        for one in runs:
            if one["rate"] == rate:
                ages.setdefault(one["target"], []).extend(one["ages"])
                sent[one["target"]] = sent.get(one["target"], 0) + one["published"]
        p: dict[str, tuple[float, float]] = {}
        for name, values in ages.items():
            if not values:
                lines.append(f"| {rate:,.0f} | {name} | {sent[name]} | 0 | - | - | - | - |")
                met = False
                continue
            p50, p90 = statistics.median(values), percentile(values, 90)
            p99, top = percentile(values, 99), max(values)
            p[name] = (p50, p99)
            lines.append(
                f"| {rate:,.0f} | {name} | {sent[name]:,} | {len(values):,} | {p50:.2f} | "
                f"{p90:.2f} | {p99:.2f} | {top:.2f} |"
            )
        vigil = next((n for n in p if not n.startswith("floor")), None)
        base = next(iter(floors_base_first(list(p))), None)
        if vigil and base:
            r50 = p[vigil][0] / p[base][0]
            r99 = p[vigil][1] / p[base][1]
            ok50, ok99 = r50 <= P50_RATIO_TARGET, p[vigil][1] <= P99_TARGET_MS
            met = met and ok50 and ok99
            others = "".join(
                f"; to {n}: p50 {p[vigil][0] / p[n][0]:.2f}x, p99 {p[vigil][1] / p[n][1]:.2f}x"
                for n in p
                if n.startswith("floor") and n != base
            )
            verdicts.append(
                f"- {rate:,.0f}/s: p50 {r50:.2f}x {base} (target <= {P50_RATIO_TARGET}x: "
                f"{'met' if ok50 else 'NOT met'}), p99 {r99:.2f}x {base}, "
                f"{p[vigil][1]:.2f} ms (target <= {P99_TARGET_MS:g} ms: "
                f"{'met' if ok99 else 'NOT met'}){others}"
            )
    return "\n".join(lines) + "\n\n" + "\n".join(verdicts), met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per server and rate")
    parser.add_argument("--rates", type=float, nargs="+", default=[100.0, 1000.0])
    parser.add_argument("--mode", choices=("one", "redis"), default="one")
    parser.add_argument("--webs", type=int, default=2, help="web processes in --mode redis")
    parser.add_argument("--tick-ms", type=int, default=200, help="VIGIL_SIM_TICK_MS for Vigil")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 300 or not 1 <= args.repeat <= 20:
        parser.error("--seconds must be in 1..300 and --repeat in 1..20")
    if any(not 1 <= r <= 5000 for r in args.rates):
        parser.error("rates must be in 1..5000 events/s")
    command = " ".join(["python bench/bench_publish_latency.py", *(argv or sys.argv[1:])])
    mode = "one gunicorn process" if args.mode == "one" else f"engine + {args.webs} web over Redis"
    floors = "the floor" if args.mode == "one" else "the floors (one process; through Redis)"
    print(f"### Publish -> client latency, immediate topic, Vigil ({mode}) vs {floors}\n")
    print(f"Command: `{command}`  ")
    print(f"Machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M %Z')}; {load()} at start\n")
    runs, extra = run(args)
    text, met = report(runs, args.rates)
    print(text)
    skipped = sum(r.get("skipped", 0) for r in runs)
    print(f"\nPacer events skipped (more than 50 ms behind schedule): {skipped}.  ")
    print(f"RSS at the end, MiB: {extra['rss']}.  ")
    for name, events in extra["events"].items():
        other = sum(events.values())
        print(f"Other events received by the {name} client: {other:,}.  ")
    print(f"\n{load()} at the end.")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
