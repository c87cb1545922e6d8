"""Reading recorded OHLCV bars for the replay feed: timestamps, columns and row checks."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path

from engine.market.bars import TIMEFRAMES
from engine.venues.bar_trades import BarRow, format_ts

REQUIRED = ("timestamp", "open", "high", "low", "close", "volume")
_EPOCH_RE = re.compile(r"^\d+(\.\d+)?$")
# Beyond 1e11 a number is read as milliseconds: 1e11 seconds is the year 5138, while 1e11
# milliseconds is 1973, so no plausible recording is ambiguous.
_MS_THRESHOLD = 1e11
_MAX_DECIMALS = 8


class ReplayFileError(ValueError):
    """One line naming the file, the line and the problem (and the variable at fault)."""

    def __init__(self, message: str, variable: str = "VIGIL_REPLAY_CSV") -> None:
        super().__init__(message)
        self.variable = variable


@dataclass
class ReplayData:
    """Every symbol's bars in time order, the bar length and the price decimals seen."""

    rows: dict[str, list[BarRow]]
    interval: int
    decimals: dict[str, int]


def parse_timestamp(text: str) -> float:
    """Epoch seconds from ISO 8601 (`T` or a space; `Z` or an offset) or epoch s / ms.

    A time without a zone is refused rather than guessed: a recording read in the wrong zone
    would put every bar hours away from the market it came from.
    """
    value = text.strip()
    if not value:
        raise ValueError("empty timestamp")
    if _EPOCH_RE.match(value):
        if "." in value:
            seconds = float(value)
            return seconds / 1000 if seconds >= _MS_THRESHOLD else seconds
        number = int(value)
        # int / int is correctly rounded, so 1585728000123 ms is the same float as the ISO
        # form's datetime.timestamp().
        return number / 1000 if number >= _MS_THRESHOLD else float(number)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"timestamp {value!r} is neither ISO 8601 nor epoch seconds/milliseconds"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone (add Z or an offset like +00:00)")
    return parsed.timestamp()


def load_replay(paths: list[Path], symbols: list[str]) -> ReplayData:
    """Read `paths`; a file without a `symbol` column takes the name from `symbols` in order.

    Raises ReplayFileError naming the file and line of the first problem.
    """
    rows: dict[str, list[BarRow]] = {}
    decimals: dict[str, int] = {}
    plain = iter(symbols)
    for path in paths:
        for symbol, row, places in _read(path, plain):
            previous = rows.setdefault(symbol, [])
            if previous and row.t <= previous[-1].t:
                word = "repeats" if row.t == previous[-1].t else "comes before"
                raise ReplayFileError(
                    f"{path} line {row.line}: timestamp {format_ts(row.t)} {word} the "
                    f"previous {symbol} row's {format_ts(previous[-1].t)} "
                    "(rows must be in time order, one per bar)"
                )
            previous.append(row)
            decimals[symbol] = max(decimals.get(symbol, 0), places)
    unused = list(plain)
    if unused:
        raise ReplayFileError(
            f"{', '.join(unused)} names no file: each file without a symbol column takes one "
            "symbol, in order (a file with a symbol column needs none)",
            "VIGIL_REPLAY_SYMBOL",
        )
    interval = _interval(paths, rows)
    return ReplayData(rows=rows, interval=interval, decimals=decimals)


