"""Benchmark (issue 15): fan-out of a 10 Hz immediate topic to many clients, against the floor.

Run from the repository root: ``python bench/bench_fanout.py [--clients 100 1000 5000]``.

For each client count N, one server after the other (never two at once, so they do not share
the 2 cores): the floor (bench/floor_server.py, a bare Flask-SocketIO emitter under Vigil's
gunicorn.conf.py; `floor-gevent` under the web processes' worker class), with `--mode redis`
the floor through Redis (`floor-redis`: its own redis-server, `--webs` bare gevent web
processes on it as their message queue, a separate write-only emitter process,
bench/floor_emitter.py), then Vigil (`--mode one`: today's one-process server; `--mode redis`:
one engine and `--webs` web processes over Redis); the clients spread round-robin over the web
processes. N
raw-websocket clients (bench/wsclients.py: all logged in with one cookie, many per asyncio
loop) spread over `--procs` client processes connect; then the pacer inside the server
(bench/pacer.py; in Vigil on the engine's bus, see bench/hook.py) publishes the `progress`
topic at `--rate` per second for `--seconds`, and every client stamps every arrival.

With gunicorn's gthread worker each open websocket holds one thread: VIGIL_THREADS is set to
what N needs (Vigil keeps a quarter free for requests, so it holds at most 3/4 of them) up to
its maximum, 1,024, and the floor gets the same. Clients that cannot connect within
`--connect-seconds` are counted, not waited for. Vigil's simulated feed is slowed to one
step a minute (`--tick-ms 60000`) so that the clients receive the measured topic, as the
floor's do, not the market traffic on top.

Reported per N and server: connected, delivered / (published x connected), delivery age
p50/p99/max (client wall clock minus the payload's `t`, stamped just before the publish),
Vigil's p99 as a ratio to every floor's (the base first: the floor through Redis when measured),
the server's RSS. Targets: p99 <= 20 ms at 100 clients, <= 100 ms at 1,000.
"""

from __future__ import annotations

import argparse
import math
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

TARGETS_MS = {100: 20.0, 1000: 100.0}
MAX_THREADS = 1024
DRAIN_S = 5.0


def threads_for(clients: int, name: str) -> int:
    """gthread: one thread per websocket; Vigil holds at most threads - max(3, threads // 4)."""
    wanted = clients + 8 if name == "floor" else math.ceil(clients * 4 / 3) + 8
    return max(32, min(MAX_THREADS, wanted))


def one_case(work: Path, name: str, clients: int, args: argparse.Namespace) -> dict[str, Any]:
    threads = threads_for(clients, name)
    env = {"VIGIL_SIM_TICK_MS": str(args.tick_ms)}
    if name == "floor":
        target = harness.floor(work / f"{name}-{clients}", threads)
    elif name == "floor-redis":  # the floor through Redis, as many web processes as Vigil's
        target = harness.floor_redis(work / f"{name}-{clients}", args.webs, threads)
    elif name.startswith("floor-"):  # e.g. floor-gevent: the floor under another worker class
        target = harness.floor(work / f"{name}-{clients}", threads, name.split("-", 1)[1])
    elif args.mode == "one":
        target = harness.vigil_one(work / f"{name}-{clients}", threads, clients, **env)
    else:
        target = harness.vigil_redis(work / f"{name}-{clients}", args.webs, threads, clients, **env)
    procs = args.procs or max(1, math.ceil(clients / 1250))
    budget = args.connect_seconds + args.seconds + 180
    fleet = Fleet(target, clients, procs, budget, args.connect_seconds)
    try:
        started = time.monotonic()
        connected = fleet.wait_connected(args.connect_seconds + 120)
        connect_s = time.monotonic() - started
        rss_connected = target.rss_mib()
        done = target.pace(args.rate, args.seconds) if connected["connected"] else {}
        time.sleep(DRAIN_S)  # what is still in flight when the pacer stops
        result = fleet.finish()
        rss_end = target.rss_mib()
    finally:
        for proc in fleet.procs:
            proc.stop()
        target.stop()
    ages = result["runs"].get(str(done.get("run")), {}).get("ages", [])
    per_client = result["runs"].get(str(done.get("run")), {}).get("per_client", {})
    published = done.get("published", 0)
    expected = published * result["connected"]
    return {
        "server": target.name,
        "clients": clients,
        "threads": threads,
        "connected": result["connected"],
        "failed": connected["failed"],
        "dropped": result["dropped"],
        "connect_s": connect_s,
        "published": published,
        "delivered": len(ages),
        "expected": expected,
        "min_per_client": min(per_client.values(), default=0),
        "ages": ages,
        "rss_connected": rss_connected,
        "rss_end": rss_end,
    }


