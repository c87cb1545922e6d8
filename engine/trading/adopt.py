"""Adopting the venue's positions: what an admin's acknowledgement of a mismatch books.

A position the venue holds and Vigil does not (opened before Vigil, by hand, by another app)
keeps trading REDUCING until an admin acknowledges it. Acknowledging says "this is the
account's truth": for each symbol Vigil trades, the difference is booked as one fill at the
venue's average price, so the position shows on the page, counts in P&L and is closed by a
flatten. A symbol Vigil does not trade (not in VIGIL_SYMBOLS: no instrument, no market data)
cannot be booked; it is named so the operator can add it or close it at the venue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from engine.models import Fill, Instrument, Position, Side
from engine.venues.base import VenuePosition

QTY_TOLERANCE = 1e-9
ADOPTED_ORDER_ID = "ADOPTED"


@dataclass
class Adoption:
    fills: list[Fill] = field(default_factory=list)
    # Symbols the venue holds that Vigil cannot book, with why.
    skipped: dict[str, str] = field(default_factory=dict)


def adoption_fills(
    symbols: Iterable[str],
    venue: Iterable[VenuePosition],
    ours: Mapping[str, Position],
    instruments: Mapping[str, Instrument],
    now: float,
) -> Adoption:
    """For each of `symbols` (the mismatched ones): the fill that makes Vigil hold what the
    venue holds, priced so the combined average equals the venue's."""
    held: dict[str, tuple[float, float]] = {}
    for p in venue:
        qty, cost = held.get(p.symbol, (0.0, 0.0))
        held[p.symbol] = (qty + p.qty, cost + p.qty * p.avg_price)
    result = Adoption()
    for symbol in sorted(set(symbols)):
        venue_qty, venue_cost = held.get(symbol, (0.0, 0.0))
        mine = ours.get(symbol)
        my_qty = mine.qty if mine is not None else 0.0
        diff = venue_qty - my_qty
        if abs(diff) <= QTY_TOLERANCE:
            continue
        if symbol not in instruments:
            result.skipped[symbol] = (
                "not in VIGIL_SYMBOLS: add it to track it, or close it at the venue"
            )
            continue
        price = _price(venue_qty, venue_cost, mine, diff)
        if price is None:
            result.skipped[symbol] = "the venue reports no average price for it"
            continue
        side = Side.BUY if diff > 0 else Side.SELL
        ts_ms = int(now * 1000)
        result.fills.append(
            Fill(
                ADOPTED_ORDER_ID,
                symbol,
                side,
                abs(diff),
                price,
                0.0,
                now,
                f"adopt:{symbol}:{ts_ms}",
            )
        )
    return result


def _price(venue_qty: float, venue_cost: float, mine: Position | None, diff: float) -> float | None:
    """The adoption fill's price: the venue's average when Vigil held nothing (or the fill
    flips or closes the position), else the price that makes the averages agree."""
    venue_avg = venue_cost / venue_qty if abs(venue_qty) > QTY_TOLERANCE else None
    if mine is None or abs(mine.qty) <= QTY_TOLERANCE or mine.qty * diff < 0:
        if venue_avg is not None and venue_avg > 0:
            return venue_avg
        return mine.avg_price if mine is not None and mine.avg_price > 0 else None
    solved = (venue_cost - mine.qty * mine.avg_price) / diff
    if solved > 0:
        return solved
    return venue_avg if venue_avg is not None and venue_avg > 0 else None
