"""Benchmark (issue 15 soak follow-up): where a web process's memory goes over Redis.

Run from the repository root: ``python bench/bench_web_rss.py [--seconds 300] [--trace]``.

Starts on 127.0.0.1, with a temporary data directory: a private redis-server, the engine
(`flask --app wsgi engine` with bench/hook.py's pacer) and ONE web process (the Procfile's web
line, one gevent worker) under bench/web_probe.py, which samples from inside the worker: RSS,
glibc's heap (in use vs held free), Python's allocated blocks, object counts by type, every
per-socket map, and with --trace tracemalloc's growth by allocation site. Then, at once:

- `--clients` raw-websocket viewers (bench/wsclients.py) stay connected and read everything;
- the pacer publishes `progress` events at `--rate`/s on the engine's bus for the whole run
  (bus -> Redis message queue -> web process -> every client), beside the simulated market
  running `--speed` times faster than the wall clock with the demo strategy trading;
- `--churn` loops each open a socket (its own viewer account), wait for `initial_state`, close,
  and start again: per-connection state that is never removed piles up with them;
- every `--halt-every` seconds the admin halts and, 2 s later, resets the kill switch over HTTP.

Prints the samples over time and the growth between the first sample after the warm-up
(`--warmup` s: caches fill, every client connected) and the last. Reading it: RSS rising with
the Python objects / traced bytes is a retained-object leak; RSS rising while those stay flat
is the allocator (freed memory kept by malloc: `heap free` grows). `--env K=V` passes
variables to the web process only (e.g. MALLOC_ARENA_MAX=2).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.fleet import Fleet  # noqa: E402
from bench.soak import Admin  # noqa: E402
from bench.stats import load, machine  # noqa: E402
from bench.wsclients import client_frame, read_frame  # noqa: E402
from tests.dashboard.wsraw import upgrade_request  # noqa: E402

PROBE = [harness.PY, "-m", "bench.web_probe", "gunicorn", "-c", "gunicorn.conf.py"]


def start(work: Path, clients: int, churn: int, web_env: dict[str, str], **env: str) -> Any:
    """harness.vigil_redis with one web process under the probe; churn accounts after the
    steady clients' ones."""
    viewers = clients + churn * harness.PER_ACCOUNT
    web = {"VIGIL_WEB_WORKERS": "1", **web_env}
    return harness.vigil_redis(
        work, 1, 64, viewers, name="web-rss", web_argv=PROBE, web_env=web, **env
    )


