"""Risk overrides with an expiry: the size multiplier, minimum confidence and limit changes an
admin sets for a while, and their reverting by themselves on the engine's clock.

An override only changes how entries are sized and which pre-trade limit applies. It never
touches the kill switch or a breaker: a latched halt or a tripped breaker stays as it is, and
the gateway checks the trading state before any limit.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.models import OrderRequest

if TYPE_CHECKING:
    from engine.bus import EventBus
    from engine.safety.manager import SafetyManager

Audit = Callable[..., None]  # (actor, action, reason=, outcome=, details=)

SIZE_MULTIPLIER = "size_multiplier"
MIN_CONFIDENCE = "min_confidence"
# Neutral values: no override in force means exactly these.
NEUTRAL = {SIZE_MULTIPLIER: 1.0, MIN_CONFIDENCE: 0.0}


@dataclass(frozen=True)
class Override:
    name: str
    value: float | int
    previous: float | int  # in force before it; restored when it ends
    actor: str
    reason: str
    set_ts: float
    expires_ts: float | None  # None: until cleared or the process ends

    def payload(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "previous": self.previous,
            "actor": self.actor,
            "reason": self.reason,
            "set_ts": round(self.set_ts * 1000),
            "expires_ts": None if self.expires_ts is None else round(self.expires_ts * 1000),
        }


class RiskOverrides:
    """The overrides in force, by name; owned by the SafetyManager (engine thread)."""

    def __init__(self) -> None:
        self._active: dict[str, Override] = {}

    def put(self, override: Override) -> Override | None:
        """Set one; returns the override it replaced, if any."""
        replaced = self._active.get(override.name)
        self._active[override.name] = override
        return replaced

    def get(self, name: str) -> Override | None:
        return self._active.get(name)

    def pop(self, name: str) -> Override | None:
        return self._active.pop(name, None)

    def due(self, now: float) -> list[Override]:
        """Remove and return every override whose time is up."""
        ended = [
            o for o in self._active.values() if o.expires_ts is not None and now >= o.expires_ts
        ]
        for override in ended:
            del self._active[override.name]
        return ended

    def value(self, name: str) -> float:
        found = self._active.get(name)
        return float(found.value) if found is not None else NEUTRAL[name]

    def payload(self) -> list[dict[str, Any]]:
        return [o.payload() for o in sorted(self._active.values(), key=lambda o: o.name)]

    def adjust_entry(
        self, req: OrderRequest, confidence: float | None, lot_size: float
    ) -> tuple[OrderRequest | None, str]:
        """An automatic entry as the overrides would have it: (order, "") or (None, why not).

        Exits (reduce-only) are never held back or resized: an override must not keep a
        position open. The multiplier rounds down to whole lots.
        """
        if req.reduce_only:
            return req, ""
        floor = self.value(MIN_CONFIDENCE)
        if confidence is not None and confidence < floor:
            return None, (
                f"{req.side} {req.symbol} skipped: confidence {confidence:.2f} is below the "
                f"override's minimum {floor:.2f}"
            )
        factor = self.value(SIZE_MULTIPLIER)
        if factor == 1.0:
            return req, ""
        lots = math.floor(req.qty * factor / lot_size + 1e-9)
        qty = round(lots * lot_size, 10)
        if qty <= 0:
            return None, (
                f"{req.side} {req.symbol} skipped: {req.qty:g} x {factor:g} is less than one lot"
            )
        return dataclasses.replace(req, qty=qty), ""


def set_override(
    safety: SafetyManager,
    audit: Audit,
    *,
    name: str,
    value: float | int,
    expires_ts: float | None,
    actor: str,
    reason: str,
    now: float,
) -> Override:
    """Put an override in force (a limit is replaced in the gateway's limits); audited."""
    replaced = safety.overrides.get(name)
    if name in NEUTRAL:
        current: float | int = safety.overrides.value(name)
    else:
        current = safety.override_limit(name, value)
    # Replacing an override keeps what was in force before the first: that is what returns.
    previous = replaced.previous if replaced is not None else current
    override = Override(name, value, previous, actor, reason, now, expires_ts)
    safety.overrides.put(override)
    audit(
        actor,
        "risk_override",
        reason=reason,
        outcome=f"{name}={value:g}",
        details={
            "name": name,
            "old": current,
            "new": value,
            "expires_ts": expires_ts,
            "reverts_to": previous,
        },
    )
    return override


def end_override(
    safety: SafetyManager, audit: Audit, bus: EventBus, override: Override, actor: str, why: str
) -> None:
    """Restore what was in force before `override` (already removed); audited and announced."""
    if override.name not in NEUTRAL:
        safety.override_limit(override.name, override.previous)
    audit(
        actor,
        f"risk_override_{why}",
        reason=f"{override.name} override {why}",
        outcome=f"{override.name}={override.previous:g}",
        details={"name": override.name, "was": override.value, "now": override.previous},
    )
    bus.publish(
        "system",
        {
            "message": f"risk override {why}: {override.name} back to {override.previous:g} "
            f"(was {override.value:g}, set by {override.actor})"
        },
    )


def expire_overrides(safety: SafetyManager, audit: Audit, bus: EventBus, now: float) -> bool:
    """End every override whose time is up (engine clock); True when one ended."""
    ended = safety.overrides.due(now)
    for override in ended:
        end_override(safety, audit, bus, override, "system:clock", "expired")
    return bool(ended)
