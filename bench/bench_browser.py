"""Browser benchmark (issue 6): first full render after login, and long tasks at ~1,000 ticks/s.

Run from the repository root: ``python bench/bench_browser.py [--runs 3] [--seconds 30]``.

Targets: the first full render is at most 1 s after the login form is submitted; while the
simulated feed produces about 1,000 trade ticks/s, the page has no long task (> 50 ms) over
30 s.

It starts the real server as the Procfile does (gunicorn, one gthread worker,
`tests/server_process.ServerProcess`) with a temporary data directory and the simulated feed
sped up: `VIGIL_SIM_TICK_MS=50`, `VIGIL_SIM_SPEED=83`. The feed's trade rates sum to 12.1
trades per simulated second (engine/venues/sim/feed.py), so that is ~1,000 trade ticks/s of wall
time, plus one quote and one book per symbol per step (~220 events/s). The rate is measured,
not assumed: after each run the ticks the engine cached during the run's window are counted
from `GET /api/ticks.csv` for every symbol. (`events_per_s` in the health payload cannot show
it: it counts the last 2,000 events over 5 s, so it reads at most 400.)

Each run opens a fresh browser context (Debian's chromium via Playwright, the browser tests'
CHROMIUM_ARGS, 1600x1000), submits the login form and waits for the first *full render*, the
first animation frame in which all of these hold:

- the header balance shows a dollar amount (`#balance` contains "$");
- the order book has 10 bid rows, each with a price (`#orderbook .bid-row [data-field=price]`);
- the candlestick chart has candles (`window.__vigilChart.candles() > 0`);
- the circuit breakers are rendered (at least one `#breakers .breaker`).

Time zero is the form's `submit` event (recorded by an init script in capture phase, before
the page's own handler); both ends are `Date.now()` in the browser. Milestones on the way (page
response, socket connected, snapshot applied) are recorded the same way.

Then it watches the page for `--seconds` with PerformanceObserver `longtask` and
`long-animation-frame` (both buffered; the latter attributes the frame to scripts by URL and
function). Long tasks are reported for the window after the full render only; those during the
initial load are listed separately. `--profile` also samples the page with the CDP `Profiler`
during the window and prints the functions with the most self time, overall and inside long
tasks (profile and page clocks are aligned to within a few ms).

Only 127.0.0.1 is contacted; the server and the browser are stopped at the end.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.browser_report import LONG_TASK_MS, report  # noqa: E402
from bench.stats import load, machine  # noqa: E402
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path  # noqa: E402
from tests.conftest import ADMIN_PASSWORD, wait_until  # noqa: E402
from tests.server_process import ServerProcess  # noqa: E402

T0_KEY = "vigil-bench-t0"

# Runs in every document of the context before the page's own scripts.
INIT_SCRIPT = """
(() => {
  if (location.pathname === "/login") {
    document.addEventListener("submit", () => {
      sessionStorage.setItem("T0_KEY", String(Date.now()));
    }, true);
    return;
  }
  if (location.pathname !== "/") return;
  const b = (window.__bench = { marks: {}, longtasks: [], loafs: [] });
  const observe = (type, fn) => {
    try {
      const po = new PerformanceObserver((list) => list.getEntries().forEach(fn));
      po.observe({ type, buffered: true });
    } catch (err) {
      b[type + "Error"] = String(err);
    }
  };
  observe("longtask", (e) => b.longtasks.push({ start: e.startTime, duration: e.duration }));
  observe("long-animation-frame", (e) => b.loafs.push({
    start: e.startTime,
    duration: e.duration,
    blocking: e.blockingDuration,
    render: e.renderStart ? e.startTime + e.duration - e.renderStart : 0,
    scripts: e.scripts.map((s) => ({
      src: (s.sourceURL || "").replace(location.origin, ""),
      fn: s.sourceFunctionName || "",
      invoker: s.invoker || "",
      duration: s.duration,
    })),
  }));
  const mark = (name) => {
    if (!b.marks[name]) b.marks[name] = { at: Date.now(), perf: performance.now() };
  };
  const checks = {
    connected: () => !!document.querySelector("#conn-status[data-state=connected]"),
    snapshot: () => document.body.classList.contains("has-state"),
    balance: () => (document.querySelector("#balance")?.textContent || "").includes("$"),
    book: () => {
      const cells = document.querySelectorAll("#orderbook .bid-row [data-field=price]");
      return cells.length === 10 && Array.from(cells).every((c) => c.textContent.trim() !== "");
    },
    chart: () => !!window.__vigilChart && window.__vigilChart.candles() > 0,
    breakers: () => document.querySelectorAll("#breakers .breaker").length > 0,
  };
  const poll = () => {
    for (const [name, ok] of Object.entries(checks)) if (!b.marks[name] && ok()) mark(name);
    if (["balance", "book", "chart", "breakers"].every((k) => b.marks[k])) mark("full");
    else requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
})();
""".replace("T0_KEY", T0_KEY)


def count_ticks(session: Any, url: str, symbols: list[str], start_ms: float, end_ms: float) -> int:
    """Trade ticks the engine cached with start_ms <= ts < end_ms, over every symbol."""
    total = 0
    for symbol in symbols:
        answer = session.get(f"{url}/api/ticks.csv", params={"symbol": symbol}, timeout=60)
        answer.raise_for_status()
        for row in csv.DictReader(io.StringIO(answer.text)):
            if start_ms <= int(row["ts_ms"]) < end_ms:
                total += 1
    return total


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by every live process in a process group."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields[0] is the state; pgrp is the 5th field overall
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def metric(session: Any, url: str, name: str) -> float:
    for line in session.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise KeyError(name)


def profile_hotspots(
    profile: dict[str, Any], offset_ms: float, windows: list[tuple[float, float]]
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Self time per function (ms): overall, and inside the given page-time windows."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    overall: dict[str, float] = {}
    inside: dict[str, float] = {}
    t = profile["startTime"] / 1000.0
    samples, deltas = profile.get("samples", []), profile.get("timeDeltas", [])
    for i, (node_id, delta) in enumerate(zip(samples, deltas, strict=False)):
        t += delta / 1000.0
        nxt = deltas[i + 1] / 1000.0 if i + 1 < len(deltas) else 0.0
        frame = nodes[node_id]["callFrame"]
        url = frame.get("url", "").rsplit("/", 1)[-1]
        name = (
            f"{frame.get('functionName') or '(anonymous)'} {url}:{frame.get('lineNumber', 0) + 1}"
        )
        if not url:
            name = frame.get("functionName") or "(native)"
        overall[name] = overall.get(name, 0.0) + nxt
        page_t = t - offset_ms
        if any(a <= page_t <= b for a, b in windows):
            inside[name] = inside.get(name, 0.0) + nxt
    top = sorted(overall.items(), key=lambda kv: -kv[1])[:15]
    return top, sorted(inside.items(), key=lambda kv: -kv[1])[:15]


def one_run(browser: Any, server: ServerProcess, seconds: float, profile: bool) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, bypass_csp=True)
    context.add_init_script(INIT_SCRIPT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{server.url}/login")
        page.fill("#username", "admin")
        page.fill("#password", ADMIN_PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server.url}/")
        page.wait_for_function("window.__bench && window.__bench.marks.full", timeout=60_000)
        t0 = float(page.evaluate(f"sessionStorage.getItem('{T0_KEY}')"))
        bench = page.evaluate("window.__bench")
        marks = {k: v["at"] - t0 for k, v in bench["marks"].items()}
        nav = page.evaluate(
            "(() => { const n = performance.getEntriesByType('navigation')[0];"
            " return performance.timeOrigin + n.responseEnd; })()"
        )
        marks["page response"] = nav - t0
        # The new document's navigation starts when login.js has its answer and redirects.
        marks["login answered"] = float(page.evaluate("performance.timeOrigin")) - t0
        cdp = None
        if profile:
            cdp = context.new_cdp_session(page)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 250})
            cdp.send("Profiler.start")
        window_start = float(page.evaluate("performance.now()"))
        page.wait_for_timeout(seconds * 1000)
        window_end = float(page.evaluate("performance.now()"))
        prof = cdp.send("Profiler.stop")["profile"] if cdp is not None else None
        bench = page.evaluate("window.__bench")
        full_perf = bench["marks"]["full"]["perf"]
        during = [e for e in bench["longtasks"] if window_start <= e["start"] <= window_end]
        loading = [e for e in bench["longtasks"] if e["start"] < full_perf]
        loafs = [
            e
            for e in bench["loafs"]
            if window_start <= e["start"] <= window_end and e["duration"] > LONG_TASK_MS
        ]
        result: dict[str, Any] = {
            "marks": marks,
            "full_ms": marks["full"],
            "window_s": (window_end - window_start) / 1000.0,
            "longtasks": during,
            "loading_longtasks": loading,
            "loafs": loafs,
            "errors": errors,
            "observer_errors": {k: v for k, v in bench.items() if k.endswith("Error")},
        }
        if prof is not None:
            # Profile time is monotonic µs; align its start with the page clock at start().
            offset = prof["startTime"] / 1000.0 - window_start
            spans = [(e["start"], e["start"] + e["duration"]) for e in during]
            result["hot"], result["hot_in_long"] = profile_hotspots(prof, offset, spans)
        return result
    finally:
        context.close()


def chromium_version(path: str) -> str:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "chromium (version unknown)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0, help="long-task window per run")
    parser.add_argument("--tick-ms", type=int, default=50, help="VIGIL_SIM_TICK_MS")
    parser.add_argument("--speed", type=float, default=83.0, help="VIGIL_SIM_SPEED")
    parser.add_argument("--history", type=float, default=1800.0, help="VIGIL_SIM_HISTORY_S")
    parser.add_argument("--profile", action="store_true", help="CDP Profiler during the window")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 20 or not 5 <= args.seconds <= 600:
        parser.error("--runs must be in 1..20 and --seconds in 5..600")
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    command = " ".join(["python bench/bench_browser.py", *(sys.argv[1:] if argv is None else argv)])
    print("### Browser: first full render and long tasks at ~1,000 trade ticks/s\n")
    print(f"Command: `{command}`  ")
    print(
        f"Machine: {machine()}, {chromium_version(path)}; {time.strftime('%Y-%m-%d %H:%M %Z')}; "
        f"{load()} at start  "
    )
    print(
        f"Server: `VIGIL_SIM_TICK_MS={args.tick_ms} VIGIL_SIM_SPEED={args.speed:g} "
        f"VIGIL_SIM_HISTORY_S={args.history:g}`, gunicorn gthread, default strategy\n"
    )
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        server = ServerProcess(
            Path(tmp) / "var",
            VIGIL_SIM_TICK_MS=str(args.tick_ms),
            VIGIL_SIM_SPEED=f"{args.speed:g}",
            VIGIL_SIM_HISTORY_S=f"{args.history:g}",
        ).start(timeout=120)
        try:
            admin = server.login()
            symbols = admin.get(f"{server.url}/api/state", timeout=10).json()["market"]["symbols"]
            # The feed is live once every symbol has a quote after the history warm-up.
            wait_until(
                lambda: (
                    set(symbols)
                    <= set(
                        admin.get(f"{server.url}/api/state", timeout=10).json()["market"]["quotes"]
                    )
                ),
                60,
                "a live quote for every symbol",
            )
            runs, rates = [], []
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
                try:
                    for _ in range(args.runs):
                        dropped0 = metric(admin, server.url, "vigil_market_events_dropped_total")
                        emits0 = metric(admin, server.url, "vigil_socket_emits_total")
                        assert server.proc is not None
                        cpu0 = group_cpu_s(server.proc.pid)
                        start_ms = time.time() * 1000
                        runs.append(one_run(browser, server, args.seconds, args.profile))
                        end_ms = time.time() * 1000
                        span_s = (end_ms - start_ms) / 1000
                        cpu = (group_cpu_s(server.proc.pid) - cpu0) / span_s
                        emits = metric(admin, server.url, "vigil_socket_emits_total") - emits0
                        dropped = metric(admin, server.url, "vigil_market_events_dropped_total")
                        ticks = count_ticks(admin, server.url, symbols, start_ms, end_ms)
                        rates.append(
                            {
                                "ticks_per_s": ticks / span_s,
                                "dropped": dropped - dropped0,
                                # Every client's emits: this page plus none other (requests only).
                                "emits_per_s": emits / span_s,
                                "server_cpu": cpu,
                            }
                        )
                finally:
                    browser.close()
        finally:
            server.stop()
    ok = report(runs, rates, args.seconds)
    print(f"\n{load()} at the end.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
