"""Many cheap Socket.IO clients in one asyncio loop: raw websockets speaking Engine.IO 4.

    python -m bench.wsclients --port P --clients N --dir D --tag T [--cookies F] [--max-seconds S]

The benchmarks start a few of these processes (the same code for Vigil and for the floor). Each
connection does the websocket upgrade on 127.0.0.1 (with a session cookie the benchmark got by
logging in once per account, client i using cookie i // --per-account), answers Engine.IO pings,
joins the default namespace and then only reads. For every `progress` event it records the age
(its wall clock minus the payload's `t`, ms) under the payload's `run`; for every other event
only its name, and for the kill switch's events the `reason`, per client (the soak checks that
every client saw every safety transition). Connections are opened `--concurrency` at a time;
when all have been tried it writes `ready-<tag>.json` in the control directory, and it stops
when `stop` appears there or after `--max-seconds`, writing its results to `result-<tag>.json`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import struct
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pacer import TOPIC, write_json  # noqa: E402
from tests.dashboard.wsraw import upgrade_request  # noqa: E402

SAFETY_EVENTS = ("kill_switch_activated", "kill_switch_reset")
MASK = b"\0\0\0\0"  # a valid mask that leaves the payload as is


def source_address(index: int) -> str:
    """The client's own loopback address, 127.0.0.2 onwards, one per 1,000 clients: the server
    caps open websockets per client address (VIGIL_MAX_CONNECTIONS_PER_IP, at most 1,024), as
    it would see a thousand users behind one office NAT. The target is always 127.0.0.1."""
    return f"127.0.0.{2 + index // 1000}"


def client_frame(text: str, opcode: int = 1) -> bytes:
    payload = text.encode()
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    else:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    return head + MASK + payload


class Stats:
    """What one process saw, over all its connections."""

    def __init__(self) -> None:
        self.ages: dict[int, list[float]] = defaultdict(list)
        self.per_client: dict[int, Counter[int]] = defaultdict(Counter)  # run -> client -> n
        self.events: Counter[str] = Counter()
        self.per_client_total: Counter[int] = Counter()  # every event, by client
        self.safety: dict[int, list[list[str]]] = defaultdict(list)  # client -> [event, reason]
        self.connected = 0
        self.joined: set[int] = set()
        self.failed: Counter[str] = Counter()
        self.dropped = 0
        self.first_byte_ms: list[float] = []


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b1, b2 = await reader.readexactly(2)
    size = b2 & 0x7F
    if size == 126:
        size = struct.unpack("!H", await reader.readexactly(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", await reader.readexactly(8))[0]
    if b2 & 0x80:
        await reader.readexactly(4)  # a server never masks; read it anyway
    return b1 & 0x0F, await reader.readexactly(size)


async def one_client(
    index: int, port: int, cookie: str, stats: Stats, stop: asyncio.Event, opened: asyncio.Event
) -> None:
    writer: asyncio.StreamWriter | None = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                "127.0.0.1", port, limit=1 << 22, local_addr=(source_address(index), 0)
            ),
            15,
        )
        writer.write(upgrade_request(port, cookie))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            stats.failed[f"HTTP {status}"] += 1
            return
        joined = False
        while not stop.is_set():
            opcode, data = await read_frame(reader)
            if opcode == 8:
                break
            if opcode == 9:
                writer.write(client_frame(data.decode(errors="replace"), 10))
                continue
            if opcode != 1 or not data:
                continue
            kind = data[:1]
            if kind == b"0" and not joined:  # Engine.IO open: join the default namespace
                writer.write(client_frame("40"))
            elif kind == b"2":  # Engine.IO ping from the server
                writer.write(client_frame("3"))
            elif data.startswith(b"40"):
                joined = True
                stats.connected += 1
                stats.joined.add(index)
                opened.set()
            elif data.startswith(b"44"):
                stats.failed["connect refused"] += 1
                return
            elif data.startswith(b"42"):
                on_event(index, data, stats)
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
        if stats.connected and not isinstance(exc, TimeoutError):
            stats.dropped += 1
        else:
            stats.failed[type(exc).__name__] += 1
    finally:
        opened.set()
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def on_event(index: int, data: bytes, stats: Stats) -> None:
    stats.per_client_total[index] += 1
    end = data.find(b'"', 4)
    name = data[4:end].decode(errors="replace")
    if name == TOPIC:
        now = time.time() * 1000.0
        payload = json.loads(data[2:])[1]
        run = payload.get("run")
        if isinstance(run, int) and isinstance(payload.get("t"), float | int):
            stats.ages[run].append(now - payload["t"])
            stats.per_client[run][index] += 1
        return
    stats.events[name] += 1
    if name in SAFETY_EVENTS:
        payload = json.loads(data[2:])[1]
        stats.safety[index].append([name, str(payload.get("reason", ""))])


def cookie_for(args: argparse.Namespace, index: int) -> str:
    cookies: list[str] = args.cookie_list
    return cookies[min(index // max(args.per_account, 1), len(cookies) - 1)]


async def run(args: argparse.Namespace) -> Stats:
    stats = Stats()
    stop = asyncio.Event()
    control = Path(args.dir)
    tasks: list[asyncio.Task[None]] = []
    gate = asyncio.Semaphore(args.concurrency)

    async def start(i: int) -> None:
        async with gate:
            if time.monotonic() > connect_deadline:
                stats.failed["not tried (connect phase over)"] += 1
                return
            opened = asyncio.Event()
            tasks.append(
                asyncio.create_task(
                    one_client(i, args.port, cookie_for(args, i), stats, stop, opened)
                )
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(opened.wait(), 60)

    started = time.monotonic()
    connect_deadline = started + args.connect_seconds
    await asyncio.gather(
        *(start(args.first + i) for i in range(args.clients)), return_exceptions=True
    )
    write_json(
        control / f"ready-{args.tag}.json",
        {
            "connected": stats.connected,
            "failed": dict(stats.failed),
            "s": time.monotonic() - started,
        },
    )
    deadline = started + args.max_seconds
    while time.monotonic() < deadline and not (control / "stop").exists():
        await asyncio.sleep(0.1)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--first", type=int, default=0, help="index of the first client")
    parser.add_argument("--cookies", default="", help="a JSON list of Cookie headers")
    parser.add_argument("--per-account", type=int, default=30, help="clients per cookie")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--connect-seconds", type=float, default=120.0, help="then stop trying")
    args = parser.parse_args()
    args.cookie_list = json.loads(Path(args.cookies).read_text()) if args.cookies else [""]
    args.max_seconds = min(args.max_seconds, 4 * 3600.0)
    stats = asyncio.run(run(args))
    result = {
        "connected": stats.connected,
        "failed": dict(stats.failed),
        "dropped": stats.dropped,
        "events": dict(stats.events),
        "runs": {
            str(run): {
                "ages": [round(a, 3) for a in ages],
                "per_client": dict(stats.per_client[run]),
            }
            for run, ages in stats.ages.items()
        },
        "safety": {str(k): v for k, v in stats.safety.items()},
        "per_client_total": {str(k): v for k, v in stats.per_client_total.items()},
        "connected_clients": sorted(stats.joined),
    }
    write_json(Path(args.dir) / f"result-{args.tag}.json", result)


if __name__ == "__main__":
    main()
