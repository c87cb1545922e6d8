"""Benchmark of the kill switch quiet vs. while a viewer floods the server with request_state.

Run from the repository root: ``python bench/bench_kill_switch_flood.py [--rounds 60]``.

The server runs as the Procfile does (gunicorn, one gthread worker), with the settings of
bench_kill_switch.py. Two admin python-socketio clients (A, B) time the same round as that
script: A places `--orders` resting limits (not timed), emits `kill_switch {"level": "halt"}`,
and the round's total is max(ack at A, `kill_switch_activated` at B) - t0; then A resets.
Rounds alternate in blocks of `--block`: quiet blocks, and flood blocks during which each of
`--flooders` viewer clients (their own login, raw websocket) sends `request_state` with an ack
id at `--rate` events/s, reading whatever comes back and reconnecting at once when the server
drops it. The flooders run in this process, so they also compete for the machine's cores.
Prints both phases, the flood/quiet ratios, what the flooders got back, and the worker's peak
RSS (VmHWM) before and after.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import websocket  # noqa: E402
from bench_kill_switch import (  # noqa: E402
    SYMBOLS,
    Client,
    Round,
    check_round,
    load,
    machine,
    percentile,
    place_resting_orders,
    start_server,
    table,
)

from engine.users import UserStore  # noqa: E402
from tests.conftest import ADMIN_PASSWORD, wait_until  # noqa: E402

VIEWER, VIEWER_PASSWORD = "flood-viewer", "flood-viewer-pass-1"
TARGET_RATIO = 2.0


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker_pid(server: Any) -> int:
    pid = server.proc.pid
    return int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])


class Flooder:
    """One viewer sending request_state at `rate`/s; reconnects whenever it is dropped."""

    def __init__(self, url: str, cookie: str, rate: float) -> None:
        self.ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.cookie, self.rate = cookie, rate
        self.running = threading.Event()
        self.quit = threading.Event()
        self.sent = self.ok = self.limited = self.other = self.drops = self.refused = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _connect(self) -> Any:
        ws = websocket.create_connection(
            self.ws_url, cookie=self.cookie, suppress_origin=True, timeout=10
        )
        ws.recv()  # Engine.IO open
        ws.send("40")
        while not ws.recv().startswith("40"):
            pass
        return ws

    def _run(self) -> None:
        while not self.quit.is_set():
            if not self.running.wait(0.1):
                continue
            try:
                ws = self._connect()
            except (OSError, websocket.WebSocketException):
                self.refused += 1  # e.g. 429/503 from the connection caps
                self.quit.wait(0.05)
                continue
            reader = threading.Thread(target=self._read, args=(ws,), daemon=True)
            reader.start()
            started, n = time.perf_counter(), 0
            try:
                while self.running.is_set():
                    ws.send(f"42{n % 100_000}" + '["request_state"]')
                    n += 1
                    self.sent += 1
                    ahead = n / self.rate - (time.perf_counter() - started)
                    if ahead > 0:
                        self.quit.wait(ahead)  # paced at `rate`; a quit ends the wait
            except (OSError, websocket.WebSocketException):
                self.drops += 1
            finally:
                ws.close()
                reader.join(5)

    def _read(self, ws: Any) -> None:
        try:
            while True:
                message = ws.recv()
                if not message:
                    return
                if message == "2":
                    ws.send("3")
                elif message.startswith("43"):
                    if "RATE_LIMITED" in message:
                        self.limited += 1
                    elif '"ok":true' in message.replace(" ", ""):
                        self.ok += 1
                    else:
                        self.other += 1
        except (OSError, websocket.WebSocketException):
            return


def run(args: argparse.Namespace) -> tuple[dict[str, list[float]], list[Flooder], float, float]:
    totals: dict[str, list[float]] = {"quiet": [], "flood": []}
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        data_dir = Path(tmp) / "var"
        data_dir.mkdir(parents=True)
        UserStore(data_dir / "vigil.sqlite3").add(VIEWER, VIEWER_PASSWORD, "viewer")
        server = start_server(data_dir)
        clients: list[Client] = []
        flooders: list[Flooder] = []
        try:
            pid = worker_pid(server)
            http = server.login()
            a = Client(server, server.login(), "A")
            clients.append(a)
            b = Client(server, server.login(), "B")
            clients.append(b)
            a.wait_for_quotes(SYMBOLS)
            for _ in range(args.flooders):
                session = server.login(VIEWER, VIEWER_PASSWORD)
                cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
                flooders.append(Flooder(server.url, cookie, args.rate))
            rss_before = peak_rss_mib(pid)
            i = 0
            while min(len(v) for v in totals.values()) < args.rounds:
                phase = "flood" if (i // args.block) % 2 else "quiet"
                for flooder in flooders:
                    if phase == "flood":
                        flooder.running.set()
                    else:
                        flooder.running.clear()
                if phase == "flood" and i % args.block == 0:
                    # The block's first round starts once every flooder is sending again.
                    marks = [f.sent for f in flooders]
                    wait_until(
                        lambda marks=marks: all(
                            f.sent - m >= 20 for f, m in zip(flooders, marks, strict=True)
                        ),
                        30,
                        "the flood under way",
                    )
                place_resting_orders(a, args.orders)
                rnd = Round(a, b, f"flood bench round {i}")
                rnd.run()
                check_round(server, http, rnd, args.orders)
                if i >= args.warmup and len(totals[phase]) < args.rounds:
                    ack_ms, b_ms = (rnd.t_ack - rnd.t0) * 1000, (rnd.t_b - rnd.t0) * 1000
                    totals[phase].append(max(ack_ms, b_ms))
                reset = a.call(
                    "reset_kill_switch",
                    {"reason": "bench reset", "confirm": "RESET", "password": ADMIN_PASSWORD},
                )
                if not reset.get("ok"):
                    raise RuntimeError(f"reset refused: {reset}")
                i += 1
                if i % 20 == 0:
                    print(f"  {i} rounds", file=sys.stderr, flush=True)
            rss_after = peak_rss_mib(pid)
        finally:
            for flooder in flooders:
                flooder.running.clear()
                flooder.quit.set()
            for flooder in flooders:
                flooder.thread.join(10)
            for client in clients:
                client.close()
            server.stop()
    return totals, flooders, rss_before, rss_after


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60, help="timed rounds per phase (>= 50)")
    parser.add_argument("--block", type=int, default=10, help="rounds per quiet/flood block")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first")
    parser.add_argument("--orders", type=int, default=100, help="resting orders per halt")
    parser.add_argument("--flooders", type=int, default=1, help="flooding viewer clients")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s per flooder")
    args = parser.parse_args(argv)
    if args.rounds < 50:
        parser.error("--rounds must be >= 50 for a p99")
    command = " ".join(
        ["python bench/bench_kill_switch_flood.py", *(sys.argv[1:] if argv is None else argv)]
    )
    print("### Kill switch quiet vs. under a request_state flood\n")
    print(f"Command: `{command}`  ")
    print(f"Machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M %Z')}; {load()} at start\n")
    totals, flooders, rss_before, rss_after = run(args)
    print(f"{load()} at the end.\n")
    print(
        table(
            {
                "quiet: max(ack, B event) - t0": totals["quiet"],
                f"flood ({args.flooders} x {args.rate:g}/s): max(ack, B event) - t0": totals[
                    "flood"
                ],
            }
        )
    )
    median_ratio = statistics.median(totals["flood"]) / statistics.median(totals["quiet"])
    p99_ratio = percentile(totals["flood"], 99) / percentile(totals["quiet"], 99)
    print(f"\nRatio flood/quiet: median {median_ratio:.2f}x, p99 {p99_ratio:.2f}x")
    sent = sum(f.sent for f in flooders)
    print(
        f"Flooders: {sent} request_state sent; answered ok {sum(f.ok for f in flooders)}, "
        f"RATE_LIMITED {sum(f.limited for f in flooders)}, other {sum(f.other for f in flooders)}; "
        f"dropped by the server {sum(f.drops for f in flooders)} times, "
        f"reconnects refused {sum(f.refused for f in flooders)}"
    )
    print(
        f"Worker peak RSS (VmHWM): {rss_before:.0f} MiB before the first flood, "
        f"{rss_after:.0f} MiB at the end"
    )
    met = median_ratio <= TARGET_RATIO
    print(
        f"\nTarget: median under the flood <= {TARGET_RATIO:g}x quiet: "
        f"{'met' if met else 'NOT met'}\n"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
