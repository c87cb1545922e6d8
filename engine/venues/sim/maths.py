"""The simulated market's arithmetic: option specs and prices, random draws, the tick grid."""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

CALENDAR_YEAR_S = 365 * 24 * 3600
OPTION_RE = re.compile(r"^(?P<und>[A-Z./]+) (?P<date>\d{6})(?P<cp>[CP])(?P<strike>\d+(\.\d+)?)$")


@dataclass(frozen=True)
class OptionSpec:
    underlying: str
    expiry_ts: float
    is_call: bool
    strike: float


def parse_option(symbol: str) -> OptionSpec | None:
    """OCC-style "UNDERLYING YYMMDD[C|P]STRIKE"; expiry at 16:00 New York (21:00 UTC)."""
    match = OPTION_RE.match(symbol)
    if match is None:
        return None
    date = match["date"]
    expiry = datetime(2000 + int(date[:2]), int(date[2:4]), int(date[4:]), 21, tzinfo=UTC)
    return OptionSpec(
        underlying=match["und"],
        expiry_ts=expiry.timestamp(),
        is_call=match["cp"] == "C",
        strike=float(match["strike"]),
    )


def black_scholes(spot: float, strike: float, years: float, vol: float, is_call: bool) -> float:
    """Intrinsic value plus time value, zero rates: Black-Scholes with put-call parity."""
    intrinsic = max(spot - strike, 0.0) if is_call else max(strike - spot, 0.0)
    if years <= 0 or vol <= 0:
        return intrinsic
    sd = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + 0.5 * sd * sd) / sd
    call = spot * norm_cdf(d1) - strike * norm_cdf(d1 - sd)
    value = call if is_call else call - spot + strike
    return max(value, intrinsic)


def norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def choose(u: float, options: tuple[tuple[str, float], ...]) -> str:
    total = 0.0
    for name, probability in options:
        total += probability
        if u < total:
            return name
    return options[-1][0]


def poisson(rng: random.Random, mean: float, cap: int) -> int:
    """Knuth's method, capped: a large mean simply yields `cap`."""
    if mean <= 0:
        return 0
    limit = math.exp(-mean)
    count = 0
    product = rng.random()
    while product > limit and count < cap:
        count += 1
        product *= rng.random()
    return count


def decimals(step: float) -> int:
    return max(0, -int(Decimal(repr(step)).normalize().as_tuple().exponent))


def price(ticks: int, tick: float) -> float:
    return round(ticks * tick, decimals(tick))


def round_to(value: float, step: float) -> float:
    return round(round(value / step) * step, decimals(step))


def lots(size: float, lot: float) -> float:
    return round(max(1, round(size / lot)) * lot, decimals(lot))