def p99_of(case: dict[str, Any]) -> float:
    return percentile(case["ages"], 99) if case["ages"] else math.nan


def report(cases: list[dict[str, Any]]) -> str:
    floors = floors_base_first([c["server"] for c in cases])
    floor_p99 = {(c["server"], c["clients"]): p99_of(c) for c in cases if c["server"] in floors}
    lines = [
        "| clients | server | threads | connected | delivered | p50 ms | p99 ms | max ms | "
        + "".join(f"p99 / {name} | " for name in floors)
        + "RSS MiB (connected) |",
        "|---|---|---|---|---|---|---|---|" + "---|" * len(floors) + "---|",
    ]
    notes: list[str] = []
    for case in cases:
        ages = case["ages"]
        share = case["delivered"] / case["expected"] if case["expected"] else 0.0
        p99 = p99_of(case)
        if ages:
            cells = f"{statistics.median(ages):.1f} | {p99:.1f} | {max(ages):.1f}"
        else:
            cells = "- | - | -"
        ratios = ""
        vigil = not case["server"].startswith("floor")
        for name in floors:
            base = floor_p99.get((name, case["clients"]), math.nan)
            ok = vigil and base and not math.isnan(base) and not math.isnan(p99)
            ratios += f"{p99 / base:.2f}x | " if ok else ("- | " if vigil else " | ")
        rss = max(case["rss_connected"].values(), default=0)
        lines.append(
            f"| {case['clients']:,} | {case['server']} | {case['threads']} | "
            f"{case['connected']:,} | {case['delivered']:,} ({share:.1%}) | {cells} | {ratios}"
            f"{rss:.0f} |"
        )
        if case["failed"] or case["dropped"]:
            notes.append(
                f"- {case['server']}, {case['clients']:,} clients: not connected "
                f"{case['failed']}, dropped after connecting {case['dropped']}; connecting "
                f"took {case['connect_s']:.0f} s"
            )
        target = TARGETS_MS.get(case["clients"])
        if target is not None and not case["server"].startswith("floor"):
            ok = (
                case["connected"] == case["clients"]
                and not math.isnan(p99)
                and p99 <= target
                and share >= 0.999
            )
            notes.append(
                f"- {case['server']}, {case['clients']:,} clients: p99 target <= {target:g} ms "
                f"with every client connected and served: {'met' if ok else 'NOT met'}"
            )
    return "\n".join(lines) + "\n\n" + "\n".join(notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--mode", choices=("one", "redis"), default="one")
    parser.add_argument("--webs", type=int, default=3, help="web processes in --mode redis")
    parser.add_argument("--procs", type=int, default=0, help="client processes (0: 1 per 1,250)")
    parser.add_argument("--connect-seconds", type=float, default=120.0)
    parser.add_argument("--tick-ms", type=int, default=60_000, help="VIGIL_SIM_TICK_MS")
    parser.add_argument(
        "--servers",
        nargs="+",
        default=[],
        help="floor, vigil, floor-redis (--mode redis), floor-<worker class> (e.g. "
        "floor-gevent); the base of the ratios is floor-redis if listed, else the first floor. "
        "Default: floor vigil (--mode one), floor-gevent floor-redis vigil (--mode redis)",
    )
    args = parser.parse_args(argv)
    if not args.servers:
        one, redis = ["floor", "vigil"], ["floor-gevent", "floor-redis", "vigil"]
        args.servers = one if args.mode == "one" else redis
    if "floor-redis" in args.servers and args.mode != "redis":
        parser.error("floor-redis needs --mode redis (its --webs)")
    if any(not 1 <= n <= 10_000 for n in args.clients) or not 1 <= args.seconds <= 600:
        parser.error("--clients must be in 1..10000 and --seconds in 1..600")
    command = " ".join(["python bench/bench_fanout.py", *(argv or sys.argv[1:])])
    mode = "one gunicorn process" if args.mode == "one" else f"engine + {args.webs} web over Redis"
    floors = ", ".join(n for n in args.servers if n.startswith("floor"))
    print(f"### Fan-out at {args.rate:g} Hz, Vigil ({mode}) vs {floors}\n")
    print(f"Command: `{command}`  ")
    print(f"Machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M %Z')}; {load()} at start\n")
    cases = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        for clients in args.clients:
            for name in args.servers:
                cases.append(one_case(Path(tmp), name, clients, args))
                print(f"<!-- {name} {clients}: done, {load()} -->", flush=True)
    print(report(cases))
    print(f"\n{load()} at the end.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
