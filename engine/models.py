"""Plain data types shared by every part of the engine: market data, orders, fills, positions."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"


class OrderStatus(StrEnum):
    """new = sent, not yet confirmed by the venue; accepted = the venue holds it."""

    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)


class TradingState(StrEnum):
    """NautilusTrader's trading states: REDUCING admits only position-reducing orders."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class KillLevel(StrEnum):
    PAUSE = "pause"
    HALT = "halt"
    FLATTEN = "flatten"


class Health(StrEnum):
    OK = "OK"
    DEGRADED = "DEGRADED"
    ERROR = "ERROR"


class Regime(StrEnum):
    ULTRA_LOW_VOL = "ULTRA_LOW_VOL"
    NORMAL_VOL = "NORMAL_VOL"
    HIGH_VOL = "HIGH_VOL"


class AssetClass(StrEnum):
    EQUITY = "equity"
    CRYPTO = "crypto"
    OPTION = "option"


@dataclass(frozen=True)
class Instrument:
    symbol: str
    asset_class: AssetClass
    multiplier: float = 1.0
    tick_size: float = 0.01
    lot_size: float = 1.0


@dataclass(frozen=True)
class Quote:
    symbol: str
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    ts: float  # epoch seconds

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True)
class TradeTick:
    symbol: str
    price: float
    size: float
    aggressor: Side
    ts: float


@dataclass(frozen=True)
class BookLevel:
    price: float
    size: float


@dataclass(frozen=True)
class OrderBook:
    """Best level first on both sides: bids descending, asks ascending."""

    symbol: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    ts: float


@dataclass(frozen=True)
class BarEvent:
    """A provider's OHLCV bar; `ts` is the bar's open (epoch s). Only "1m" is accepted today:
    the market view takes it as the authority for that minute and rebuilds the longer
    timeframes from their 1m bars. `closed` False: the provider may still revise it."""

    symbol: str
    ts: float
    open: float
    high: float
    low: float
    close: float
    volume: float
    closed: bool = True
    timeframe: str = "1m"


@dataclass(frozen=True)
class VixUpdate:
    """The regime's volatility reading; `source` says what it is ("VIX", or a feed's stand-in
    such as engine/market/vol_proxy.py's "realized-vol proxy"), and the page shows it."""

    value: float
    ts: float
    source: str = "VIX"


@dataclass(frozen=True)
class OrderRequest:
    """What a strategy, a signal or an operator asks for; the safety gateway sees exactly this."""

    symbol: str
    side: Side
    qty: float
    type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = None
    take_profit: float | None = None
    stop_loss: float | None = None
    reduce_only: bool = False
    source: str = "strategy"
    tag: str = ""


@dataclass
class Order:
    id: str
    symbol: str
    side: Side
    qty: float
    type: OrderType
    status: OrderStatus
    created_ts: float
    updated_ts: float
    limit_price: float | None = None
    stop_price: float | None = None
    take_profit: float | None = None
    stop_loss: float | None = None
    reduce_only: bool = False
    source: str = "strategy"
    tag: str = ""
    parent_id: str | None = None
    oco_id: str | None = None
    filled_qty: float = 0.0
    avg_fill_price: float = 0.0
    reject_reason: str = ""
    venue_order_id: str = ""  # the venue's own id; `id` is Vigil's (the client order id)

    @property
    def remaining(self) -> float:
        return max(self.qty - self.filled_qty, 0.0)

    @classmethod
    def from_request(cls, order_id: str, req: OrderRequest, now: float) -> Order:
        """A new order carrying exactly what was asked for, stamped `now`."""
        return cls(
            id=order_id,
            symbol=req.symbol,
            side=req.side,
            qty=req.qty,
            type=req.type,
            status=OrderStatus.NEW,
            created_ts=now,
            updated_ts=now,
            limit_price=req.limit_price,
            stop_price=req.stop_price,
            take_profit=req.take_profit,
            stop_loss=req.stop_loss,
            reduce_only=req.reduce_only,
            source=req.source,
            tag=req.tag,
        )

    def exit_orders(self, qty: float, now: float) -> list[tuple[Order, str]]:
        """This bracket's exits for `qty` filled: a STOP at its stop-loss and a LIMIT at its
        take-profit (one cancels the other when both exist), each with its kind ("SL" / "TP").
        The caller names them (`id` is left empty)."""
        legs: list[tuple[str, OrderType, float | None, float | None]] = []
        if self.stop_loss is not None:
            legs.append(("SL", OrderType.STOP, None, self.stop_loss))
        if self.take_profit is not None:
            legs.append(("TP", OrderType.LIMIT, self.take_profit, None))
        oco_id = f"OCO-{self.id}" if len(legs) > 1 else None
        return [
            (
                Order(
                    id="",
                    symbol=self.symbol,
                    side=self.side.opposite,
                    qty=qty,
                    type=type_,
                    status=OrderStatus.NEW,
                    created_ts=now,
                    updated_ts=now,
                    limit_price=limit,
                    stop_price=stop,
                    reduce_only=True,
                    source=self.source,
                    tag=self.tag,
                    parent_id=self.id,
                    oco_id=oco_id,
                ),
                kind,
            )
            for kind, type_, limit, stop in legs
        ]


@dataclass(frozen=True)
class Fill:
    order_id: str
    symbol: str
    side: Side
    qty: float
    price: float
    fee: float
    ts: float
    id: str = ""


@dataclass
class Position:
    """Signed quantity: positive long, negative short."""

    symbol: str
    qty: float = 0.0
    avg_price: float = 0.0
    multiplier: float = 1.0
    realized_pnl: float = 0.0
    fees: float = 0.0
    last_price: float | None = None
    opened_ts: float = 0.0
    stop_loss: float | None = None
    take_profit: float | None = None

    @property
    def unrealized_pnl(self) -> float:
        if self.last_price is None or self.qty == 0:
            return 0.0
        return (self.last_price - self.avg_price) * self.qty * self.multiplier

    @property
    def market_value(self) -> float:
        price = self.last_price if self.last_price is not None else self.avg_price
        return price * self.qty * self.multiplier


@dataclass(frozen=True)
class ClosedTrade:
    """One round trip (or the closed part of one): pnl is net of the fees of both legs."""

    symbol: str
    direction: str  # "long" or "short"
    qty: float
    entry_price: float
    exit_price: float
    pnl: float
    fees: float
    entry_ts: float
    exit_ts: float
    id: str = ""
    # Why it closed: one of EXIT_REASONS (engine/trading/exits.py); "" for trades stored
    # before the reason was recorded.
    exit_reason: str = ""


@dataclass(frozen=True)
class Signal:
    symbol: str
    side: Side
    confidence: float  # 0..1
    reason: str
    price: float
    ts: float
    is_exit: bool = False
    details: dict[str, float] = field(default_factory=dict)