async def churn_once(port: int, cookie: str) -> bool:
    """One page's visit: upgrade, join, wait for initial_state, close. True when it got it."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    try:
        writer.write(upgrade_request(port, cookie))
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        if int(answer.split(b" ", 2)[1]) != 101:
            return False
        while True:
            opcode, data = await asyncio.wait_for(read_frame(reader), 10)
            if opcode == 8:
                return False
            if data[:1] == b"0":
                writer.write(client_frame("40"))
            elif data.startswith(b'42["initial_state"'):
                writer.write(client_frame("41"))  # leave the namespace, then close
                writer.write(b"\x88\x82" + b"\0\0\0\0" + b"\x03\xe8")
                return True
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


class Churn:
    """`loops` sequential visitors in one asyncio loop on a thread; counts visits."""

    def __init__(self, port: int, cookies: list[str], pause_s: float) -> None:
        self.port, self.cookies, self.pause_s = port, cookies, pause_s
        self.visits = self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _loop(self, cookie: str) -> None:
        while not self._stop.is_set():
            try:
                ok = await churn_once(self.port, cookie)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                ok = False
            if ok:
                self.visits += 1
            else:
                self.failures += 1
            await asyncio.sleep(self.pause_s)

    async def _run(self) -> None:
        await asyncio.gather(*(self._loop(c) for c in self.cookies))

    def start(self) -> Churn:
        if self.cookies:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)


def probe_doc(target: Any) -> dict[str, Any]:
    found = sorted(target.control.glob("web-probe-*.json"))
    if not found:
        return {}
    try:
        doc: dict[str, Any] = json.loads(found[-1].read_text())
    except (OSError, ValueError):
        return {}
    return doc


def run(args: argparse.Namespace) -> dict[str, Any]:
    env = {
        "VIGIL_SIM_SPEED": str(args.speed),
        "VIGIL_SIM_TICK_MS": "100",
        "VIGIL_STRATEGY": "demo",
        "VIGIL_SIM_HISTORY_S": "600",
    }
    web_env = {"VIGIL_BENCH_PROBE_S": str(args.sample_every)}
    if args.trace:
        web_env["VIGIL_BENCH_TRACE"] = "1"
    for item in args.env:
        key, _, value = item.partition("=")
        web_env[key] = value
    with tempfile.TemporaryDirectory(prefix="vigil-web-rss-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        target = start(work, args.clients, args.churn, web_env, **env)
        fleet: Fleet | None = None
        churn: Churn | None = None
        out: dict[str, Any] = {}
        try:
            if args.clients:
                fleet = Fleet(target, args.clients, 1, args.seconds + 600)
                out["connected"] = fleet.wait_connected(120)
            steady_accounts = -(-args.clients // harness.PER_ACCOUNT)
            churn_cookies = target.cookies[steady_accounts : steady_accounts + args.churn]
            churn = Churn(target.ports[0], churn_cookies, args.churn_pause).start()
            admin = Admin(target)
            # A new connection per request, as the soak's minute apart gets (gunicorn closes an
            # idle keep-alive after 5 s); reusing one here could race that close.
            admin.session.headers["Connection"] = "close"
            go = threading.Thread(target=target.pace, args=(args.rate, args.seconds), daemon=True)
            go.start()
            started = time.monotonic()
            next_halt, k = started + args.halt_every, 0
            while time.monotonic() < started + args.seconds:
                if not all(p.alive() for p in target.procs):
                    raise RuntimeError("a process died: " + str(target.rss_mib()))
                if args.halt_every and time.monotonic() >= next_halt:
                    k += 1
                    admin.halt(0, f"web-rss halt {k}")
                    time.sleep(2)
                    admin.reset(0, f"web-rss reset {k}")
                    next_halt += args.halt_every
                time.sleep(0.5)
            churn.stop()
            time.sleep(args.sample_every + 1)  # one sample after the churn ended
            out["probe"] = probe_doc(target)
            out["halts"] = k
            out["visits"], out["visit_failures"] = churn.visits, churn.failures
            if fleet is not None:
                result = fleet.finish()
                fleet = None
                out["events"] = sum(result["per_client_total"].values())
                out["dropped"] = result["dropped"]
        finally:
            if churn is not None:
                churn.stop()
            if fleet is not None:
                fleet.finish()
            target.stop()
    return out


def report(out: dict[str, Any], warmup: float) -> str:
    samples = out["probe"].get("samples", [])
    if not samples:
        return "no probe samples (see the web process's log)"
    traced = "traced_kib" in samples[0]
    lines = [
        "| t s | RSS MiB | heap in use MiB | heap free MiB | heap arena MiB | mmapped MiB | "
        "py blocks | objects |" + (" traced MiB |" if traced else "") + " sockets | maps* | "
        "SQLite conns | fds |",
        "|---|---|---|---|---|---|---|---|" + ("---|" if traced else "") + "---|---|---|---|",
    ]
    step = max(1, len(samples) // 16)
    shown = samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])
    for s in shown:
        m = s["malloc_kib"]
        maps = s["maps"]
        own = ("eio.sockets", "sio.environ", "sqlite connections", "open fds")
        others = sum(v for k, v in maps.items() if k not in own)
        cells = [
            f"{s['t']:.0f}",
            f"{s['rss_kib'] / 1024:.1f}",
            f"{m.get('uordblks', 0) / 1024:.1f}",
            f"{m.get('fordblks', 0) / 1024:.1f}",
            f"{m.get('arena', 0) / 1024:.1f}",
            f"{m.get('hblkhd', 0) / 1024:.1f}",
            f"{s['py_blocks']:,}",
            f"{s['objects']:,}",
            *([f"{s['traced_kib'] / 1024:.1f}"] if traced else []),
            str(maps["eio.sockets"]),
            str(others),
            str(maps.get("sqlite connections", "")),
            str(maps.get("open fds", "")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    base = next((s for s in samples if s["t"] >= warmup), samples[0])
    last = samples[-1]
    span_h = max(last["t"] - base["t"], 1e-9) / 3600

    def grew(a: float, b: float, unit: float = 1024) -> str:
        return f"{(b - a) / unit:+.1f} ({(b - a) / unit / span_h:+.1f}/h)"

    bm, lm = base["malloc_kib"], last["malloc_kib"]
    lines += [
        "",
        "\\* the sum of the per-socket maps' sizes (event guard, rooms, sid maps, metrics, "
        "connection guard); SQLite conns: open in the web process's four stores; at the end: "
        + json.dumps(last["maps"]),
        "",
        f"From t={base['t']:.0f} s to t={last['t']:.0f} s, MiB: RSS "
        f"{grew(base['rss_kib'], last['rss_kib'])}, heap in use "
        f"{grew(bm.get('uordblks', 0), lm.get('uordblks', 0))}, heap free "
        f"{grew(bm.get('fordblks', 0), lm.get('fordblks', 0))}"
        + (f", traced {grew(base['traced_kib'], last['traced_kib'])}" if traced else "")
        + f"; Python blocks {last['py_blocks'] - base['py_blocks']:+,}, objects "
        f"{last['objects'] - base['objects']:+,}.",
        f"Churn: {out['visits']:,} visits ({out['visit_failures']:,} failed); halts and "
        f"resets: {out['halts']}; events delivered to the steady clients: "
        f"{out.get('events', 0):,} ({out.get('dropped', 0)} dropped).",
        "",
        "Object types that grew most since the first sample: "
        + ", ".join(f"{name} {n:+,}" for name, n in out["probe"].get("types_grown", [])[:10]),
    ]
    sites = out["probe"].get("sites_grown")
    if sites:
        lines += ["", "tracemalloc, the sites that grew most since the first sample:", "", "```"]
        for kib, count, frames in sites[:8]:
            lines.append(f"{kib:+,} KiB, {count:+,} blocks")
            lines.extend(f"    {f}" for f in frames[-4:])
        lines.append("```")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--warmup", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0, help="progress events/s")
    parser.add_argument("--speed", type=float, default=60.0, help="VIGIL_SIM_SPEED")
    parser.add_argument("--churn", type=int, default=4, help="connect/disconnect loops")
    parser.add_argument("--churn-pause", type=float, default=0.1)
    parser.add_argument("--halt-every", type=float, default=30.0, help="0: never")
    parser.add_argument("--sample-every", type=float, default=10.0)
    parser.add_argument("--trace", action="store_true", help="tracemalloc in the web process")
    parser.add_argument("--env", action="append", default=[], help="K=V for the web process")
    parser.add_argument("--keep", default="", help="a new directory kept for its logs")
    args = parser.parse_args(argv)
    if not 30 <= args.seconds <= 4 * 3600 or not 0 <= args.clients <= 1000:
        parser.error("--seconds must be in 30..14400 and --clients in 0..1000")
    if not 0 <= args.churn <= 30 or not 0 < args.rate <= 5000:
        parser.error("--churn must be in 0..30 and --rate in (0, 5000]")
    command = " ".join(["python bench/bench_web_rss.py", *(argv or sys.argv[1:])])
    print("### Web process memory over Redis (one gevent worker, probed from inside)\n")
    print(f"Command: `{command}`  ")
    print(f"Machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M %Z')}; {load()} at start\n")
    out = run(args)
    print(report(out, args.warmup))
    print(f"\n{load()} at the end.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
