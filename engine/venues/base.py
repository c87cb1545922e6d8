"""The venue seam: what the engine asks of a broker and a market feed, and what they report.

A venue never writes engine state. It reports through a `VenueSink` (thread-safe: the runtime
puts each event on the engine's queue, above market data and below operator commands), and the
engine thread applies the events. Every method below may be called only from the engine thread
unless it says otherwise; a method that talks to a remote venue must return within its own
timeout and raise `VenueError` rather than hang.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from engine.models import (
    BarEvent,
    Fill,
    Instrument,
    Order,
    OrderBook,
    Quote,
    TradeTick,
    VixUpdate,
)


class VenueError(RuntimeError):
    """The venue could not be reached or did not answer in time (a fault, not a refusal)."""


class OrderEventKind(StrEnum):
    """What a venue says happened to one order; the desk's state machine consumes these."""

    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True)
class OrderEvent:
    """One order update from the venue. `order_id` is Vigil's id (the venue carries it as its
    client order id); `venue_order_id` is the venue's own. A fill event carries this
    execution in `fill` (its qty is this execution's, not the cumulative)."""

    kind: OrderEventKind
    order_id: str
    venue_order_id: str
    symbol: str
    ts: float
    fill: Fill | None = None
    reason: str = ""
    # An order the venue created on its own (a bracket's stop-loss / take-profit child, or an
    # order placed outside Vigil) arrives with its full description on ACCEPTED.
    order: Order | None = None


@dataclass(frozen=True)
class VenueAccount:
    """The account as the venue reports it."""

    account_id: str
    cash: float
    equity: float
    buying_power: float
    currency: str = "USD"
    mode: str = "paper"  # "paper" or "live"


@dataclass(frozen=True)
class AccountEvent:
    """The venue's account changed (cash, equity, buying power)."""

    account: VenueAccount
    ts: float


@dataclass(frozen=True)
class VenuePosition:
    """A position as the venue holds it: signed quantity, positive long."""

    symbol: str
    qty: float
    avg_price: float
    multiplier: float = 1.0


@dataclass(frozen=True)
class CancelOutcome:
    """The venue's answer to one cancel request; `ok` False names why in `reason`."""

    order_id: str
    ok: bool
    status: str
    reason: str = ""


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"
    STALE = "stale"
    ENDED = "ended"  # a replay that has played out


@dataclass(frozen=True)
class ConnectionEvent:
    """A broker's or a feed's connection changed; the page shows it, always visible."""

    source: str  # "broker" or "feed"
    venue: str  # the registry name: "paper", "sim", "replay", "alpaca", ...
    state: ConnectionState
    ts: float
    attempt: int = 0
    message: str = ""
    # The venue cannot trade on safely (its keys were refused): the engine halts, naming why.
    halt: bool = False


VenueEvent = OrderEvent | AccountEvent | ConnectionEvent
MarketEvent = Quote | TradeTick | OrderBook | BarEvent | VixUpdate
VenueSink = Callable[[VenueEvent], None]
MarketSink = Callable[[MarketEvent | ConnectionEvent], None]


@runtime_checkable
class Broker(Protocol):
    """An account at a venue: orders go out, order updates and account changes come back."""

    name: str

    def start(self, sink: VenueSink) -> None:
        """Connect and from now on report order updates and account changes to `sink`."""

    def stop(self) -> None:
        """Disconnect and stop every thread the broker started; pending events may be lost."""

    def account(self) -> VenueAccount:
        """The account as the venue reports it now."""

    def positions(self) -> list[VenuePosition]:
        """Every open position the venue holds for the account."""

    def open_orders(self) -> list[Order]:
        """Every order the venue holds open, with Vigil's id where the venue carries it."""

    def fills_since(self, ts: float) -> list[Fill]:
        """Every execution at or after `ts`, for reconciliation (fills the store missed)."""

    def submit(self, order: Order) -> None:
        """Send a new order; its fate arrives later as OrderEvents (ACCEPTED, then fills, or
        REJECTED). Raises VenueError only when the order could not be sent at all."""

    def cancel(self, order_id: str) -> CancelOutcome:
        """Ask the venue to cancel one order; the CANCELED event confirms it."""

    def cancel_all(self) -> list[CancelOutcome]:
        """Ask the venue to cancel every open order; one outcome per order, failures named."""

    def close_position(self, symbol: str, qty: float | None = None) -> Order | None:
        """Send a reduce-only market order closing `qty` (default all) of `symbol`; the order
        sent, or None when the venue holds no position."""

    def replace_stops(
        self, symbol: str, stop_loss: float | None, take_profit: float | None
    ) -> list[Order]:
        """Move the stop-loss / take-profit orders protecting `symbol`; the orders changed."""

    def on_market(self, event: MarketEvent) -> None:
        """Market data as the engine sees it (a paper venue matches against it; a real venue
        ignores it)."""


@runtime_checkable
class MarketFeed(Protocol):
    """Market data for a set of instruments: live events, history for the charts, its state."""

    name: str

    @property
    def instruments(self) -> dict[str, Instrument]:
        """The instruments this feed serves (VIGIL_SYMBOLS chooses them)."""

    def subscribe(self, symbols: Sequence[str]) -> None:
        """From now on deliver market data of these symbols only (VIX and connection events
        always pass); a symbol the feed cannot serve raises VenueError naming it."""

    def start(self, sink: MarketSink) -> None:
        """Begin delivering quotes, trades, books, bars and VIX (or a proxy) to `sink`."""

    def stop(self) -> None:
        """Stop delivering and stop every thread the feed started."""

    def history(self, end: float, seconds: float) -> Sequence[TradeTick | BarEvent | VixUpdate]:
        """Recorded (or simulated) market before `end`, oldest first, to preload the charts."""

    def connection(self) -> ConnectionEvent:
        """The feed's connection state now."""


@dataclass
class VenueRecord:
    """What a venue reports about itself, for reconciliation (see engine/trading/reconcile)."""

    positions: list[VenuePosition] = field(default_factory=list)
    open_orders: list[Order] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
