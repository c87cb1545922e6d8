"""What every benchmark reports: nearest-rank percentiles, a Markdown table, the machine."""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Sequence
from pathlib import Path


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: a value that was actually observed."""
    ordered = sorted(values)
    rank = max(math.ceil(pct / 100.0 * len(ordered)), 1)
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    p90, p99 = percentile(values, 90), percentile(values, 99)
    return {"median": statistics.median(values), "p90": p90, "p99": p99, "max": max(values)}


def table(rows: dict[str, Sequence[float]], unit: str = "ms", digits: int = 2) -> str:
    lines = [
        f"| measure | n | median {unit} | p90 {unit} | p99 {unit} | max {unit} |",
        "|---|---|---|---|---|---|",
    ]
    for name, values in rows.items():
        s = summary(values)
        cells = " | ".join(f"{s[k]:.{digits}f}" for k in ("median", "p90", "p99", "max"))
        lines.append(f"| {name} | {len(values)} | {cells} |")
    return "\n".join(lines)


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) / {five:.2f} (5 min)"


def floors_base_first(servers: Sequence[str]) -> list[str]:
    """The floors among `servers`, once each, the one Vigil is judged against first: the floor
    through Redis when it was measured, else the first one listed."""
    floors = list(dict.fromkeys(name for name in servers if name.startswith("floor")))
    return sorted(floors, key=lambda name: not name.startswith("floor-redis"))
