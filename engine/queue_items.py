"""What the engine's input queue holds: its items, their kinds and the order they are taken in."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

# Operator commands first, then what the venue reports about our orders (never dropped), then
# market data (conflatable, dropped under backlog); a barrier waits for everything before it.
COMMAND_PRIORITY, VENUE_PRIORITY, MARKET_PRIORITY, BARRIER_PRIORITY = 0, 1, 2, 3


@dataclass(order=True)
class Item:
    priority: int
    seq: int  # ties keep arrival order
    body: Any = field(compare=False)


@dataclass
class Call:
    """An operator command and the future its caller waits on."""

    name: str
    command: Any
    actor: str
    future: Future[dict[str, Any]]


@dataclass
class Internal:
    """The runtime's own work on the engine thread (e.g. stopping the strategies at a stop)."""

    work: Any  # Callable[[], None]
    future: Future[bool]


@dataclass
class Barrier:
    """Resolves once the engine reaches it: everything queued before it has been handled."""

    future: Future[bool]
