"""The browser benchmark's report: long frames explained, runs summed up, targets checked."""

from __future__ import annotations

import statistics
from typing import Any

RENDER_TARGET_MS = 1000.0  # first full render after login, ms
LONG_TASK_MS = 50.0  # a frame longer than this is a long task


def describe_loaf(e: dict[str, Any]) -> str:
    scripts = sorted(e["scripts"], key=lambda s: -s["duration"])[:3]
    parts = [
        f"{s['invoker'] or '?'} → {s['fn'] or '?'} {s['src']} {s['duration']:.0f} ms"
        for s in scripts
    ]
    head = f"{e['duration']:.0f} ms frame (blocking {e['blocking']:.0f}, render {e['render']:.0f})"
    return head + (": " + "; ".join(parts) if parts else ": no script attributed")


def report(runs: list[dict[str, Any]], rates: list[dict[str, float]], seconds: float) -> bool:
    med = statistics.median
    full = [r["full_ms"] for r in runs]
    counts = [len(r["longtasks"]) for r in runs]
    maxes = [max((e["duration"] for e in r["longtasks"]), default=0.0) for r in runs]
    after_login = [r["full_ms"] - r["marks"]["login answered"] for r in runs]
    rows = [
        (
            str(i),
            f"{rate['ticks_per_s']:,.0f}",
            f"{rate['dropped']:,.0f}",
            f"{rate['emits_per_s']:,.0f}",
            f"{rate['server_cpu'] * 100:.0f}%",
            f"{r['full_ms']:.0f}",
            f"{after_login[i - 1]:.0f}",
            f"{len(r['longtasks'])}",
            f"{maxes[i - 1]:.0f}",
        )
        for i, (r, rate) in enumerate(zip(runs, rates, strict=True), 1)
    ]
    rows.append(
        (
            "**median**",
            f"{med(x['ticks_per_s'] for x in rates):,.0f}",
            f"{med(x['dropped'] for x in rates):,.0f}",
            f"{med(x['emits_per_s'] for x in rates):,.0f}",
            f"{med(x['server_cpu'] for x in rates) * 100:.0f}%",
            f"**{med(full):.0f}**",
            f"**{med(after_login):.0f}**",
            f"**{med(counts):g}**",
            f"**{med(maxes):.0f}**",
        )
    )
    print(
        "| run | trade ticks/s | feed events dropped | socket emits/s | server CPU "
        "| full render ms (from submit) | (from login answer) | long tasks in window "
        "| longest ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print("\nMilestones after the login submit (ms, median of runs):\n")
    names = [
        "login answered",
        "page response",
        "connected",
        "snapshot",
        "balance",
        "breakers",
        "book",
        "chart",
        "full",
    ]
    print("| " + " | ".join(names) + " |")
    print("|" + "---|" * len(names))
    print(
        "| "
        + " | ".join(f"{med(r['marks'].get(n, float('nan')) for r in runs):.0f}" for n in names)
        + " |"
    )
    for i, r in enumerate(runs, 1):
        if r["loading_longtasks"]:
            durations = ", ".join(f"{e['duration']:.0f}" for e in r["loading_longtasks"])
            print(f"\nRun {i}: long tasks while loading (before the full render), ms: {durations}")
        for e in r["loafs"][:10]:
            print(f"\nRun {i}: long animation frame {describe_loaf(e)}")
        if r.get("hot"):
            print(f"\nRun {i}: CDP profile, self time over the window (ms):\n")
            for name, ms in r["hot"]:
                print(f"- {ms:8.1f}  {name}")
            if r["hot_in_long"]:
                print(f"\nRun {i}: self time inside long tasks (ms):\n")
                for name, ms in r["hot_in_long"]:
                    print(f"- {ms:8.1f}  {name}")
        if r["errors"] or r["observer_errors"]:
            print(f"\nRun {i}: page errors {r['errors']} observer errors {r['observer_errors']}")
    render_ok = med(full) <= RENDER_TARGET_MS
    quiet = med(counts) == 0
    print(
        f"\nTargets: first full render <= {RENDER_TARGET_MS:.0f} ms: "
        f"{'met' if render_ok else 'NOT met'} (median {med(full):.0f} ms); "
        f"no long task over {LONG_TASK_MS:.0f} ms in {seconds:g} s: "
        f"{'met' if quiet else 'NOT met'} (median {med(counts):g} per run, longest "
        f"{max(maxes):.0f} ms)."
    )
    return render_ok and quiet