def _read(path: Path, plain: Iterator[str]) -> list[tuple[str, BarRow, int]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ReplayFileError(f"{path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ReplayFileError(f"{path}: is not a UTF-8 text file") from None
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise ReplayFileError(
            f"{path}: the file is empty (expected a header line {','.join(REQUIRED)})"
        )
    reader = csv.reader(lines)
    raw_header = next(reader)
    header = [name.strip().lower() for name in raw_header]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        if raw_header and _looks_like_data(raw_header[0]):
            raise ReplayFileError(
                f"{path} line 1: no header (the first line must name the columns "
                f"{','.join(REQUIRED)}[,symbol])"
            )
        raise ReplayFileError(
            f"{path} line 1: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (the header has {', '.join(header) or 'nothing'})"
        )
    index = {name: header.index(name) for name in (*REQUIRED, "symbol") if name in header}
    fixed_symbol: str | None = None
    if "symbol" not in index:
        fixed_symbol = next(plain, None)
        if fixed_symbol is None:
            raise ReplayFileError(
                f"{path}: has no symbol column, so VIGIL_REPLAY_SYMBOL must name its symbol"
            )
    out: list[tuple[str, BarRow, int]] = []
    for number, fields in enumerate(reader, start=2):
        if not fields or not any(f.strip() for f in fields):
            continue
        where = f"{path} line {number}"
        if len(fields) != len(header):
            raise ReplayFileError(
                f"{where}: expected {len(header)} fields like the header, got {len(fields)}"
            )
        symbol = fixed_symbol or fields[index["symbol"]].strip()
        if not symbol:
            raise ReplayFileError(f"{where}: the symbol is empty")
        try:
            t = parse_timestamp(fields[index["timestamp"]])
        except ValueError as exc:
            raise ReplayFileError(f"{where}: {exc}") from None
        values, places = _numbers(where, fields, index)
        o, h, l, c, v = values  # noqa: E741
        _check_bar(where, o, h, l, c, v)
        out.append((symbol, BarRow(t, o, h, l, c, v, number, str(path)), places))
    if not out:
        raise ReplayFileError(f"{path}: has a header but no rows")
    return out


def _looks_like_data(first: str) -> bool:
    try:
        parse_timestamp(first)
    except ValueError:
        return False
    return True


def _numbers(
    where: str, fields: list[str], index: dict[str, int]
) -> tuple[tuple[float, float, float, float, float], int]:
    values = []
    places = 0
    for name in ("open", "high", "low", "close", "volume"):
        raw = fields[index[name]].strip()
        try:
            number = Decimal(raw)
            value = float(raw)
        except (InvalidOperation, ValueError):
            raise ReplayFileError(f"{where}: {name} is not a number ({raw!r})") from None
        if not math.isfinite(value):
            raise ReplayFileError(f"{where}: {name} is not a finite number ({raw!r})")
        if name != "volume":
            if value <= 0:
                raise ReplayFileError(f"{where}: {name} must be positive (got {raw})")
            exponent = number.normalize().as_tuple().exponent
            places = max(places, -exponent if isinstance(exponent, int) else 0)
        elif value < 0:
            raise ReplayFileError(f"{where}: volume must not be negative (got {raw})")
        values.append(value)
    o, h, l, c, v = values  # noqa: E741
    return (o, h, l, c, v), min(places, _MAX_DECIMALS)


def _check_bar(where: str, o: float, h: float, l: float, c: float, v: float) -> None:  # noqa: E741
    if h < l:
        raise ReplayFileError(f"{where}: high {h:.10g} is below low {l:.10g}")
    for name, value in (("open", o), ("close", c)):
        if not l <= value <= h:
            raise ReplayFileError(
                f"{where}: {name} {value:.10g} is outside the bar's low {l:.10g} .. high {h:.10g}"
            )


def _interval(paths: list[Path], rows: dict[str, list[BarRow]]) -> int:
    """The bar length: the smallest step between a symbol's rows when it is one of Vigil's
    timeframes (1s, 1m, 5m, 15m, 1h, 4h, 1d). A sparse recording (no two adjacent bars) gets the
    longest timeframe, no longer than its smallest step, that every row starts on.

    Every row must start on that grid, or the bars Vigil builds would straddle two of the
    file's rows and could not equal them.
    """
    steps = [b.t - a.t for series in rows.values() for a, b in pairwise(series)]
    step = min(steps) if steps else 60.0
    allowed = sorted(TIMEFRAMES.values())
    starts = [row.t for series in rows.values() for row in series]
    if step in allowed:
        interval = int(step)
    else:
        fitting = [s for s in allowed if s <= step and all(t % s == 0 for t in starts)]
        if not fitting:
            where = ", ".join(str(p) for p in paths)
            names = ", ".join(TIMEFRAMES)
            raise ReplayFileError(
                f"{where}: bars {step:g} s apart that start on no grid of {names}"
            )
        interval = fitting[-1]
    for symbol, series in rows.items():
        for row in series:
            if row.t % interval:
                raise ReplayFileError(
                    f"{row.source} line {row.line}: {symbol} bar at {format_ts(row.t)} does not "
                    f"start on a whole {interval} s boundary"
                )
    return interval
