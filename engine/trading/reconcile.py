"""Start-up reconciliation: does the broker hold what the store says we hold?"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from engine.models import Order

QTY_TOLERANCE = 1e-9


def reconcile(
    store_orders: Iterable[Order],
    broker_orders: Iterable[Order],
    store_positions: Mapping[str, float],
    broker_positions: Mapping[str, float],
) -> list[str]:
    """Human-readable mismatches; an empty list means both sides agree.

    Orders are compared by id, positions by signed quantity per symbol.
    """
    problems: list[str] = []
    ours = {o.id for o in store_orders if o.status.is_open}
    theirs = {o.id for o in broker_orders if o.status.is_open}
    problems += [
        f"order {oid} is open in the store but unknown to the broker"
        for oid in sorted(ours - theirs)
    ]
    problems += [
        f"order {oid} is open at the broker but not in the store" for oid in sorted(theirs - ours)
    ]
    for symbol in sorted(set(store_positions) | set(broker_positions)):
        mine, broker = store_positions.get(symbol, 0.0), broker_positions.get(symbol, 0.0)
        if abs(mine - broker) > QTY_TOLERANCE:
            problems.append(f"{symbol}: store holds {mine:g}, broker holds {broker:g}")
    return problems
