"""Soak (issue 15): an hour of accelerated simulation, 50 clients over two web processes.

Run from the repository root: ``python bench/soak.py [--seconds 3600]`` (not in CI).

Starts, on 127.0.0.1 with a temporary data directory, Vigil in Redis mode as the Procfile
describes it (bench/harness.vigil_redis: a private redis-server, one engine `flask --app wsgi
engine`, `--webs` web processes `gunicorn -c gunicorn.conf.py 'wsgi:serve()'`), or with
`--mode one` today's one-process server. The simulated market runs `--speed` times faster than
the wall clock with the demo strategy trading. `--clients` raw-websocket viewers
(bench/wsclients.py, one viewer account per 30, one client process per web process, spread
round-robin over the web processes) read everything.

Every `--kill-every` seconds the admin engages the kill switch (`halt`) over HTTP on one web
process and, 2 s later, resets it on the next one, each with a unique reason. Every
`--sample-every` seconds the RSS of every process (redis, engine, web workers, client
processes) and the ticks the engine handled (bench/hook.py) are recorded.

At the end (it stops by itself after `--seconds`): memory over time, events delivered per
client, clients dropped, and every safety transition some client did not see (a lost safety
event). Exit 1 when an event was lost, a client was dropped or a process died.
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

import requests  # noqa: E402

from bench import harness  # noqa: E402
from bench.fleet import Fleet  # noqa: E402
from bench.stats import load, machine  # noqa: E402


class Admin:
    """One admin session per web process (the cookie works on all; the point is the route)."""

    def __init__(self, target: harness.Target) -> None:
        self.target = target
        self.session = requests.Session()
        self.session.headers["Cookie"] = target.cookie

    def post(self, web: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
        port = self.target.ports[web % len(self.target.ports)]
        answer = self.session.post(f"http://127.0.0.1:{port}{path}", json=body, timeout=30)
        try:
            data: dict[str, Any] = answer.json()
        except ValueError:
            data = {"ok": False, "status": answer.status_code, "text": answer.text[:200]}
        return data

    def halt(self, web: int, reason: str) -> dict[str, Any]:
        return self.post(web, "/api/kill-switch", {"level": "halt", "reason": reason})

    def reset(self, web: int, reason: str) -> dict[str, Any]:
        body = {"reason": reason, "confirm": "RESET", "password": harness.ADMIN_PASSWORD}
        return self.post(web, "/api/kill-switch/reset", body)


def sample(target: harness.Target, fleet: Fleet, started: float) -> dict[str, Any]:
    rss = target.rss_mib()
    for proc in fleet.procs:
        rss[f"clients/{proc.name}"] = round(proc.rss_kib() / 1024, 1)
    status = target.status()
    ticks = sum(int(s.get("ticks", 0)) for s in status)
    return {"t": time.monotonic() - started, "rss": rss, "ticks": ticks}


def run(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any], list[Any]]:
    env = {
        "VIGIL_SIM_SPEED": str(args.speed),
        "VIGIL_SIM_TICK_MS": str(args.tick_ms),
        "VIGIL_STRATEGY": "demo",
        "VIGIL_SIM_HISTORY_S": "3600",
    }
    threads = max(64, args.clients * 2)
    with tempfile.TemporaryDirectory(prefix="vigil-soak-") as tmp:
        work = Path(tmp)
        if args.mode == "redis":
            target = harness.vigil_redis(work, args.webs, threads, args.clients, **env)
        else:
            target = harness.vigil_one(work, threads, args.clients, **env)
        fleet: Fleet | None = None
        try:
            procs = len(target.ports)
            fleet = Fleet(target, args.clients, procs, args.seconds + 600)
            connected = fleet.wait_connected(300)
            if connected["connected"] != args.clients:
                raise RuntimeError(f"not every client connected: {connected}")
            admin = Admin(target)
            samples: list[dict[str, Any]] = []
            transitions: list[Any] = []  # (kind, reason, answer ok)
            started = time.monotonic()
            deadline = started + args.seconds
            next_kill = started + min(args.kill_every, args.seconds / 3)
            next_sample = started
            k = 0
            while time.monotonic() < deadline:
                now = time.monotonic()
                if now >= next_sample:
                    samples.append(sample(target, fleet, started))
                    next_sample += args.sample_every
                    dead = [p.name for p in target.procs + fleet.procs if not p.alive()]
                    if dead:
                        raise RuntimeError(f"processes died: {dead}")
                if now >= next_kill and now + 5 < deadline:
                    k += 1
                    reason = f"soak halt {k}"
                    answer = admin.halt(k, reason)
                    transitions.append(["kill_switch_activated", reason, bool(answer.get("ok"))])
                    time.sleep(2)
                    reason = f"soak reset {k}"
                    answer = admin.reset(k + 1, reason)
                    transitions.append(["kill_switch_reset", reason, bool(answer.get("ok"))])
                    next_kill += args.kill_every
                time.sleep(0.2)
            time.sleep(3)  # the last events in flight
            samples.append(sample(target, fleet, started))
            result = fleet.finish()
        finally:
            if fleet is not None:
                for proc in fleet.procs:
                    proc.stop()
            target.stop()
    return samples, result, transitions


def report(
    samples: list[dict[str, Any]], result: dict[str, Any], transitions: list[Any], clients: int
) -> tuple[str, bool]:
    names = list(samples[0]["rss"])
    lines = [
        "| t s | engine ticks | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for s in samples:
        cells = " | ".join(f"{s['rss'].get(n, 0):.1f}" for n in names)
        lines.append(f"| {s['t']:.0f} | {s['ticks']:,} | {cells} |")
    totals = [result["per_client_total"].get(str(i), 0) for i in range(clients)]
    lines.append("")
    lines.append(
        f"Events delivered per client: min {min(totals):,}, median "
        f"{statistics.median(totals):,.0f}, max {max(totals):,} (all topics; {clients} "
        f"clients, {result['connected']} connected, {result['dropped']} dropped)."
    )
    lost: list[str] = []
    refused = [t for t in transitions if not t[2]]
    for kind, reason, ok in transitions:
        if not ok:
            continue
        missed = [
            i for i in range(clients) if [kind, reason] not in result["safety"].get(str(i), [])
        ]
        if missed:
            lost.append(f"{kind} '{reason}': {len(missed)} clients missed it (e.g. {missed[:5]})")
    lines.append(
        f"Safety transitions: {len(transitions)} ({len(transitions) // 2} halts and resets), "
        f"{len(refused)} refused by the server; lost (some client did not see it): "
        f"{len(lost)}."
    )
    lines.extend(f"- LOST: {line}" for line in lost)
    lines.extend(f"- REFUSED: {t}" for t in refused)
    first, last = samples[0]["rss"], samples[-1]["rss"]
    growth = ", ".join(f"{n} {last.get(n, 0) - first.get(n, 0):+.1f}" for n in names)
    lines.append(f"RSS change over the run, MiB: {growth}.")
    ok = not lost and not refused and result["dropped"] == 0
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--webs", type=int, default=2)
    parser.add_argument("--mode", choices=("redis", "one"), default="redis")
    parser.add_argument("--speed", type=float, default=60.0, help="VIGIL_SIM_SPEED")
    parser.add_argument("--tick-ms", type=int, default=100, help="VIGIL_SIM_TICK_MS")
    parser.add_argument("--kill-every", type=float, default=60.0)
    parser.add_argument("--sample-every", type=float, default=60.0)
    args = parser.parse_args(argv)
    if not 10 <= args.seconds <= 6 * 3600 or not 1 <= args.clients <= 1000:
        parser.error("--seconds must be in 10..21600 and --clients in 1..1000")
    if args.seconds < 600:
        args.sample_every = min(args.sample_every, args.seconds / 6)
    command = " ".join(["python bench/soak.py", *(argv or sys.argv[1:])])
    mode = "one process" if args.mode == "one" else f"engine + {args.webs} web over Redis"
    print(f"### Soak: {args.seconds:g} s, {args.clients} clients, Vigil ({mode})\n")
    print(f"Command: `{command}`  ")
    print(f"Machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M %Z')}; {load()} at start\n")
    samples, result, transitions = run(args)
    text, ok = report(samples, result, transitions, args.clients)
    print("RSS over time, MiB:\n")
    print(text)
    print(f"\n{load()} at the end.")
    return 0 if ok else 1


def _stop_on_sigterm() -> None:
    """SIGTERM ends the run like Ctrl-C: the `finally` above stops every process it started."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


if __name__ == "__main__":
    _stop_on_sigterm()
    sys.exit(main())
