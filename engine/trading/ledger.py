"""Position accounting: turns fills into signed positions, cash, realized P&L and closed trades."""

from __future__ import annotations

import dataclasses

from engine.models import ClosedTrade, Fill, Instrument, Position

_DUST = 1e-9


class Ledger:
    """The account as the fills say it is; the runtime feeds it every fill, in order.

    Identity kept at all times: ``equity == starting_cash + realized_pnl + unrealized_pnl``.
    That is why `realized_pnl` is net of every fee paid, including the entry fees of positions
    still open, while each ClosedTrade carries only the fees of the quantity it closed.
    Replaying the same fills into a fresh Ledger rebuilds the same state and trade ids.
    """

    def __init__(self, instruments: dict[str, Instrument], starting_cash: float) -> None:
        self._instruments = dict(instruments)
        self.starting_cash = starting_cash
        self._cash = starting_cash
        self._positions: dict[str, Position] = {}
        # Entry fees not yet charged to a closed trade, so a partial close takes its share.
        self._entry_fees: dict[str, float] = {}
        self._marks: dict[str, float] = {}
        self._gross_realized = 0.0
        self._fees = 0.0
        self._trade_seq = 0

    def apply(self, fill: Fill) -> list[ClosedTrade]:
        if fill.qty <= 0:
            raise ValueError(f"fill {fill.id or fill.order_id}: quantity must be positive")
        instrument = self._instruments.get(fill.symbol)
        if instrument is None:
            # A guessed multiplier would silently misstate P&L by 100x on an option.
            raise ValueError(f"fill for unknown instrument {fill.symbol!r}")
        multiplier = instrument.multiplier
        self._cash -= fill.side.sign * fill.qty * fill.price * multiplier + fill.fee
        self._fees += fill.fee
        signed = fill.side.sign * fill.qty

        position = self._positions.get(fill.symbol)
        if position is None:
            self._open(fill.symbol, signed, fill.price, fill.fee, fill.ts, multiplier)
            return []
        if position.qty * signed > 0:
            new_qty = position.qty + signed
            position.avg_price = (
                abs(position.qty) * position.avg_price + fill.qty * fill.price
            ) / abs(new_qty)
            position.qty = new_qty
            position.fees += fill.fee
            self._entry_fees[fill.symbol] += fill.fee
            return []
        return [self._reduce(position, fill, multiplier)]

    def _reduce(self, position: Position, fill: Fill, multiplier: float) -> ClosedTrade:
        symbol = fill.symbol
        held = abs(position.qty)
        closed = min(held, fill.qty)
        direction = 1 if position.qty > 0 else -1
        exit_fee = fill.fee * closed / fill.qty
        entry_fee = self._entry_fees[symbol] * closed / held
        gross = (fill.price - position.avg_price) * closed * multiplier * direction
        net = gross - exit_fee - entry_fee
        self._gross_realized += gross
        self._trade_seq += 1
        trade = ClosedTrade(
            symbol=symbol,
            direction="long" if direction > 0 else "short",
            qty=closed,
            entry_price=position.avg_price,
            exit_price=fill.price,
            pnl=net,
            fees=exit_fee + entry_fee,
            entry_ts=position.opened_ts,
            exit_ts=fill.ts,
            id=f"T-{self._trade_seq}",
        )
        position.realized_pnl += net
        position.fees += exit_fee
        self._entry_fees[symbol] -= entry_fee
        remaining_qty = position.qty - direction * closed
        if abs(remaining_qty) >= _DUST:
            position.qty = remaining_qty
            return trade
        del self._positions[symbol]
        del self._entry_fees[symbol]
        flip_qty = fill.qty - closed
        if flip_qty >= _DUST:
            self._open(
                symbol,
                fill.side.sign * flip_qty,
                fill.price,
                fill.fee - exit_fee,
                fill.ts,
                multiplier,
            )
        return trade

    def _open(
        self,
        symbol: str,
        signed_qty: float,
        price: float,
        fee: float,
        ts: float,
        multiplier: float,
    ) -> None:
        if abs(signed_qty) < _DUST:
            return
        self._positions[symbol] = Position(
            symbol=symbol,
            qty=signed_qty,
            avg_price=price,
            multiplier=multiplier,
            fees=fee,
            last_price=self._marks.get(symbol),
            opened_ts=ts,
        )
        self._entry_fees[symbol] = fee

    def mark(self, symbol: str, price: float) -> None:
        self._marks[symbol] = price
        position = self._positions.get(symbol)
        if position is not None:
            position.last_price = price

    def set_stops(
        self, symbol: str, stop_loss: float | None, take_profit: float | None
    ) -> Position | None:
        """Record the protective levels shown with a position; None when flat."""
        position = self._positions.get(symbol)
        if position is None:
            return None
        position.stop_loss = stop_loss
        position.take_profit = take_profit
        return dataclasses.replace(position)

    def positions(self) -> dict[str, Position]:
        """Copies: the ledger stays the only writer of its positions."""
        return {s: dataclasses.replace(p) for s, p in self._positions.items()}

    def position(self, symbol: str) -> Position | None:
        position = self._positions.get(symbol)
        return dataclasses.replace(position) if position is not None else None

    def last_price(self, symbol: str) -> float | None:
        return self._marks.get(symbol)

    @property
    def cash(self) -> float:
        return self._cash

    @property
    def realized_pnl(self) -> float:
        return self._gross_realized - self._fees

    @property
    def fees(self) -> float:
        return self._fees

    @property
    def unrealized_pnl(self) -> float:
        return sum(p.unrealized_pnl for p in self._positions.values())

    @property
    def equity(self) -> float:
        return self._cash + sum(p.market_value for p in self._positions.values())

    @property
    def open_position_count(self) -> int:
        return len(self._positions)
